"""The `storyteller` command: a thin layer over the library for everything the page does."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError

from storyteller import __version__
from storyteller.config import Settings
from storyteller.pipeline.run import OverallProgress, StageFailed, gather_evidence
from storyteller.pipeline.stage import Progress, VideoRejected, no_progress
from storyteller.tellers.registry import has_models, teller_names, with_model
from storyteller.telling import Telling, tell_video

app = typer.Typer(
    name="storyteller",
    help="Turn videos into short, grounded, news-style stories.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RULE = "─" * 72

Files = Annotated[
    list[Path],
    typer.Argument(
        exists=True, dir_okay=False, readable=True, help="Video files.", show_default=False
    ),
]


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # (pydantic prefixes what our validators say with "Value error, ")
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        typer.echo(f"storyteller: bad setting: {problems}", err=True)
        raise typer.Exit(2) from exc


@contextmanager
def _progress_bar(label: str) -> Iterator[Progress]:
    """A progress bar on a terminal; nothing when stderr is a file or a pipe."""
    if not sys.stderr.isatty():
        yield no_progress
        return
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    lock = threading.Lock()
    with Bar(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[stage]}"), TimeElapsedColumn(), transient=True,
        console=Console(stderr=True),
    ) as bar:  # fmt: skip
        task = bar.add_task(label, total=1.0, stage="")

        def report(fraction: float, stage: str) -> None:
            with lock:
                bar.update(task, completed=fraction, stage=stage)

        yield OverallProgress(report)


ModelOption = Annotated[
    str | None,
    typer.Option(help="The AI teller's model (default: its configured one, e.g. GEMINI_MODEL)."),
]


def _choose_teller(settings: Settings, teller: str | None, model: str | None) -> Settings:
    """Settings for writing with `teller` (and `model`, if given); exits 2 on a bad choice."""
    name = teller or settings.default_teller
    problem = None
    if name not in teller_names():
        problem = f"unknown teller {name!r}; choose one of: {', '.join(teller_names())}"
    elif model and not has_models(name):
        problem = f"the {name} teller has no models to choose from"
    if problem:
        typer.echo(f"storyteller: {problem}", err=True)
        raise typer.Exit(2)
    return with_model(settings, name, model) if model else settings


def _tell_one(path: Path, settings: Settings, teller: str | None, seed: int) -> Telling:
    return tell_video(path, settings, teller_name=teller, seed=seed)


def _print_telling(result: Telling, as_json: bool, first: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False))
        return
    if not first:
        typer.echo(f"\n{RULE}\n")
    if result.story:
        typer.echo(result.story.text)
    else:
        typer.echo(f"{result.file}: failed: {result.error}")


@app.command()
def tell(
    files: Files,
    teller: Annotated[
        str | None, typer.Option(help=f"Teller to write with: {', '.join(teller_names())}.")
    ] = None,
    model: ModelOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line per file.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Ask for another version of the same story.")] = 0,
    concurrency: Annotated[int, typer.Option(min=1, help="Videos analysed at once.")] = 1,
) -> None:
    """Watch and listen to each video and print its story."""
    settings = _choose_teller(_settings(), teller, model)
    results: list[Telling] = []
    if concurrency == 1 or len(files) == 1:
        for index, path in enumerate(files):
            with _progress_bar(path.name) as progress:
                result = tell_video(
                    path, settings, teller_name=teller, seed=seed, progress=progress
                )
            _print_telling(result, as_json, first=index == 0)
            results.append(result)
    else:
        # Each worker gets its share of the cores for speech, so N workers do not fight.
        cores = os.cpu_count() or 1
        if not settings.whisper_threads:
            settings = settings.model_copy(update={"whisper_threads": max(1, cores // concurrency)})
        with ProcessPoolExecutor(max_workers=concurrency, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_tell_one, path, settings, teller, seed) for path in files]
            for index, future in enumerate(futures):  # printed in the order given
                result = future.result()
                _print_telling(result, as_json, first=index == 0)
                results.append(result)
    failed = [r for r in results if r.status != "completed"]
    if failed and not as_json:
        typer.echo(f"\n{len(failed)} of {len(results)} videos failed.", err=True)
    raise typer.Exit(1 if failed else 0)


@app.command()
def evidence(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A video file.")
    ],
) -> None:
    """Print what the pipeline saw and heard in a video, as JSON."""
    settings = _settings()
    try:
        with _progress_bar(file.name) as progress:
            found = gather_evidence(file, settings, progress=progress)
    except (VideoRejected, StageFailed) as exc:
        typer.echo(f"storyteller: {exc.reason}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(found.model_dump_json(indent=2))


def _check_storage(settings: Settings) -> None:
    """Stop at once, with what to fix, when the video storage cannot be used."""
    from storyteller.storage.objects import StorageError, video_store

    try:
        video_store(settings).check()
    except StorageError as exc:
        typer.echo(f"storyteller: the video storage cannot be used: {exc.reason}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: the PORT setting).")] = None,
) -> None:
    """Start the web service with its job engine (what `make run` calls)."""
    import uvicorn

    from storyteller.app import create_app

    settings = _settings()
    port = port or settings.port
    _check_storage(settings)
    typer.echo(
        f"Video Storyteller on http://{host}:{port} (API docs at /docs); "
        f"data in {settings.data_dir}",
        err=True,
    )
    # Live-update streams never end by themselves: on SIGTERM they get a few seconds,
    # then they are closed and the engine stops (browsers reconnect to the next server).
    uvicorn.run(
        create_app(settings), host=host, port=port, log_level="info", timeout_graceful_shutdown=5
    )


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Videos at once (default: the MAX_CONCURRENT_JOBS setting)."),
    ] = None,
    health_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Answer GET /health on this port (0: any free one)."),
    ] = None,
    health_host: Annotated[
        str, typer.Option(help="Address the health endpoint listens on.")
    ] = "127.0.0.1",
    queue: Annotated[
        list[str] | None,
        typer.Option(
            metavar="PRIORITY",
            help="Take only videos of this priority: high, normal or low (repeat, or"
            " comma-separate, for several; default: all). E.g. keep a worker for high.",
        ),
    ] = None,
    job: Annotated[
        str | None, typer.Option(hidden=True, help="Job function as module:function (tests).")
    ] = None,
) -> None:
    """Process videos from the shared queue, without a web server, until SIGTERM or Ctrl-C.

    Run any number, on any machines, beside web processes started with
    STORYTELLER_JOB_ENGINE=workers, all on one PostgreSQL (STORYTELLER_DATABASE_URL)."""
    import logging

    from sqlalchemy.exc import OperationalError

    from storyteller.db.migrate import MigrationError
    from storyteller.jobs.priorities import parse_queues
    from storyteller.jobs.work import DEFAULT_JOB
    from storyteller.jobs.worker import Worker, WorkerRefused

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        queues = parse_queues(queue or [])
    except ValueError as exc:
        typer.echo(f"storyteller: --queue: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        process = Worker(
            _settings(), concurrency=concurrency, job=job or DEFAULT_JOB, queues=queues
        )
    except WorkerRefused as exc:
        typer.echo(f"storyteller: {exc.reason}", err=True)
        raise typer.Exit(2) from exc
    process.stop_on_signals()
    try:
        supervised = process.run(health_port=health_port, health_host=health_host)
    except WorkerRefused as exc:
        typer.echo(f"storyteller: {exc.reason}", err=True)
        raise typer.Exit(2) from exc
    except MigrationError as exc:
        typer.echo(f"storyteller: {exc.reason}", err=True)
        raise typer.Exit(1) from exc
    except OperationalError as exc:
        typer.echo(f"storyteller: cannot use the database: {exc.orig or exc}", err=True)
        raise typer.Exit(1) from exc
    raise typer.Exit(0 if supervised else 1)


# --- against a running server -------------------------------------------------

Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="The service's address (default: http://127.0.0.1:PORT).",
        show_default=False,
    ),
]

ENDED = ("completed", "failed")


class _Client:
    """The service's API as the commands use it: refusals and an unreachable server
    become a message and an exit status, never a traceback."""

    def __init__(self, server: str | None) -> None:

        self.url = (server or f"http://127.0.0.1:{_settings().port}").rstrip("/")
        # Uploads of large videos may take a while; only connecting has a short limit.
        self.http = httpx.Client(
            base_url=self.url, timeout=httpx.Timeout(300.0, connect=5.0), follow_redirects=True
        )

    def __enter__(self) -> _Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def fetch(self, method: str, path: str, **options: object) -> httpx.Response:
        """The answer, when the server gave one that is not an error."""
        try:
            answer = self.http.request(method, path, **options)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            typer.echo(
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
            typer.echo(f"storyteller: {reason} ({answer.status_code})", err=True)
            raise typer.Exit(1)
        return answer

    def call(self, method: str, path: str, **options: object) -> dict[str, Any]:
        answer = self.fetch(method, path, **options)
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            typer.echo(f"storyteller: {self.url} does not answer as Video Storyteller", err=True)
            raise typer.Exit(1)
        return body


def _video_line(video: dict[str, Any]) -> str:
    status = video.get("statusDetail") or video["status"]
    name = video.get("originalName") or video.get("name")
    line = f"  {video['id']}  {status:<10}  {name}"
    if status == "processing" and video.get("stage"):
        line += f"  ({video['stage']}, {round(100 * float(video.get('progress') or 0))}%)"
    if video.get("error") and video["status"] == "failed":
        line += f"  — {video['error']}"
    return line


def _print_job(job: dict[str, Any]) -> None:
    ended = sum(video["status"] in ENDED for video in job["videos"])
    typer.echo(f"job {job['id']}: {job['status']}, {ended} of {len(job['videos'])} videos ended")
    for video in job["videos"]:
        typer.echo(_video_line(video))


def _print_stories(job: dict[str, Any]) -> None:
    for index, video in enumerate(job["videos"]):
        if index:
            typer.echo(f"\n{RULE}\n")
        if video["status"] == "completed" and video.get("story"):
            typer.echo(video["story"])
        else:
            typer.echo(f"{video['originalName']}: failed: {video.get('error')}")


def _wait_for(client: _Client, job_id: str, every: float) -> dict[str, Any]:
    """Poll the job, as the original front end does, until every video has ended."""

    last = ""
    while True:
        job = client.call("GET", f"/api/job/{job_id}")
        ended = sum(video["status"] in ENDED for video in job["videos"])
        note = f"{ended} of {len(job['videos'])} videos ended"
        if note != last:
            typer.echo(f"job {job_id}: {note}", err=True)
            last = note
        if ended == len(job["videos"]):
            return job
        time.sleep(every)


@app.command()
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
) -> None:
    """Upload videos to a running service as one job and print its id and videos.

    Exits 0 when every video was accepted (with --wait: completed).

    Exits 1 when the server refused the upload or a video failed.

    Exits 2 when the server is not reachable."""

    chosen = (("priority", priority), ("teller", teller), ("model", model))
    form = {key: value for key, value in chosen if value}
    with _Client(server) as client, ExitStack() as opened:
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
                typer.echo(json.dumps(upload, ensure_ascii=False))
            else:
                typer.echo(f"job {upload['jobId']}: {upload['message']}")
                for video in upload["videos"]:
                    typer.echo(_video_line(video))
            failed = [video for video in upload["videos"] if video["status"] == "failed"]
            raise typer.Exit(1 if failed else 0)
        if not as_json:
            typer.echo(f"job {upload['jobId']}: {upload['message']}", err=True)
        job = _wait_for(client, upload["jobId"], every)
    if as_json:
        typer.echo(json.dumps(job, ensure_ascii=False))
    else:
        _print_stories(job)
    failed = [video for video in job["videos"] if video["status"] != "completed"]
    if failed and not as_json:
        typer.echo(f"\n{len(failed)} of {len(job['videos'])} videos failed.", err=True)
    raise typer.Exit(1 if failed else 0)


@app.command()
def status(
    job_id: Annotated[str, typer.Argument(help="The job id `submit` printed.", show_default=False)],
    server: Server = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the server's answer as JSON.")
    ] = False,
    stories: Annotated[
        bool, typer.Option("--stories", help="Print the stories written so far.")
    ] = False,
) -> None:
    """Show a job on a running service: its state and each video's."""
    with _Client(server) as client:
        job = client.call("GET", f"/api/job/{job_id}")
    if as_json:
        typer.echo(json.dumps(job, ensure_ascii=False))
    elif stories:
        _print_stories(job)
    else:
        _print_job(job)


def _export_locally(
    job_id: str, *, video: bool, chosen: str, formats: str, appendix: bool
) -> tuple[bytes, str]:
    """The document and its file name, read from this machine's data folder (no service)."""
    from storyteller.db.session import default_database_url, make_engine, make_session_factory
    from storyteller.export import archive, record
    from storyteller.export.document import load_batch, load_video
    from storyteller.export.formats import FORMATS, ZIP, UnknownFormat, parse_formats

    settings = _settings()
    engine = make_engine(default_database_url(settings))
    try:
        with make_session_factory(engine)() as session:
            load = load_video if video else load_batch
            document = load(session, job_id, settings)
    finally:
        engine.dispose()
    if document is None:
        typer.echo(f"storyteller: no {'video' if video else 'job'} with that id", err=True)
        raise typer.Exit(1)
    try:
        if chosen == ZIP:
            body = archive.render(
                document,
                stories_json=record.render(document),
                formats=parse_formats(formats),
                appendix=appendix,
            )
        elif chosen in FORMATS:
            body = FORMATS[chosen].render(document, appendix)
        else:
            raise UnknownFormat(chosen)
    except UnknownFormat as exc:
        typer.echo(f"storyteller: {exc}", err=True)
        raise typer.Exit(2) from exc
    stem = document.videos[0].name.rsplit(".", 1)[0] if video else f"stories-{job_id[:8]}"
    return body, f"{stem}.{chosen}"


@app.command()
def export(
    job_id: Annotated[
        str,
        typer.Argument(
            metavar="JOB", help="The job's id (a video's with --video).", show_default=False
        ),
    ],
    format: Annotated[
        str, typer.Option("--format", "-f", help="pdf, docx, md, json, csv or zip.")
    ] = "pdf",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write; '-' for standard output "
            "(default: the name the server suggests, here).",
            show_default=False,
        ),
    ] = None,
    video: Annotated[bool, typer.Option("--video", help="JOB is a video's id.")] = False,
    appendix: Annotated[
        bool, typer.Option("--appendix", help="PDF, Word: add what each story stands on.")
    ] = False,
    formats: Annotated[
        str, typer.Option(help="zip: formats to add to the archive, e.g. pdf,docx.")
    ] = "",
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Read this machine's data folder (or STORYTELLER_DATABASE_URL) instead of "
            "asking a running service.",
        ),
    ] = False,
    server: Server = None,
) -> None:
    """Write a job's stories (or one video's) as a PDF, Word, Markdown, JSON, CSV or ZIP file.

    Exits 1 when there is no such job or the service refused; 2 on a bad format or an
    unreachable service."""
    chosen = format.strip().lower()
    if local:
        body, suggested = _export_locally(
            job_id, video=video, chosen=chosen, formats=formats, appendix=appendix
        )
    else:
        path = f"/api/videos/{job_id}/export" if video else f"/api/job/{job_id}/export"
        params: dict[str, str] = {"format": chosen}
        if formats:
            params["formats"] = formats
        if appendix:
            params["appendix"] = "true"
        with _Client(server) as client:
            answer = client.fetch("GET", path, params=params)
        body = answer.content
        suggested = answer.headers.get("content-disposition", "")
        suggested = _file_name(suggested) or f"stories-{job_id[:8]}.{chosen}"
    if output is not None and str(output) == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return
    target = output or Path(suggested)
    target.write_bytes(body)
    typer.echo(f"{target} ({len(body):,} bytes)", err=True)


def _file_name(disposition: str) -> str | None:
    """The file name of a Content-Disposition header (RFC 6266's `filename*` first), kept
    to its last part so that it can only name a file in the current folder."""
    import re
    from urllib.parse import unquote

    exact = re.search(r"filename\*=UTF-8''([^;\s]+)", disposition, flags=re.IGNORECASE)
    plain = re.search(r'filename="([^"]*)"', disposition)
    name = unquote(exact.group(1)) if exact else plain.group(1) if plain else ""
    name = Path(name.replace("\\", "/")).name
    return name if name not in ("", ".", "..") else None


@app.command()
def estimate(
    files: Files,
    teller: Annotated[
        str | None, typer.Option(help=f"Teller to price: {', '.join(teller_names())}.")
    ] = None,
    model: ModelOption = None,
    priority: Annotated[
        str,
        typer.Option(help="low is priced at Gemini Batch Mode's price when Batch Mode is on."),
    ] = "normal",
    as_json: Annotated[bool, typer.Option("--json", help="The estimate as JSON.")] = False,
) -> None:
    """Tokens, dollars and time the videos would cost with a teller, before sending them."""
    from storyteller.pipeline.probe import probe
    from storyteller.pipeline.stage import Context
    from storyteller.tellers.estimate import estimate_batch
    from storyteller.tellers.gemini_batch import in_batch_mode

    settings = _choose_teller(_settings(), teller, model)
    teller = teller or settings.default_teller
    lengths, refused = [], []
    for path in files:
        try:
            lengths.append((path.name, probe(Context(path=path, settings=settings)).duration_s))
        except VideoRejected as exc:
            refused.append(exc.reason)
    batch = estimate_batch(
        settings, teller, lengths, batch=in_batch_mode(settings, teller, priority)
    )
    if as_json:
        typer.echo(json.dumps({
            "teller": batch.teller, "model": batch.model, "tokens_in": batch.tokens_in,
            "tokens_out": batch.tokens_out, "dollars": batch.dollars,
            "expected_s": batch.expected_s, "refused": refused,
            "videos": [video.__dict__ for video in batch.videos],
        }))  # fmt: skip
    else:
        model = f" ({batch.model})" if batch.model else ""
        for video in batch.videos:
            cost = "?" if video.dollars is None else f"${video.dollars:.4f}"
            typer.echo(
                f"{video.name}: {video.duration_s:.0f} s, {video.tokens_in:,} tokens in, "
                f"{video.tokens_out:,} out, {cost}"
            )
        total = (
            "unknown (no price for this model)"
            if batch.dollars is None
            else f"${batch.dollars:.4f}"
        )
        typer.echo(
            f"{len(batch.videos)} video{'' if len(batch.videos) == 1 else 's'} with "
            f"{batch.teller}{model}: {batch.tokens_in:,} tokens in, "
            f"{batch.tokens_out:,} out, {total}; about {batch.expected_s / 60:.1f} minutes"
        )
        for reason in refused:
            typer.echo(f"not counted: {reason}", err=True)
    raise typer.Exit(1 if refused else 0)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
