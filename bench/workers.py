"""Benchmark: `storyteller worker` processes sharing one PostgreSQL queue (issue 7), each
figure beside a baseline.

    .venv/bin/python bench/workers.py                       # every part
    .venv/bin/python bench/workers.py --only dispatch       # some parts

Each part runs on a fresh PostgreSQL database (on STORYTELLER_TEST_POSTGRES_URL's server,
default the local `test` one), with real worker processes started as users start them
(tests/service/cluster.py). The clock starts when the batch is committed to the queue
and stops at the last video's completion, both read from the database. Parts (the
issue's targets in brackets):

- throughput: 200 videos of a job that waits 1 s (like a remote model), 4 workers
  (`storyteller worker --concurrency 1`, four processes) beside 1 [>= 3.5x].
- dispatch: 2,000 videos of a job that answers at once, 3 workers with
  `--concurrency 2`, videos claimed and finished a second, beside 1 such worker [>= 200/s].
- recovery: SIGKILL the worker running a long video; seconds until the video runs on
  another worker, when the other worker is on another machine (a host name of its own:
  it can only go by the heartbeat timeout) and on the same machine (it sees the process
  is gone) [<= 30 s].
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.jobs import INSTANT, WAIT_1S, WAIT_LONG  # noqa: E402
from bench.service import Row, run_parts  # noqa: E402
from storyteller.config import Settings  # noqa: E402
from storyteller.db import crud  # noqa: E402
from storyteller.db.migrate import migrate  # noqa: E402
from storyteller.db.models import ENDED, Batch, Video, VideoStatus  # noqa: E402
from storyteller.db.session import make_engine, make_session_factory  # noqa: E402
from storyteller.storage.uploads import UploadStore  # noqa: E402
from tests.service.cluster import Cluster, ClusterProcess, fresh_database  # noqa: E402

# An MP4's opening; the bench jobs never read the bytes.
BYTES = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(4000)


def enqueue(cluster: Cluster, url: str, count: int) -> str:
    """A batch of `count` videos in the queue (one stored file); its id."""
    data_dir = cluster.root / "bench"
    store = UploadStore.from_settings(Settings(data_dir=data_dir, storage_dir=cluster.storage))
    stored = store.save_file(io.BytesIO(BYTES), original_name="clip.mp4", max_bytes=2**20)
    videos = [
        crud.VideoCreate(
            original_name=f"clip-{i}.mp4",
            size_bytes=stored.size,
            content_hash=stored.sha256,
            storage_path=stored.key,
        )
        for i in range(count)
    ]
    engine = make_engine(url)
    with make_session_factory(engine).begin() as session:
        batch_id = crud.create_batch(session, videos=videos, teller="local").id
    engine.dispose()
    return batch_id


def run_batch(
    workdir: Path, *, job: str, workers: int, concurrency: int, count: int, timeout: float
) -> float:
    """Seconds from committing a batch of `count` videos to its last completion, with
    `workers` worker processes already running."""
    with fresh_database("storyteller_bench") as url:
        migrate(url)
        root = workdir / f"run-{workers}x{concurrency}-{count}"
        shutil.rmtree(root, ignore_errors=True)
        with Cluster(root, url) as cluster:
            for _ in range(workers):
                cluster.add_worker(job=job, concurrency=concurrency)
            cluster.start_all()
            batch_id = enqueue(cluster, url, count)
            engine = make_engine(url)
            sessions = make_session_factory(engine)
            deadline = time.monotonic() + timeout
            while True:
                with sessions() as session:
                    ended = session.scalar(
                        select(func.count()).where(
                            Video.batch_id == batch_id, Video.status.in_(ENDED)
                        )
                    )
                if ended == count:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{count - (ended or 0)} videos not done in {timeout} s")
                time.sleep(0.2)
            with sessions() as session:
                created = session.scalar(select(Batch.created_at).where(Batch.id == batch_id))
                last = session.scalar(
                    select(func.max(Video.completed_at)).where(Video.batch_id == batch_id)
                )
                failed = session.scalar(
                    select(func.count()).where(
                        Video.batch_id == batch_id, Video.status != VideoStatus.COMPLETED
                    )
                )
            engine.dispose()
    if failed:
        raise SystemExit(f"{failed} videos did not complete")
    assert created is not None and last is not None
    return (last - created).total_seconds()


def bench_throughput(workdir: Path) -> list[Row]:
    count = 200
    print(f"throughput: {count} videos of 1 s, 1 worker (about {count} s)...", file=sys.stderr)
    one = run_batch(workdir, job=WAIT_1S, workers=1, concurrency=1, count=count, timeout=600)
    print("throughput: the same, 4 workers...", file=sys.stderr)
    four = run_batch(workdir, job=WAIT_1S, workers=4, concurrency=1, count=count, timeout=600)
    return [
        (
            f"throughput: {count} videos of a 1 s wait (videos/s)",
            f"{count / four:.2f} ({four:.1f} s, 4 workers x --concurrency 1)",
            f"{count / one:.2f} ({one:.1f} s, 1 worker)",
            f"{one / four:.2f}x",
            ">= 3.5x",
        )
    ]


def bench_dispatch(workdir: Path) -> list[Row]:
    count = 2000
    print(f"dispatch: {count} instant videos, 1 worker...", file=sys.stderr)
    one = run_batch(workdir, job=INSTANT, workers=1, concurrency=2, count=count, timeout=600)
    print("dispatch: the same, 3 workers...", file=sys.stderr)
    three = run_batch(workdir, job=INSTANT, workers=3, concurrency=2, count=count, timeout=600)
    return [
        (
            f"dispatch: {count} instant videos (videos/s)",
            f"{count / three:.0f} ({three:.1f} s, 3 workers x --concurrency 2)",
            f"{count / one:.0f} ({one:.1f} s, 1 worker x --concurrency 2)",
            f"{one / three:.2f}x",
            ">= 200/s",
        )
    ]


def recovery_seconds(workdir: Path, *, hosts: tuple[str, str] | None) -> float:
    """SIGKILL the worker running a long video; seconds until another worker runs it.
    `hosts`: the two workers' host names (each in its own UTS namespace), or None for
    both on this machine."""
    with fresh_database("storyteller_bench") as url:
        migrate(url)
        root = workdir / f"recovery-{'hosts' if hosts else 'local'}"
        shutil.rmtree(root, ignore_errors=True)
        with Cluster(root, url) as cluster:
            first, second = (
                cluster.add_worker(job=WAIT_LONG, host=hosts[i] if hosts else None)
                for i in range(2)
            )
            cluster.start(first)
            enqueue(cluster, url, 1)
            video_id = wait_running(cluster, first, None, timeout=60)
            cluster.start(second)  # idle beside it, as a second machine would be
            killed = time.monotonic()
            cluster.kill(first)
            wait_running(cluster, second, video_id, timeout=120)
            elapsed = time.monotonic() - killed
    return elapsed


def wait_running(
    cluster: Cluster, worker: ClusterProcess, video_id: str | None, *, timeout: float
) -> str:
    """Wait until `worker` runs `video_id` (or any video); that video's id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = cluster.health(worker).get("running", [])
        if running and (video_id is None or video_id in running):
            return str(video_id or running[0])
        time.sleep(0.05)
    raise SystemExit(f"{worker.name} did not run the video within {timeout} s")


def bench_recovery(workdir: Path) -> list[Row]:
    timeout_s = Settings().heartbeat_timeout_s  # what the workers run with
    rows: list[Row] = []
    if shutil.which("unshare") and os.geteuid() == 0:
        print("recovery: a worker of another machine killed...", file=sys.stderr)
        other = recovery_seconds(workdir, hosts=("machine-a", "machine-b"))
        bound = timeout_s + min(timeout_s / 4, 5.0)
        rows.append(
            (
                "recovery: killed worker's video running on another machine (s)",
                f"{other:.1f}",
                f"{bound:.0f} (heartbeat timeout {timeout_s:.0f} s + a look every "
                f"{min(timeout_s / 4, 5.0):.0f} s)",
                f"{other / bound:.2f}",
                "<= 30 s",
            )
        )
    else:
        print("recovery: skipping the other-machine case (needs root for unshare)", file=sys.stderr)
    print("recovery: a worker of this machine killed...", file=sys.stderr)
    local = recovery_seconds(workdir, hosts=None)
    rows.append(
        (
            "recovery: killed worker's video running on this machine (s)",
            f"{local:.1f}",
            f"{min(timeout_s / 4, 5.0):.0f} (a look for dead processes every)",
            f"{local / min(timeout_s / 4, 5.0):.2f}",
            "<= 30 s",
        )
    )
    return rows


PARTS: dict[str, Callable[[Path], list[Row]]] = {
    "dispatch": bench_dispatch,
    "recovery": bench_recovery,
    "throughput": bench_throughput,
}


if __name__ == "__main__":
    run_parts("workers benchmark (PostgreSQL)", __doc__ or "", PARTS)
