"""Benchmark: the batch at a glance (issue 17) on a big database, beside GET /health.

    .venv/bin/python bench/overview.py

A real `storyteller serve` (SQLite) with 10,000 batches of 3 videos in its history, each
with a story, and a backlog: a batch of 100 waiting videos behind 20 other batches of
100 (2,100 videos waiting in all) and 2 running. httpx reads over loopback, one request
at a time, 300 times each (50 for the searches):
- GET /api/job/{id} of the batch of 100: places in line and times left played out
  through the whole backlog at every poll [p99 well under the page's 1 s poll];
- GET /api/jobs (the history's first page) and GET /api/jobs?q=... (a search by file
  name, and one by story title, through the 30,000 videos and stories).
"""

from __future__ import annotations

import datetime as dt
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import insert, update  # noqa: E402

from storyteller.db.migrate import migrate  # noqa: E402
from storyteller.db.models import (  # noqa: E402
    Batch,
    BatchStatus,
    Priority,
    ServiceState,
    Story,
    Video,
    VideoStatus,
    WorkerKind,
    WorkerRecord,
)
from storyteller.db.session import make_engine  # noqa: E402
from tests.service.server import ServeProcess  # noqa: E402

HISTORY = 10_000
BACKLOG = 20
IN_BATCH = 100


def fill(url: str) -> str:
    """The history and the backlog; the id of the batch of 100 to poll."""
    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    batches, videos, stories = [], [], []
    for n in range(HISTORY):
        batch_id = str(uuid.uuid4())
        made = now - dt.timedelta(days=30, seconds=n)
        batches.append(
            {"id": batch_id, "created_at": made, "completed_at": made,
             "status": BatchStatus.COMPLETED, "teller": "local", "priority": Priority.NORMAL}
        )  # fmt: skip
        for position in range(3):
            video_id = str(uuid.uuid4())
            videos.append(
                {"id": video_id, "batch_id": batch_id, "position": position,
                 "original_name": f"holiday-{n}-{position}.mp4", "size_bytes": 5_000_000,
                 "content_hash": f"{n:060d}{position:04d}", "storage_path": "", "teller": "local",
                 "status": VideoStatus.COMPLETED, "created_at": made, "started_at": made,
                 "completed_at": made + dt.timedelta(seconds=20), "priority": Priority.NORMAL,
                 "run_after": made, "progress": 1.0}
            )  # fmt: skip
            stories.append(
                {"id": str(uuid.uuid4()), "video_id": video_id, "version": 1, "teller": "local",
                 "seed": 1, "title": f"Harbour Lights Number {n}-{position}", "place": "Oban",
                 "region": "Scotland", "date": dt.date(2025, 1, 1), "paragraphs": ["A.", "B."],
                 "disclaimer": "AI.", "text": "Harbour lights.", "created_at": made}
            )  # fmt: skip
    polled = ""
    for n in range(BACKLOG + 1):
        batch_id = str(uuid.uuid4())
        polled = batch_id  # the newest: behind all the others
        made = now - dt.timedelta(minutes=BACKLOG - n)
        batches.append(
            {"id": batch_id, "created_at": made, "completed_at": None,
             "status": BatchStatus.PROCESSING,
             "teller": "local", "priority": Priority.NORMAL}
        )  # fmt: skip
        for position in range(IN_BATCH):
            running = n == 0 and position < 2
            videos.append(
                {"id": str(uuid.uuid4()), "batch_id": batch_id, "position": position,
                 "original_name": f"queued-{n}-{position}.mp4", "size_bytes": 5_000_000,
                 "content_hash": f"q{n:059d}{position:04d}", "storage_path": "x",
                 "teller": "local", "created_at": made, "run_after": made,
                 "status": VideoStatus.PROCESSING if running else VideoStatus.PENDING,
                 "progress": 0.5 if running else 0.0, "started_at": now if running else None,
                 "completed_at": None, "priority": Priority.NORMAL}
            )  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(Batch), batches)
        connection.execute(insert(Video), videos)
        connection.execute(insert(Story), stories)
        # Processing paused (the server's engine claims nothing: the backlog stays as
        # it is), and two slots that report for an hour to come, standing for workers.
        connection.execute(
            update(ServiceState).where(ServiceState.id == 1).values(paused=True, changed_at=now)
        )
        connection.execute(
            insert(WorkerRecord),
            [{"id": "bench:1:slots", "host": "bench", "pid": 1, "kind": WorkerKind.WORKER,
              "concurrency": 2, "queues": ["high", "normal", "low"], "current": [],
              "started_at": now, "heartbeat_at": now + dt.timedelta(hours=1)}],
        )  # fmt: skip
    engine.dispose()
    return polled


def timed(client: httpx.Client, path: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
    return times


def row(name: str, times: list[float], health: list[float]) -> str:
    p50, p99 = statistics.median(times), sorted(times)[int(0.99 * len(times)) - 1]
    base = statistics.median(health)
    return f"| {name} | {p50:.1f} | {p99:.1f} | {p50 / base:.1f} |"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-overview-") as folder:
        data = Path(folder) / "data"
        data.mkdir()
        url = f"sqlite:///{data / 'storyteller.db'}"
        migrate(url)
        polled = fill(url)
        server = ServeProcess(data, STORYTELLER_DATABASE_URL=url, MAX_CONCURRENT_JOBS="1")
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                job = client.get(f"/api/job/{polled}").json()
                places = sorted(v["queuePosition"] for v in job["videos"])
                assert places[0] is not None and len(places) == IN_BATCH, places[:3]
                health = timed(client, "/health", 300)
                rows = [
                    row("GET /api/job/{id}, 100 videos behind 2,000", timed(
                        client, f"/api/job/{polled}", 300), health),
                    row("GET /api/jobs (first page of 10,021)", timed(
                        client, "/api/jobs", 50), health),
                    row("GET /api/jobs?q=holiday-9999 (by name)", timed(
                        client, "/api/jobs?q=holiday-9999", 50), health),
                    row("GET /api/jobs?q=number 9999 (by title)", timed(
                        client, "/api/jobs?q=number%209999", 50), health),
                ]  # fmt: skip
        finally:
            server.kill()
    print(f"# The batch at a glance, {platform.node()}, {time.ctime()}")
    print(f"\nFirst waiting place of the polled batch: {places[0]}; last: {places[-1]}.\n")
    print("| request | p50 ms | p99 ms | p50 / GET /health |")
    print("|---|---|---|---|")
    print(f"| GET /health | {statistics.median(health):.1f} | "
          f"{sorted(health)[int(0.99 * len(health)) - 1]:.1f} | 1.0 |")  # fmt: skip
    print("\n".join(rows))


if __name__ == "__main__":
    main()
