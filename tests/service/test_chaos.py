"""Chaos: 2 web processes and 3 `storyteller worker`s on PostgreSQL, 60 videos uploaded in
batches to both web processes while a worker is SIGKILLed every few seconds and started
again. Every video completes exactly once (it may run again after its worker died; it is
never completed twice), none is lost or stuck, a cancelled video stops running within
2 s, and the changes made by the workers reach a browser of either web process."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from storyteller.db.migrate import migrate
from storyteller.db.models import Story
from storyteller.db.session import make_engine
from tests.service.cluster import PULSING, Cluster, ClusterProcess, fresh_database

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

BATCHES = 6  # of BATCH_SIZE videos: 60 in all
BATCH_SIZE = 10
VIDEO = "sleep-1.mp4"  # the scripted job works 1 s on it
UPLOAD_EVERY_S = 3.0
KILL_EVERY_S = 2.0
HEARTBEAT_TIMEOUT_S = 5
# Bytes the first-bytes check lets through (an MP4 opening); the scripted job never
# reads them.
BYTES = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(4000)


@pytest.fixture
def database() -> Iterator[str]:
    try:
        with fresh_database("storyteller_chaos") as url:
            migrate(url)
            yield url
    except OperationalError as exc:
        pytest.skip(f"no PostgreSQL: {exc.orig}")


@pytest.fixture
def cluster(tmp_path: Path, database: str) -> Iterator[Cluster]:
    with Cluster(
        tmp_path,
        database,
        STORYTELLER_HEARTBEAT_TIMEOUT_S=str(HEARTBEAT_TIMEOUT_S),
        # Enough tries that a video whose workers are killed under it again and again
        # still completes: what is tested is that it completes once.
        STORYTELLER_MAX_ATTEMPTS="10",
    ) as cluster:
        cluster.add_web()
        cluster.add_web()
        for _ in range(3):
            cluster.add_worker(job=PULSING, concurrency=2)
        cluster.start_all()
        yield cluster


def upload(url: str, names: list[str]) -> dict[str, Any]:
    answer = httpx.post(
        f"{url}/api/upload",
        files=[("videos", (name, BYTES, "video/mp4")) for name in names],
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    return job


class Chaos(threading.Thread):
    """SIGKILL a random worker every `every_s` and start it again at once, until stopped;
    paused while `calm` is set."""

    def __init__(self, cluster: Cluster, every_s: float) -> None:
        super().__init__(daemon=True)
        self.cluster, self.every_s = cluster, every_s
        self.done, self.calm = threading.Event(), threading.Event()
        self.kills: list[str] = []
        self.hit = 0  # videos running in the workers killed
        self.error: BaseException | None = None

    def run(self) -> None:
        workers = self.cluster.workers
        try:
            while not self.done.wait(self.every_s):
                if self.calm.is_set():
                    continue
                # A worker that is running videos, when one is.
                running = {w.name: self.cluster.health(w).get("running", []) for w in workers}
                worker = random.choice([w for w in workers if running[w.name]] or workers)
                self.cluster.kill(worker)
                self.kills.append(worker.name)
                self.hit += len(running[worker.name])
                self.cluster.start(worker, wait=False)
        except BaseException as exc:  # reported by the test
            self.error = exc


class Listener(threading.Thread):
    """A browser on a web process: the ids of videos whose completion it was told of."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.opened = threading.Event()
        self.completed: set[str] = set()

    def run(self) -> None:
        with (
            contextlib.suppress(httpx.TransportError),  # the cluster stopped
            httpx.stream("GET", f"{self.url}/api/events", timeout=None) as response,
        ):
            self.opened.set()
            kind = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "video":
                    video = json.loads(line[6:])["video"]
                    if video["statusDetail"] == "completed":
                        self.completed.add(video["id"])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def job(url: str, job_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/api/job/{job_id}", timeout=10)
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


def cancel_while_running(cluster: Cluster, chaos: Chaos) -> tuple[str, str, float]:
    """Upload a long video, cancel it once it runs; its job id, its id, and when the
    cancel was sent (time.time())."""
    web = cluster.url(cluster.webs[0])
    batch = upload(web, ["sleep-30.mp4"])
    video_id = batch["videos"][0]["id"]

    def running() -> bool:
        pulse = cluster.pulse(video_id)
        return pulse is not None and time.time() - pulse < 0.5

    # No kills while it is watched, so that what stops it is the cancel alone.
    chaos.calm.set()
    try:
        wait_for(running, 60, "the long video did not start running")
        time.sleep(0.5)
        sent = time.time()
        answer = httpx.post(f"{web}/api/job/{batch['jobId']}/video/{video_id}/cancel", timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["statusDetail"] == "cancelled"
        time.sleep(3.0)  # its last pulse is now behind us
    finally:
        chaos.calm.clear()
    return batch["jobId"], video_id, sent


def test_killed_workers_lose_nothing_and_complete_nothing_twice(
    cluster: Cluster, database: str
) -> None:
    webs = [cluster.url(web) for web in cluster.webs]
    listeners = [Listener(url) for url in webs]
    for listener in listeners:
        listener.start()
        assert listener.opened.wait(30)

    chaos = Chaos(cluster, KILL_EVERY_S)
    chaos.start()
    batches: list[tuple[str, str]] = []  # (job id, the web process it was uploaded to)
    cancel_job, cancelled, cancel_sent = "", "", 0.0
    try:
        for i in range(BATCHES):
            web = webs[i % len(webs)]
            batches.append((upload(web, [VIDEO] * BATCH_SIZE)["jobId"], web))
            if i == BATCHES // 2:
                cancel_job, cancelled, cancel_sent = cancel_while_running(cluster, chaos)
            else:
                time.sleep(UPLOAD_EVERY_S)
        # Chaos goes on until every batch has ended, and a while after the last upload.
        wait_for(lambda: len(chaos.kills) >= 6, 60, "fewer kills than planned")
        wait_for(
            lambda: all(job(web, job_id)["status"] == "completed" for job_id, web in batches),
            120,
            f"batches stuck: {[job(web, job_id) for job_id, web in batches]}",
        )
    finally:
        chaos.done.set()
        chaos.join(30)
    assert chaos.error is None, chaos.error

    # Every video completed, with its story, whichever web process is asked.
    videos = []
    for job_id, web in batches:
        other = next(url for url in webs if url != web)
        found = job(other, job_id)
        assert [v["statusDetail"] for v in found["videos"]] == ["completed"] * BATCH_SIZE, found
        assert all(v["story"] for v in found["videos"])
        videos += [v["id"] for v in found["videos"]]
    assert len(set(videos)) == BATCHES * BATCH_SIZE

    # Each ran at least once; none was completed twice (one story version each).
    runs = cluster.runs()
    assert not [v for v in videos if runs[v] < 1]
    engine = make_engine(database)
    with engine.connect() as connection:
        versions = dict(
            connection.execute(select(Story.video_id, func.count()).group_by(Story.video_id))
            .tuples()
            .all()
        )
    engine.dispose()
    assert {v: versions.get(v, 0) for v in videos} == dict.fromkeys(videos, 1)
    reruns = sum(runs[v] for v in videos) - len(videos)
    print(f"\n{len(chaos.kills)} kills hitting {chaos.hit} running videos, {reruns} re-runs")
    assert reruns >= 1, "no kill hit a running video: the chaos tested nothing"

    # The cancelled video: cancelled, not run again, and its job stopped within 2 s.
    assert job(webs[1], cancel_job)["videos"][0]["statusDetail"] == "cancelled"
    last_pulse = cluster.pulse(cancelled)
    assert last_pulse is not None
    assert last_pulse - cancel_sent <= 2.0, f"ran {last_pulse - cancel_sent:.1f} s after the cancel"
    assert runs[cancelled] == 1
    assert cancelled not in versions

    # Browsers of both web processes were told of every completion, wherever it happened.
    for listener in listeners:
        told = partial(set(videos).issubset, listener.completed)
        wait_for(told, 10, f"{listener.url} missed completions")

    # A killed worker's job processes went with it.
    orphans = {w.name: w.orphans for w in cluster.workers if w.orphans}
    assert not orphans, f"processes outlived their killed worker: {orphans}"
    assert_no_tracebacks(cluster.webs)


def assert_no_tracebacks(members: list[ClusterProcess]) -> None:
    for member in members:
        log = member.log.read_text(errors="replace")
        assert "Traceback" not in log, f"{member.name}:\n{log[-3000:]}"
