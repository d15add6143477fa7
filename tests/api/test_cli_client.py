"""`storyteller submit` and `storyteller status` against a real server: uvicorn serving the
app on a loopback port, its engine running the scripted jobs of tests/jobs (a video's
name says what its job does)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storyteller.app import create_app
from storyteller.cli import app
from storyteller.commands.common import RULE
from storyteller.config import Settings
from tests.jobs.scripted import SCRIPTED
from tests.service.server import free_port, served_in_thread

pytestmark = pytest.mark.timeout(120)

runner = CliRunner()

SOME_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(4096)  # passes the first-bytes check


@pytest.fixture
def server(settings: Settings, database_url: str) -> Iterator[str]:
    """The address of a running server."""
    service = create_app(
        settings.model_copy(update={"database_url": database_url}), start_engine=True, job=SCRIPTED
    )
    with served_in_thread(service) as address:
        yield address


@pytest.fixture
def videos(tmp_path: Path) -> dict[str, Path]:
    """Files whose names script their jobs; each holds different bytes."""
    folder = tmp_path / "videos"
    folder.mkdir()
    made = {}
    for name in ("ok.mp4", "reject.mp4", "sleep-1.mp4"):
        made[name] = folder / name
        made[name].write_bytes(SOME_BYTES + name.encode())
    made["notes.mp4"] = folder / "notes.mp4"
    made["notes.mp4"].write_text("not a video at all\n")
    return made


def test_submit_prints_the_job_and_status_follows_it(server: str, videos: dict[str, Path]) -> None:
    result = runner.invoke(
        app, ["submit", "--server", server, "--priority", "high", str(videos["sleep-1.mp4"])]
    )
    assert result.exit_code == 0, result.output
    first, video_line = result.stdout.splitlines()
    job_id = first.split()[1].rstrip(":")
    assert first.startswith(f"job {job_id}: 1 video uploaded")
    assert "sleep-1.mp4" in video_line and "pending" in video_line

    answer = runner.invoke(app, ["status", job_id, "--server", server, "--json"])
    assert answer.exit_code == 0, answer.output
    job = json.loads(answer.stdout)
    assert job["id"] == job_id and job["priority"] == "high"
    assert [v["originalName"] for v in job["videos"]] == ["sleep-1.mp4"]

    shown = runner.invoke(app, ["status", job_id, "--server", server])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith(f"job {job_id}: ")
    assert "sleep-1.mp4" in shown.stdout


def test_submit_wait_prints_every_story_and_fails_when_a_video_fails(
    server: str, videos: dict[str, Path]
) -> None:
    files = [str(videos[name]) for name in ("ok.mp4", "reject.mp4", "notes.mp4")]
    result = runner.invoke(app, ["submit", "--server", server, "--wait", "--every", "0.2", *files])
    assert result.exit_code == 1, result.output
    ok, reject, notes = result.stdout.split(f"\n{RULE}\n")
    assert ok.startswith('"Story of ok.mp4"')
    assert reject.strip() == "reject.mp4: failed: reject.mp4 is not a video"
    assert notes.strip() == "notes.mp4: failed: notes.mp4 is not a video: it is a text file"
    assert "2 of 3 videos failed" in result.stderr

    good = runner.invoke(
        app, ["submit", "--server", server, "--wait", "--json", "--every", "0.2", files[0]]
    )
    assert good.exit_code == 0, good.output
    job = json.loads(good.stdout)
    assert job["status"] == "completed"
    assert job["videos"][0]["story"].startswith('"Story of ok.mp4"')


def test_the_default_server_is_the_port_setting(server: str, videos: dict[str, Path]) -> None:
    port = server.rsplit(":", 1)[1]
    result = runner.invoke(app, ["submit", "--json", str(videos["ok.mp4"])], env={"PORT": port})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["videos"][0]["name"] == "ok.mp4"


def test_refusals_are_a_message_and_exit_1(server: str, videos: dict[str, Path]) -> None:
    refused = runner.invoke(app, ["submit", "--server", server, str(videos["notes.mp4"])])
    assert refused.exit_code == 1
    assert "notes.mp4 is not a video" in refused.stderr and "415" in refused.stderr
    unknown = runner.invoke(app, ["status", "no-such-job", "--server", server])
    assert unknown.exit_code == 1
    assert "no job with that id" in unknown.stderr
    bad = runner.invoke(
        app, ["submit", "--server", server, "--priority", "urgent", str(videos["ok.mp4"])]
    )
    assert bad.exit_code == 1
    assert "priority" in bad.stderr and "422" in bad.stderr


def test_a_server_that_is_not_there_is_exit_2(videos: dict[str, Path]) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    for args in (["submit", str(videos["ok.mp4"])], ["status", "some-job"]):
        result = runner.invoke(app, [*args, "--server", nowhere])
        assert result.exit_code == 2, result.output
        assert f"cannot reach the server at {nowhere}" in result.stderr
        assert "Traceback" not in result.output


def test_cancel_retry_regenerate_and_delete_from_the_command_line(
    server: str, videos: dict[str, Path], tmp_path: Path
) -> None:
    slow = tmp_path / "sleep-30.mp4"
    slow.write_bytes(SOME_BYTES + b"slow")
    submitted = runner.invoke(
        app, ["submit", "--server", server, "--json", str(videos["ok.mp4"]), str(slow)]
    )
    assert submitted.exit_code == 0, submitted.output
    upload = json.loads(submitted.stdout)
    job_id = upload["jobId"]
    ok_id, slow_id = (video["id"] for video in upload["videos"])

    def job() -> dict:
        return json.loads(
            runner.invoke(app, ["status", job_id, "--server", server, "--json"]).stdout
        )

    cancelled = runner.invoke(app, ["cancel", job_id, "--video", slow_id, "--server", server])
    assert cancelled.exit_code == 0, cancelled.output
    assert slow_id in cancelled.stdout and "cancelled" in cancelled.stdout
    again = runner.invoke(app, ["cancel", job_id, "--video", slow_id, "--server", server])
    assert again.exit_code == 1
    assert "already been cancelled" in again.stderr and "409" in again.stderr

    deadline = time.monotonic() + 30
    while job()["videos"][0]["status"] != "completed":
        assert time.monotonic() < deadline, job()
        time.sleep(0.1)
    rewritten = runner.invoke(app, ["regenerate", job_id, ok_id, "--seed", "7", "--server", server])
    assert rewritten.exit_code == 0, rewritten.output
    assert ok_id in rewritten.stdout

    retried = runner.invoke(app, ["retry", job_id, "--server", server])
    assert retried.exit_code == 0, retried.output
    assert retried.stdout.strip() == f"job {job_id}: 1 video queued again"
    assert job()["videos"][1]["status"] == "processing"  # queued: the seed's name for it

    deleted = runner.invoke(app, ["delete", job_id, "--server", server])
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout.strip() == f"job {job_id}: job deleted with its 2 videos"
    gone = runner.invoke(app, ["status", job_id, "--server", server])
    assert gone.exit_code == 1 and "no job with that id" in gone.stderr


def test_story_versions_are_listed_and_one_chosen_from_the_command_line(
    server: str, videos: dict[str, Path]
) -> None:
    submitted = runner.invoke(
        app, ["submit", "--server", server, "--json", "--wait", str(videos["ok.mp4"])]
    )
    assert submitted.exit_code == 0, submitted.output
    job = json.loads(submitted.stdout)
    job_id, video_id = job["id"], job["videos"][0]["id"]
    assert (
        runner.invoke(
            app, ["regenerate", job_id, video_id, "--seed", "7", "--server", server]
        ).exit_code
        == 0
    )

    def versions() -> list[str]:
        listed = runner.invoke(app, ["story", "versions", video_id, "--server", server])
        assert listed.exit_code == 0, listed.output
        return listed.stdout.splitlines()

    deadline = time.monotonic() + 30
    while len(versions()) < 2:
        assert time.monotonic() < deadline, versions()
        time.sleep(0.1)
    assert [line[:4] for line in versions()] == ["  v1", "* v2"]
    assert ", seed 7 " in versions()[1]

    chosen = runner.invoke(app, ["story", "use", video_id, "1", "--server", server])
    assert chosen.exit_code == 0, chosen.output
    assert chosen.stdout.strip() == "ok.mp4: story version 1 is now current"
    assert [line[:4] for line in versions()] == ["* v1", "  v2"]
    missing = runner.invoke(app, ["story", "use", video_id, "3", "--server", server])
    assert missing.exit_code == 1
    assert "ok.mp4 has no story version 3: its versions are 1 to 2 (404)" in missing.stderr
