"""Benchmark: the admin's controls and figures (issue 16), each beside a baseline.

    .venv/bin/python bench/admin.py                    # every part
    .venv/bin/python bench/admin.py --only summary     # some parts

Parts (the issue's targets in brackets):

- pause: three real `storyteller worker` processes (PostgreSQL) claiming a stream of
  instant videos as fast as they can; then all processing is paused (the call `POST
  /api/admin/pause` makes). Measured from the database: the latest claim of each worker
  after the pause answered, and how long the pause took to answer. Beside it, the claims
  of the second before the pause: what a pause heard one second late would let through
  [pause effective within 1 s on every worker].
- first load: the bytes a browser fetches to show /admin (page, CSS, JavaScript and the
  first summary, with 1,000 videos in the database), beside the main page's [< 150 KB].
- summary: `GET /api/admin/summary`'s queries (and a /metrics scrape's) with 100,000
  videos in the database, on PostgreSQL and SQLite, p50 and p99 of 200 reads, beside
  `GET /api/stats`'s counts of the same rows [< 50 ms p99].
"""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.jobs import INSTANT  # noqa: E402
from bench.service import Row, run_parts  # noqa: E402
from bench.workers import enqueue  # noqa: E402
from storyteller.admin.metrics import render  # noqa: E402
from storyteller.admin.summary import read_summary  # noqa: E402
from storyteller.app import create_app  # noqa: E402
from storyteller.config import Settings  # noqa: E402
from storyteller.db import crud  # noqa: E402
from storyteller.db.migrate import migrate  # noqa: E402
from storyteller.db.models import Video  # noqa: E402
from storyteller.db.session import make_engine, make_session_factory  # noqa: E402
from storyteller.db.types import utcnow  # noqa: E402
from storyteller.jobs.actions import UserActions  # noqa: E402
from tests.admin.seed import seed  # noqa: E402
from tests.service.cluster import Cluster, fresh_database  # noqa: E402
from tests.service.server import served_in_thread  # noqa: E402

WORKERS = 3


def bench_pause(workdir: Path) -> list[Row]:
    print(f"pause: {WORKERS} workers claiming instant videos...", file=sys.stderr)
    with fresh_database("storyteller_bench") as url:
        migrate(url)
        root = workdir / "pause"
        shutil.rmtree(root, ignore_errors=True)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        actions = UserActions(engine)
        with Cluster(root, url) as cluster:
            for _ in range(WORKERS):
                cluster.add_worker(job=INSTANT, concurrency=2)
            cluster.start_all()
            enqueue(cluster, url, 20_000)
            time.sleep(3.0)  # every worker busy claiming
            before = utcnow()
            asked = time.monotonic()
            actions.set_paused(True)
            answered_in = time.monotonic() - asked
            answered = utcnow()
            time.sleep(2.0)
            with sessions() as session:
                last = dict(
                    session.execute(
                        select(Video.claimed_by, func.max(Video.started_at))
                        .where(Video.started_at.is_not(None))
                        .group_by(Video.claimed_by)
                    )
                    .tuples()
                    .all()
                )
                after = session.scalar(select(func.count()).where(Video.started_at > answered))
                # What a pause heard one second late would have let through.
                second = session.scalar(
                    select(func.count()).where(
                        Video.started_at > before - dt.timedelta(seconds=1),
                        Video.started_at <= before,
                    )
                )
            actions.set_paused(False)
        engine.dispose()
    worst = max(((t - answered).total_seconds() for t in last.values() if t), default=0.0)
    claimed_workers = len([w for w in last if w])
    return [
        (
            f"pause: videos claimed after the pause answered ({claimed_workers} workers busy)",
            f"{after} (latest claim {worst * 1000:+.0f} ms from the answer)",
            f"{second} (claims in the second before it: a pause heard 1 s late)",
            "-",
            "effective < 1 s on every worker",
        ),
        (
            "pause: time for the pause to answer (waits for claims under way)",
            f"{answered_in * 1000:.1f} ms",
            "-",
            "-",
            "-",
        ),
    ]


def bench_first_load(workdir: Path) -> list[Row]:
    print("first load: /admin with 1,000 videos...", file=sys.stderr)
    folder = workdir / "first-load"
    shutil.rmtree(folder, ignore_errors=True)
    url = f"sqlite:///{folder / 'store.db'}"
    folder.mkdir(parents=True)
    migrate(url)
    engine = make_engine(url)
    seed(engine, videos=1000, per_batch=50)
    engine.dispose()
    settings = Settings(data_dir=folder / "data", database_url=url)  # type: ignore[call-arg]

    def weigh(paths: list[str], address: str) -> int:
        total = 0
        for path in paths:
            answer = httpx.get(address + path, timeout=30)
            answer.raise_for_status()
            total += len(answer.content)
        return total

    with served_in_thread(create_app(settings, start_engine=False)) as address:
        admin = weigh(
            ["/admin", "/assets/admin.css", "/assets/admin.js", "/api/admin/summary"], address
        )
        main = weigh(["/", "/assets/app.css", "/assets/app.js"], address)
    return [
        (
            "first load of /admin (page, CSS, JS, first summary; uncompressed)",
            f"{admin / 1024:.1f} KB",
            f"{main / 1024:.1f} KB (the main page, no data)",
            f"{admin / main:.2f}",
            "< 150 KB",
        )
    ]


def _timed(read: Callable[[], object], times: int) -> tuple[float, float]:
    durations = []
    read()  # warm
    for _ in range(times):
        start = time.perf_counter()
        read()
        durations.append(time.perf_counter() - start)
    durations.sort()
    p99 = durations[min(len(durations) - 1, round(0.99 * len(durations)) - 1)]
    return statistics.median(durations) * 1000, p99 * 1000


def _summary_rows(url: str, backend: str, videos: int, times: int) -> list[Row]:
    engine = make_engine(url)
    print(f"summary: seeding {videos:,} videos on {backend}...", file=sys.stderr)
    seed(engine, videos=videos, per_batch=100, spread_days=30, running_share=0.002)
    # Planner statistics and PostgreSQL's visibility map (index-only scans), as
    # autovacuum keeps them on a live database.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE" if backend == "PostgreSQL" else "ANALYZE")
    settings = Settings(daily_budget_usd=10.0)  # type: ignore[call-arg]
    sessions = make_session_factory(engine)

    def summary() -> None:
        with sessions() as session:
            read_summary(session, settings, utcnow())

    def metrics() -> None:
        with sessions() as session:
            render(session, settings)

    def stats() -> None:
        with sessions() as session:
            crud.video_counts(session)
            crud.count_batches(session)

    print(f"summary: {times} reads on {backend}...", file=sys.stderr)
    ours = _timed(summary, times)
    scrape = _timed(metrics, max(20, times // 4))
    base = _timed(stats, times)
    engine.dispose()
    return [
        (
            f"summary queries, {videos:,} videos, {backend} (p50 / p99 ms)",
            f"{ours[0]:.1f} / {ours[1]:.1f}",
            f"{base[0]:.1f} / {base[1]:.1f} (/api/stats' counts)",
            f"{ours[1] / base[1]:.1f}x",
            "< 50 ms p99",
        ),
        (
            f"/metrics scrape, {videos:,} videos, {backend} (p50 / p99 ms)",
            f"{scrape[0]:.1f} / {scrape[1]:.1f}",
            f"{base[0]:.1f} / {base[1]:.1f} (/api/stats' counts)",
            f"{scrape[1] / base[1]:.1f}x",
            "-",
        ),
    ]


def bench_summary(workdir: Path) -> list[Row]:
    videos, times = 100_000, 200
    rows: list[Row] = []
    with fresh_database("storyteller_bench") as url:
        migrate(url)
        rows += _summary_rows(url, "PostgreSQL", videos, times)
    folder = workdir / "summary-sqlite"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    url = f"sqlite:///{folder / 'store.db'}"
    migrate(url)
    rows += _summary_rows(url, "SQLite", videos, times)
    return rows


PARTS: dict[str, Callable[[Path], list[Row]]] = {
    "pause": bench_pause,
    "first-load": bench_first_load,
    "summary": bench_summary,
}

if __name__ == "__main__":
    run_parts("admin benchmark", __doc__ or "", PARTS)
