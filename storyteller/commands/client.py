"""Commands against a running service, through its HTTP API: submit, status, what users
do to a job (retry, cancel, write again, delete) and to a video's story versions."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from typing import Annotated, Any

import httpx
import typer

from storyteller.commands.common import RULE, Files, ModelOption, echo, load_settings
from storyteller.tellers.registry import teller_names

Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="The service's address (default: http://127.0.0.1:PORT).",
        show_default=False,
    ),
]

ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="STORYTELLER_API_KEY",
        help="An API key (`storyteller keys create NAME`), when the service asks for one.",
        show_default=False,
    ),
]

ENDED = ("completed", "failed")


class Client:
    """The service's API as the commands use it: refusals and an unreachable server
    become a message and an exit status, never a traceback."""

    def __init__(self, server: str | None, api_key: str | None = None) -> None:
        self.url = (server or f"http://127.0.0.1:{load_settings().port}").rstrip("/")
        headers = {"Authorization": f"Bearer {api_key.strip()}"} if api_key else {}
        # Uploads of large videos may take a while; only connecting has a short limit.
        self.http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(300.0, connect=5.0),
            follow_redirects=True,
            headers=headers,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def fetch(self, method: str, path: str, **options: object) -> httpx.Response:
        """The answer, when the server gave one that is not an error."""
        try:
            answer = self.http.request(method, path, **options)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            echo(
                f"storyteller: cannot reach the server at {self.url} ({exc or type(exc).__name__}); "
                "is it running? Start one with `storyteller serve` or give --server.",
                err=True,
            )
            raise typer.Exit(2) from exc
        if answer.status_code >= 400:
            try:
                body = answer.json()
            except ValueError:
                body = None
            reason = body.get("error") if isinstance(body, dict) else None
            reason = reason or answer.text.strip() or answer.reason_phrase
            if answer.status_code == 401:
                reason += " (give --api-key or set STORYTELLER_API_KEY)"
            echo(f"storyteller: {reason} ({answer.status_code})", err=True)
            raise typer.Exit(1)
        return answer

    def call(self, method: str, path: str, **options: object) -> dict[str, Any]:
        answer = self.fetch(method, path, **options)
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            echo(f"storyteller: {self.url} does not answer as Video Storyteller", err=True)
            raise typer.Exit(1)
        return body


def video_line(video: dict[str, Any]) -> str:
    status = video.get("statusDetail") or video["status"]
    name = video.get("originalName") or video.get("name")
    line = f"  {video['id']}  {status:<10}  {name}"
    if status == "processing" and video.get("stage"):
        line += f"  ({video['stage']}, {round(100 * float(video.get('progress') or 0))}%)"
    if video.get("error") and video["status"] == "failed":
        line += f"  — {video['error']}"
    return line


def print_job(job: dict[str, Any]) -> None:
    ended = sum(video["status"] in ENDED for video in job["videos"])
    echo(f"job {job['id']}: {job['status']}, {ended} of {len(job['videos'])} videos ended")
    for video in job["videos"]:
        echo(video_line(video))


def print_stories(job: dict[str, Any]) -> None:
    for index, video in enumerate(job["videos"]):
        if index:
            echo(f"\n{RULE}\n")
        if video["status"] == "completed" and video.get("story"):
            echo(video["story"])
        else:
            echo(f"{video['originalName']}: failed: {video.get('error')}")


def wait_for(client: Client, job_id: str, every: float) -> dict[str, Any]:
    """Poll the job, as the original front end does, until every video has ended."""

    last = ""
    while True:
        job = client.call("GET", f"/api/job/{job_id}")
        ended = sum(video["status"] in ENDED for video in job["videos"])
        note = f"{ended} of {len(job['videos'])} videos ended"
        if note != last:
            echo(f"job {job_id}: {note}", err=True)
            last = note
        if ended == len(job["videos"]):
            return job
        time.sleep(every)


def submit(
    files: Files,
    server: Server = None,
    priority: Annotated[
        str | None, typer.Option(help="high, normal or low (default: normal).")
    ] = None,
    teller: Annotated[
        str | None, typer.Option(help=f"Teller to write with: {', '.join(teller_names())}.")
    ] = None,
    model: ModelOption = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until every video has ended; print the stories.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the server's answer as JSON.")
    ] = False,
    every: Annotated[
        float, typer.Option(min=0.1, help="With --wait, seconds between two looks.")
    ] = 2.0,
    api_key: ApiKeyOption = None,
) -> None:
    """Upload videos to a running service as one job and print its id and videos.

    Exits 0 when every video was accepted (with --wait: completed).

    Exits 1 when the server refused the upload or a video failed.

    Exits 2 when the server is not reachable."""

    chosen = (("priority", priority), ("teller", teller), ("model", model))
    form = {key: value for key, value in chosen if value}
    with Client(server, api_key) as client, ExitStack() as opened:
        # Open files are streamed by httpx a chunk at a time, never read whole.
        fields = [
            (
                "videos",
                (path.name, opened.enter_context(path.open("rb")), "application/octet-stream"),
            )
            for path in files
        ]
        upload = client.call("POST", "/api/upload", files=fields, data=form)
        if not wait:
            if as_json:
                echo(json.dumps(upload, ensure_ascii=False))
            else:
                echo(f"job {upload['jobId']}: {upload['message']}")
                for video in upload["videos"]:
                    echo(video_line(video))
            failed = [video for video in upload["videos"] if video["status"] == "failed"]
            raise typer.Exit(1 if failed else 0)
        if not as_json:
            echo(f"job {upload['jobId']}: {upload['message']}", err=True)
        job = wait_for(client, upload["jobId"], every)
    if as_json:
        echo(json.dumps(job, ensure_ascii=False))
    else:
        print_stories(job)
    failed = [video for video in job["videos"] if video["status"] != "completed"]
    if failed and not as_json:
        echo(f"\n{len(failed)} of {len(job['videos'])} videos failed.", err=True)
    raise typer.Exit(1 if failed else 0)


def status(
    job_id: Annotated[str, typer.Argument(help="The job id `submit` printed.", show_default=False)],
    server: Server = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the server's answer as JSON.")
    ] = False,
    stories: Annotated[
        bool, typer.Option("--stories", help="Print the stories written so far.")
    ] = False,
    api_key: ApiKeyOption = None,
) -> None:
    """Show a job on a running service: its state and each video's."""
    with Client(server, api_key) as client:
        job = client.call("GET", f"/api/job/{job_id}")
    if as_json:
        echo(json.dumps(job, ensure_ascii=False))
    elif stories:
        print_stories(job)
    else:
        print_job(job)


# --- what users do to a job ---------------------------------------------------------

VideoOption = Annotated[
    str | None,
    typer.Option("--video", help="Only this video of the job (its id).", show_default=False),
]
JobArgument = Annotated[str, typer.Argument(help="The job's id.", show_default=False)]


def _act(
    server: str | None, api_key: str | None, path: str, body: dict[str, Any] | None = None
) -> None:
    """POST an action and say what it did: a job's message, or the video's new state."""
    with Client(server, api_key) as client:
        answer = client.call("POST", path, json=body)
    if "message" in answer:
        echo(f"job {answer['jobId']}: {answer['message']}")
    else:
        echo(video_line(answer))


def retry(
    job_id: JobArgument,
    video: VideoOption = None,
    server: Server = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Queue a job's failed and cancelled videos again (or one video), with fresh attempts.

    Exits 1 when the service refused (no such job, or a video that has not failed)."""
    _act(
        server,
        api_key,
        f"/api/job/{job_id}/video/{video}/retry" if video else f"/api/job/{job_id}/retry",
    )


def cancel(
    job_id: JobArgument,
    video: VideoOption = None,
    server: Server = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Cancel what has not ended in a job (or one video); a running video stops within a
    second or two.

    Exits 1 when the service refused (no such job, or a video that has already ended)."""
    _act(
        server,
        api_key,
        f"/api/job/{job_id}/video/{video}/cancel" if video else f"/api/job/{job_id}/cancel",
    )


def regenerate(
    job_id: JobArgument,
    video: Annotated[str, typer.Argument(help="The video's id.", show_default=False)],
    teller: Annotated[
        str | None, typer.Option(help=f"Another teller: {', '.join(teller_names())}.")
    ] = None,
    model: ModelOption = None,
    seed: Annotated[
        int | None, typer.Option(min=0, help="The seed (default: a new random one).")
    ] = None,
    server: Server = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Write a completed video's story again, as a new version (the current one stays until
    the new one is written).

    Exits 1 when the service refused (no such video, or one without a story yet)."""
    chosen = {"teller": teller, "model": model, "seed": seed}
    body = {key: value for key, value in chosen.items() if value is not None}
    _act(server, api_key, f"/api/job/{job_id}/video/{video}/regenerate", body)


def delete(job_id: JobArgument, server: Server = None, api_key: ApiKeyOption = None) -> None:
    """Delete a job: stop what runs, then delete its videos, stories and the stored files
    no other job uses.

    Exits 1 when there is no such job."""
    with Client(server, api_key) as client:
        answer = client.call("DELETE", f"/api/job/{job_id}")
    echo(f"job {answer['jobId']}: {answer['message']}")


# --- a video's story versions -------------------------------------------------------

story = typer.Typer(
    help="A video's story versions: list them, choose the current one.", no_args_is_help=True
)
VideoArgument = Annotated[str, typer.Argument(help="The video's id.", show_default=False)]


def _version_line(version: dict[str, Any]) -> str:
    mark = "*" if version.get("current") else " "
    wrote = version["teller"] + (f" ({version['model']})" if version.get("model") else "")
    return f"{mark} v{version['version']}  {wrote}, seed {version['seed']}  {version['title']}"


@story.command("versions")
def story_versions(
    video: VideoArgument,
    server: Server = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the versions as JSON.")] = False,
    api_key: ApiKeyOption = None,
) -> None:
    """List a video's story versions, oldest first; `*` marks the current one (the one
    shown, copied, exported and sent)."""
    with Client(server, api_key) as client:
        record = client.call("GET", f"/api/videos/{video}")
    versions = record.get("stories") or []
    if as_json:
        echo(json.dumps(versions, ensure_ascii=False))
    elif not versions:
        echo(f"{record['originalName']} has no story yet ({record['statusDetail']})")
    else:
        for version in versions:
            echo(_version_line(version))


@story.command("use")
def story_use(
    video: VideoArgument,
    version: Annotated[int, typer.Argument(min=1, help="The version to make current.")],
    server: Server = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Make one of a video's story versions the current one (writing the story again
    later makes the new version current).

    Exits 1 when the service refused (no such video or version, or no story yet)."""
    with Client(server, api_key) as client:
        record = client.call("POST", f"/api/videos/{video}/stories/{version}/current")
    echo(f"{record['originalName']}: story version {version} is now current")
