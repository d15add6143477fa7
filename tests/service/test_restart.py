"""The service as users run it: a real uvicorn process (`storyteller serve`) killed with
SIGKILL while videos are processing, then started again. Every video reaches a final
state, none is completed twice, no upload is lost."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from storyteller.db.models import Story
from storyteller.db.session import make_engine
from tests.media import Clip
from tests.service.server import ServeProcess

pytestmark = pytest.mark.timeout(300)


def stop_cleanly(server: ServeProcess) -> None:
    """SIGTERM, and check that it shut down cleanly (uvicorn re-raises the signal once it
    has, so the exit status is SIGTERM's)."""
    assert server.terminate() in (0, -signal.SIGTERM)
    last_run = server.log.read_text().split("Started server process")[-1]
    assert "Application shutdown complete" in last_run, last_run[-2000:]


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[ServeProcess]:
    server = ServeProcess(
        tmp_path / "data", STORYTELLER_DATABASE_URL=database_url, MAX_CONCURRENT_JOBS="2"
    )
    yield server
    if server.running():
        server.kill()


def upload(server: ServeProcess, files: list[tuple[str, Path]]) -> dict:
    handles = [(name, path.open("rb")) for name, path in files]
    try:
        answer = httpx.post(
            f"{server.url}/api/upload",
            files=[("videos", (name, handle, "video/mp4")) for name, handle in handles],
            timeout=60,
        )
    finally:
        for _, handle in handles:
            handle.close()
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_until(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.2)


def test_a_killed_server_loses_nothing(
    server: ServeProcess,
    database_url: str,
    speech_clip: Clip,
    snow_clip: Clip,
    beach_clip: Clip,
    autumn_clip: Clip,
    bad_inputs: dict[str, Path],
) -> None:
    files = [
        ("speech.mp4", speech_clip.path),
        ("snow.webm", snow_clip.path),
        ("beach.mov", beach_clip.path),
        ("autumn.mp4", autumn_clip.path),
        ("no-index.mp4", bad_inputs["no_moov"]),
    ]
    server.start()
    answer = upload(server, files)
    job_id = answer["jobId"]
    assert [v["name"] for v in answer["videos"]] == [name for name, _ in files]

    wait_until(
        lambda: any(v["statusDetail"] == "processing" for v in server.job(job_id)["videos"]), 60
    )
    server.kill()

    server.start()
    wait_until(lambda: server.job(job_id)["status"] == "completed", 180)
    job = server.job(job_id)
    by_name = {v["originalName"]: v for v in job["videos"]}
    assert list(by_name) == [name for name, _ in files]  # every upload is still there
    for name in ("speech.mp4", "snow.webm", "beach.mov", "autumn.mp4"):
        assert by_name[name]["status"] == "completed", by_name[name]
        assert by_name[name]["story"]
    assert by_name["no-index.mp4"]["status"] == "failed"
    assert by_name["no-index.mp4"]["error"]

    # None was completed twice: one story version each.
    engine = make_engine(database_url)
    with engine.connect() as connection:
        versions = connection.execute(
            select(Story.video_id, func.count()).group_by(Story.video_id)
        ).all()
    engine.dispose()
    assert sorted(count for _, count in versions) == [1, 1, 1, 1]
    stop_cleanly(server)


def test_sigterm_lets_running_videos_finish_or_requeues_them(
    server: ServeProcess, speech_clip: Clip, snow_clip: Clip
) -> None:
    server.env["STORYTELLER_SHUTDOWN_GRACE_S"] = "0"
    server.start()
    job_id = upload(server, [("speech.mp4", speech_clip.path), ("snow.webm", snow_clip.path)])[
        "jobId"
    ]
    wait_until(
        lambda: any(v["statusDetail"] == "processing" for v in server.job(job_id)["videos"]), 60
    )
    stop_cleanly(server)
    server.start()
    # Requeued without being charged an attempt, then finished by the new server.
    wait_until(lambda: server.job(job_id)["status"] == "completed", 120)
    assert {v["status"] for v in server.job(job_id)["videos"]} == {"completed"}


def test_an_upload_cut_off_by_the_client_leaves_nothing(tmp_path: Path, speech_clip: Clip) -> None:
    server = ServeProcess(tmp_path / "data")
    server.start()
    try:
        boundary = "cut-off-boundary"
        head = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="videos"; filename="big.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(
                (
                    "POST /api/upload HTTP/1.1\r\nHost: x\r\n"
                    f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                    f"Content-Length: {100 * 2**20}\r\n\r\n"
                ).encode()
                + head
                + speech_clip.path.read_bytes()
                + bytes(3 * 2**20)
            )
            time.sleep(0.5)  # the server is now writing the part
        # The connection is gone mid-file: the server carries on, and keeps nothing.
        deadline = time.monotonic() + 10
        uploads = tmp_path / "data" / "uploads"
        while [p for p in uploads.rglob("*") if p.is_file()]:
            assert time.monotonic() < deadline, list(uploads.rglob("*"))
            time.sleep(0.1)
        assert httpx.get(f"{server.url}/api/stats").json()["totalJobs"] == 0
        assert "Traceback" not in server.log.read_text()
    finally:
        stop_cleanly(server)


def test_a_video_whose_runs_are_lost_to_restarts_is_not_failed_for_it(
    server: ServeProcess, speech_clip: Clip
) -> None:
    """Three SIGKILLs of the service while the video runs, as many as its attempts: the
    video was not at fault, so the runs are not charged and it still gets its story."""
    server.env["MAX_CONCURRENT_JOBS"] = "1"
    server.start()
    job_id = upload(server, [("speech.mp4", speech_clip.path)])["jobId"]
    for _ in range(3):
        wait_until(lambda: server.job(job_id)["videos"][0]["status"] == "processing", 60)
        server.kill()
        server.start()
    wait_until(lambda: server.job(job_id)["status"] == "completed", 120)
    [video] = server.job(job_id)["videos"]
    assert (video["status"], video["error"]) == ("completed", None), video
    assert video["story"]
    stop_cleanly(server)
