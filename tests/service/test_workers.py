"""Many machines, played on one: a web process with STORYTELLER_JOB_ENGINE=workers (it
runs no videos) and two `storyteller worker` processes on one PostgreSQL, running the
scripted jobs of tests/jobs (a video's name says what its job does). Batches complete
with each video run once, the web's live updates carry what the workers do, SIGTERM
stops a worker gracefully, and a SIGKILLed worker's video runs again on the other."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from storyteller.cli import app
from storyteller.db.session import make_engine
from storyteller.jobs.worker import WORKER_APPLICATION
from tests.databases import _empty_database
from tests.jobs.scripted import SCRIPTED
from tests.service.server import ServeProcess, WorkerProcess
from tests.service.test_events import read_events

pytestmark = pytest.mark.timeout(120)

SOME_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(1024)  # passes the first-bytes check


class Cluster:
    """The web process and two workers, sharing a data folder (the uploads, runs.log)."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.data_dir = data_dir
        settings = {"STORYTELLER_DATABASE_URL": database_url, "STORYTELLER_JOB_ENGINE": "workers"}
        self.web = ServeProcess(data_dir, **settings)
        # A short grace, so that SIGTERM during a 5 s video shows the requeue.
        self.workers = [
            WorkerProcess(
                data_dir, job=SCRIPTED, name=f"worker-{n}", STORYTELLER_SHUTDOWN_GRACE_S="1",
                **settings,
            )
            for n in (1, 2)
        ]  # fmt: skip
        self.files = data_dir / "files"
        self.files.mkdir(parents=True, exist_ok=True)

    def upload(self, *names: str) -> dict[str, Any]:
        handles = []
        for name in names:
            path = self.files / name
            path.write_bytes(SOME_BYTES + f"{name}{time.monotonic_ns()}".encode())
            handles.append((name, path.open("rb")))
        try:
            answer = httpx.post(
                f"{self.web.url}/api/upload",
                files=[("videos", (name, handle, "video/mp4")) for name, handle in handles],
                timeout=30,
            )
        finally:
            for _, handle in handles:
                handle.close()
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        return job

    def runs(self) -> list[str]:
        log = self.data_dir / "runs.log"
        return log.read_text().split() if log.exists() else []

    def holder(self, video_id: str) -> WorkerProcess | None:
        """The worker running this video now."""
        for worker in self.workers:
            if worker.running() and video_id in worker.health().json()["running"]:
                return worker
        return None


@pytest.fixture(scope="module")
def postgres_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty PostgreSQL schema for the module's processes (these tests need it)."""
    with _empty_database(request, "postgresql", tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="module")
def started(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("cluster"), postgres_url)
    # All at once, as a deployment starts them: one migrates, the others wait for it.
    with ThreadPoolExecutor(3) as pool:
        for started in [pool.submit(p.start) for p in (cluster.web, *cluster.workers)]:
            started.result()
    yield cluster
    for process in (*cluster.workers, cluster.web):
        if process.running():
            process.kill()


@pytest.fixture
def cluster(started: Cluster) -> Cluster:
    """The cluster with both workers running (a test before may have stopped one)."""
    for worker in started.workers:
        if not worker.running():
            worker.start()
    return started


def wait_until(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.1)


def test_a_batch_uploaded_to_the_web_is_run_by_the_workers_each_video_once(
    cluster: Cluster,
) -> None:
    received: list[dict] = []
    expected: list[str] = []  # the job's id, once uploaded
    opened, finished = threading.Event(), threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{cluster.web.url}/api/events", timeout=60) as response:
            opened.set()
            for event in read_events(response):
                received.append(event)
                data = event["data"]
                if data.get("jobId") in expected and data["jobStatus"] == "completed":
                    finished.set()
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert opened.wait(10)
    names = ["sleep-2.mp4", "sleep-1.mp4", *(f"ok-{n}.mp4" for n in range(6))]
    job = cluster.upload(*names)
    expected.append(job["jobId"])
    ids = [video["id"] for video in job["videos"]]

    wait_until(lambda: cluster.web.job(job["jobId"])["status"] == "completed", 30)
    videos = cluster.web.job(job["jobId"])["videos"]
    assert [video["status"] for video in videos] == ["completed"] * len(names)
    assert all(video["story"] for video in videos)
    runs = cluster.runs()
    assert sorted(run for run in runs if run in ids) == sorted(ids)  # each ran once
    # Both workers took part (the two sleeping videos cannot both be on one).
    for worker in cluster.workers:
        assert "starting video" in worker.log.read_text(), worker.log.read_text()[-2000:]
    assert f"({names[0]}) completed" in "".join(w.log.read_text() for w in cluster.workers)

    # The web process's stream told what the workers did: queued, progress, the end.
    assert finished.wait(10), received
    listener.join(5)
    sleeper = [
        e["data"]["video"] for e in received
        if e["event"] == "video" and e["data"]["video"]["id"] == ids[0]
    ]  # fmt: skip
    states = [video["statusDetail"] for video in sleeper]
    # (an event carries the video's state when it is read, so a claim quicker than the
    # upload's notification can make the first one `processing` already)
    assert states[0] in ("pending", "processing") and states[-1] == "completed"
    assert "processing" in states
    assert any(video["stage"] == "scenes" and video["progress"] > 0 for video in sleeper)
    assert received[-1]["data"]["video"]["story"]
    numbers = [int(event["id"].split("-")[1]) for event in received]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_a_worker_answers_health(cluster: Cluster) -> None:
    answer = cluster.workers[0].health()
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["worker_id"].split(":")[1] == str(cluster.workers[0].process.pid)  # type: ignore[union-attr]
    assert body["concurrency"] == 1
    assert body["queues"] == ["high", "normal", "low"]  # no --queue: every priority
    assert body["running"] == []
    assert body["uptime_s"] > 0
    missing = httpx.get(cluster.workers[0].health_url.replace("/health", "/nope"), timeout=5)
    assert missing.status_code == 404


def test_sigterm_stops_a_worker_gracefully_its_video_requeued(cluster: Cluster) -> None:
    job = cluster.upload("sleep-3.mp4")
    video_id = job["videos"][0]["id"]
    wait_until(lambda: cluster.holder(video_id) is not None, 10)
    holder = cluster.holder(video_id)
    assert holder is not None
    other = next(worker for worker in cluster.workers if worker is not holder)

    started = time.monotonic()
    assert holder.terminate(timeout=15) == 0
    # The grace is 1 s here: the 3 s video goes back to the queue, uncharged.
    assert time.monotonic() - started < 10
    log = holder.log.read_text()
    assert "SIGTERM received" in log
    assert f"video {video_id} (sleep-3.mp4) back in the queue" in log
    assert "Traceback" not in log

    wait_until(lambda: cluster.web.job(job["jobId"])["status"] == "completed", 20)
    video = cluster.web.job(job["jobId"])["videos"][0]
    assert video["status"] == "completed"
    assert video["attempts"] == 1  # the stopped run was not charged
    assert f"video {video_id} (sleep-3.mp4) completed" in other.log.read_text()


def test_a_killed_worker_s_video_runs_again_on_the_other_within_30_s(cluster: Cluster) -> None:
    job = cluster.upload("sleep-5.mp4")
    video_id = job["videos"][0]["id"]
    wait_until(lambda: cluster.holder(video_id) is not None, 10)
    holder = cluster.holder(video_id)
    assert holder is not None
    other = next(worker for worker in cluster.workers if worker is not holder)

    holder.kill()
    killed = time.monotonic()
    wait_until(lambda: cluster.runs().count(video_id) == 2, 30)
    assert time.monotonic() - killed < 30
    assert cluster.holder(video_id) is other
    wait_until(lambda: cluster.web.job(job["jobId"])["status"] == "completed", 20)
    assert cluster.web.job(job["jobId"])["videos"][0]["status"] == "completed"


def test_workers_carry_on_when_the_database_drops_their_connections(
    cluster: Cluster, postgres_url: str
) -> None:
    # A worker does not check a connection before each use (a round trip per
    # transaction): the first use of a dropped one fails, and it must go on regardless.
    job = cluster.upload("sleep-2.mp4", "sleep-1.mp4", *(f"ok-{n}.mp4" for n in range(4)))
    ids = [video["id"] for video in job["videos"]]
    wait_until(lambda: cluster.holder(ids[0]) is not None, 10)
    db = make_engine(postgres_url)
    try:
        with db.begin() as connection:
            dropped = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = :name"
                ),
                {"name": WORKER_APPLICATION},
            ).scalar_one()
    finally:
        db.dispose()
    assert dropped >= len(cluster.workers)  # at least each one's supervisor connection

    wait_until(lambda: cluster.web.job(job["jobId"])["status"] == "completed", 60)
    videos = cluster.web.job(job["jobId"])["videos"]
    assert [video["status"] for video in videos] == ["completed"] * len(ids)
    logs = "".join(worker.log.read_text() for worker in cluster.workers)
    # The drop was met: by the supervisor, or first by the notification deliverer that
    # shares its pool (which then drops every pooled connection at once).
    assert (
        "error in the supervisor; retrying in a second" in logs
        or "cannot look for notifications to deliver; trying again" in logs
    ), logs
    for worker in cluster.workers:
        assert worker.health().json()["status"] == "ok"


def test_workers_mode_on_sqlite_refuses_to_start(tmp_path: Path) -> None:
    env = {
        "STORYTELLER_DATA_DIR": str(tmp_path),
        "STORYTELLER_JOB_ENGINE": "workers",
        "STORYTELLER_DATABASE_URL": "",
    }
    for command in (["serve"], ["worker"]):
        result = CliRunner().invoke(app, command, env=env)
        assert result.exit_code == 2, result.output
        assert "STORYTELLER_JOB_ENGINE=workers needs PostgreSQL" in result.output
        assert "STORYTELLER_DATABASE_URL" in result.output
    # A worker needs PostgreSQL whatever the web processes are told.
    embedded = {**env, "STORYTELLER_JOB_ENGINE": "embedded"}
    result = CliRunner().invoke(app, ["worker"], env=embedded)
    assert result.exit_code == 2, result.output
    assert "storyteller worker needs PostgreSQL" in result.output


def test_a_worker_that_cannot_reach_the_video_storage_refuses_to_start(
    postgres_url: str, tmp_path: Path
) -> None:
    env = {
        "STORYTELLER_DATA_DIR": str(tmp_path),
        "STORYTELLER_DATABASE_URL": postgres_url,
        "STORYTELLER_STORAGE": "s3",
        "STORYTELLER_S3_BUCKET": "videos",
        "STORYTELLER_S3_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing listens there
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    result = CliRunner().invoke(app, ["worker"], env=env)
    assert result.exit_code == 2, result.output
    assert "the video storage cannot be used" in result.output
    assert "127.0.0.1:9" in result.output
