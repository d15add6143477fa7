"""The admin's controls with many machines, played on one: a web process with
STORYTELLER_JOB_ENGINE=workers and two real `storyteller worker` processes on one
PostgreSQL, running the scripted jobs of tests/jobs. Pause holds every worker at once,
a drained worker finishes its video and takes no other, a stopped one exits, and the
metrics of the two workers add up to what the database holds."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service.test_workers import Cluster, cluster, postgres_url, started, wait_until

pytestmark = pytest.mark.timeout(180)
__all__ = ["cluster", "postgres_url", "started"]  # the fixtures


def admin(cluster: Cluster, method: str, path: str) -> dict | list:
    answer = httpx.request(method, f"{cluster.web.url}/api/admin/{path}", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def statuses(cluster: Cluster, job_id: str) -> list[str]:
    job = httpx.get(f"{cluster.web.url}/api/job/{job_id}", timeout=10).json()
    return [video["statusDetail"] for video in job["videos"]]


def state(cluster: Cluster, worker_id: str) -> str:
    rows = {w["id"]: w for w in admin(cluster, "GET", "workers")}  # type: ignore[index, union-attr]
    return str(rows[worker_id]["state"])


def metrics(cluster: Cluster) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"{cluster.web.url}/metrics", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


@pytest.fixture
def live(cluster: Cluster) -> Iterator[Cluster]:
    """Both workers registered, processing on; afterwards nothing is left paused."""
    ids = {worker.health().json()["worker_id"] for worker in cluster.workers}
    wait_until(
        lambda: (
            ids <= {w["id"] for w in admin(cluster, "GET", "workers") if w["state"] != "stopped"}
        ),  # type: ignore[index, union-attr]
        30,
    )
    yield cluster
    admin(cluster, "POST", "resume")
    for worker in admin(cluster, "GET", "workers"):
        if worker["draining"] and worker["state"] != "stopped":  # type: ignore[index]
            admin(cluster, "POST", f"workers/{worker['id']}/resume")  # type: ignore[index]


def test_pause_holds_every_worker_and_resume_runs_the_queue(live: Cluster) -> None:
    cluster = live
    admin(cluster, "POST", "pause")
    job = cluster.upload(*[f"ok-pause-{n}.mp4" for n in range(4)])
    time.sleep(2.0)  # both workers were woken by the upload's NOTIFY, and claimed nothing
    assert set(statuses(cluster, job["jobId"])) == {"pending"}
    started = time.monotonic()
    admin(cluster, "POST", "resume")
    wait_until(lambda: set(statuses(cluster, job["jobId"])) == {"completed"}, 30)
    assert time.monotonic() - started < 10

    # The two workers' counters add up to what the database holds (each reports every
    # second: the last video may take that long to be counted).
    def done() -> float:
        return sum(
            value
            for (name, _), value in metrics(cluster).items()
            if name == "storyteller_worker_videos_done_total"
        )

    wait_until(lambda: done() == len(cluster.runs()), 10)
    figures = metrics(cluster)
    per_worker = [
        value
        for (name, _), value in figures.items()
        if name == "storyteller_worker_videos_done_total"
    ]
    assert len(per_worker) == 2 and len(cluster.runs()) >= 4
    completed = sum(
        value
        for (name, labels), value in figures.items()
        if name == "storyteller_videos" and ("state", "completed") in labels
    )
    summary = admin(cluster, "GET", "summary")
    assert completed == summary["ended"]["lastDay"]["completed"] >= 4  # type: ignore[call-overload]
    assert figures[("storyteller_paused", ())] == 0.0


def test_a_drained_worker_finishes_its_video_and_takes_no_other(live: Cluster) -> None:
    cluster = live
    job = cluster.upload("sleep-3.mp4")
    video = job["videos"][0]["id"]
    wait_until(lambda: cluster.holder(video) is not None, 30)
    holder = cluster.holder(video)
    assert holder is not None
    drained_id = holder.health().json()["worker_id"]
    admin(cluster, "POST", f"workers/{drained_id}/drain")
    more = cluster.upload(*[f"ok-drain-{n}.mp4" for n in range(3)])
    wait_until(lambda: set(statuses(cluster, more["jobId"])) == {"completed"}, 30)
    wait_until(lambda: statuses(cluster, job["jobId"]) == ["completed"], 30)
    wait_until(lambda: state(cluster, drained_id) == "drained", 5)
    rows = {w["id"]: w for w in admin(cluster, "GET", "workers")}  # type: ignore[index, union-attr]
    assert holder.health().json()["draining"] is True
    # None of the three ran on the drained worker: it held only the long video.
    assert holder.health().json()["running"] == []
    before = rows[drained_id]["videosDone"]
    again = cluster.upload("ok-after-drain.mp4")
    wait_until(lambda: statuses(cluster, again["jobId"]) == ["completed"], 30)
    rows = {w["id"]: w for w in admin(cluster, "GET", "workers")}  # type: ignore[index, union-attr]
    assert rows[drained_id]["videosDone"] == before


def test_an_admin_stop_ends_a_worker_process(live: Cluster) -> None:
    cluster = live
    worker = cluster.workers[1]
    worker_id = worker.health().json()["worker_id"]
    admin(cluster, "POST", f"workers/{worker_id}/stop")
    wait_until(lambda: not worker.running(), 30)
    assert worker.process.returncode == 0  # type: ignore[attr-defined]
    rows = {w["id"]: w for w in admin(cluster, "GET", "workers")}  # type: ignore[index, union-attr]
    assert rows[worker_id]["state"] == "stopped"
