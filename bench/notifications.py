"""Benchmark: notifications (issue 15), each beside a baseline.

    .venv/bin/python bench/notifications.py                  # every part
    .venv/bin/python bench/notifications.py --only drain     # some parts

Parts (the issue's targets in brackets):

- latency: `storyteller serve`'s app (uvicorn in a thread, the embedded engine, instant
  videos) with a webhook to a local receiver; 60 one-video batches one after another.
  Measured: the receiver's arrival time of each batch.completed minus the batch's end as
  the database has it (`endedAt`, set in the transaction that ended it), p50 and p99, on
  SQLite and PostgreSQL [< 1 s p99]. Beside it: the same with the poll alone (no
  wake-up by the engine nor NOTIFY), every 1 s.
- drain: 1,000 messages already in the outbox to a local receiver, delivered by one
  process's Deliverer (8 at a time), on SQLite and PostgreSQL; beside it, one at a time
  (`STORYTELLER_NOTIFICATION_CONCURRENCY=1`) [>= 100 a second].
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.jobs import INSTANT  # noqa: E402
from bench.service import Row, run_parts  # noqa: E402
from storyteller.app import create_app  # noqa: E402
from storyteller.config import Settings  # noqa: E402
from storyteller.db.migrate import migrate  # noqa: E402
from storyteller.db.models import Channel, WebhookEndpoint  # noqa: E402
from storyteller.db.session import make_engine  # noqa: E402
from storyteller.notifications import delivery, outbox, webhooks  # noqa: E402
from tests.notifications.receiver import Receiver  # noqa: E402
from tests.service.cluster import fresh_database  # noqa: E402
from tests.service.server import served_in_thread  # noqa: E402

BATCHES = 60
MESSAGES = 1000


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _latencies(workdir: Path, url: str, *, poll_only: bool) -> list[float]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=workdir / "data",
        database_url=url,
        webhook_allowed_hosts="127.0.0.1",
        notification_poll_s=1.0 if poll_only else 0.25,
        max_concurrent_jobs=2,
    )
    waits: list[float] = []
    original_wake = delivery.Deliverer.wake
    original_notify = outbox.wake_deliverers
    if poll_only:  # the baseline: only the poll finds new messages
        delivery.Deliverer.wake = lambda self, *_: None  # type: ignore[method-assign]
        outbox.wake_deliverers = lambda db: None
    try:
        with (
            Receiver() as receiver,
            served_in_thread(create_app(settings, start_engine=True, job=INSTANT)) as address,
        ):
            client = httpx.Client(base_url=address, timeout=30)
            hook = client.post(
                "/api/webhooks", json={"url": receiver.url, "events": ["batch.completed"]}
            ).json()
            receiver.secret = hook["secret"]
            for n in range(BATCHES):
                client.post(
                    "/api/upload",
                    files=[("videos", (f"b{n}.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(n)))],
                )
                arrival = receiver.wait_for(n + 1, timeout_s=60)[n]
                ended = dt.datetime.fromisoformat(
                    arrival.event["data"]["batch"]["endedAt"].replace("Z", "+00:00")
                )
                waits.append(arrival.at - ended.timestamp())
            client.close()
    finally:
        delivery.Deliverer.wake = original_wake  # type: ignore[method-assign]
        outbox.wake_deliverers = original_notify
    return waits


def bench_latency(workdir: Path) -> list[Row]:
    rows: list[Row] = []
    for label, url, folder in _stores(workdir, "latency"):
        print(f"latency: {BATCHES} batches on {label}...", file=sys.stderr)
        ours = _latencies(folder / "ours", url(), poll_only=False)
        base = _latencies(folder / "base", url(), poll_only=True)
        for name, fraction in (("p50", 0.5), ("p99", 0.99)):
            a, b = _percentile(ours, fraction), _percentile(base, fraction)
            rows.append(
                (
                    f"batch end -> webhook arrives, {name} ({label})",
                    f"{a * 1000:.0f} ms",
                    f"{b * 1000:.0f} ms (poll 1 s)",
                    f"{b / a:.1f}x" if a > 0 else "-",
                    "< 1 s p99" if name == "p99" else "",
                )
            )
    return rows


def _stores(workdir: Path, name: str) -> Iterator[tuple[str, Callable[[], str], Path]]:
    """(label, a maker of fresh database URLs, a folder) for SQLite, then PostgreSQL."""
    folder = workdir / f"{name}-sqlite"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    made = iter(range(100))
    yield "SQLite", lambda: f"sqlite:///{folder / f'store{next(made)}.db'}", folder
    with (
        fresh_database("storyteller_bench") as first,
        fresh_database("storyteller_bench") as second,
    ):
        urls = iter([first, second])
        pg_folder = workdir / f"{name}-postgresql"
        pg_folder.mkdir(parents=True, exist_ok=True)
        yield "PostgreSQL", lambda: next(urls), pg_folder


def _drain(url: str, receiver: Receiver, concurrency: int) -> float:
    """Messages a second, delivering MESSAGES already written."""
    migrate(url)
    engine = make_engine(url)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        webhook_allowed_hosts="127.0.0.1",
        notification_concurrency=concurrency,
    )
    with Session(engine) as session:
        secret = webhooks.new_secret()
        session.add(
            WebhookEndpoint(
                id=f"ep_{concurrency}",
                user_id=None,
                url=receiver.url,
                events=["batch.completed"],
                secret=secret,
                enabled=True,
            )
        )
        session.flush()
        for n in range(MESSAGES):
            outbox.write(
                session,
                event="webhook.test",
                channel=Channel.WEBHOOK,
                payload={"type": "webhook.test", "data": {"n": n}},
                endpoint_id=f"ep_{concurrency}",
            )
        session.commit()
    receiver.secret = secret
    already = len(receiver.arrivals)
    deliverer = delivery.Deliverer(settings, engine)
    started = time.monotonic()
    deliverer.start()
    receiver.wait_for(already + MESSAGES, timeout_s=600)
    took = time.monotonic() - started
    deliverer.stop()
    engine.dispose()
    assert all(a.verified for a in receiver.arrivals[already:])
    return MESSAGES / took


def bench_drain(workdir: Path) -> list[Row]:
    rows: list[Row] = []
    for label, url, _ in _stores(workdir, "drain"):
        print(f"drain: {MESSAGES} messages on {label}...", file=sys.stderr)
        with Receiver() as receiver:
            ours = _drain(url(), receiver, 8)
            one = _drain(url(), receiver, 1)
        rows.append(
            (
                f"{MESSAGES} queued webhooks drained ({label})",
                f"{ours:.0f}/s",
                f"{one:.0f}/s (one at a time)",
                f"{ours / one:.1f}x",
                ">= 100/s",
            )
        )
    return rows


PARTS: dict[str, Callable[[Path], list[Row]]] = {
    "latency": bench_latency,
    "drain": bench_drain,
}

if __name__ == "__main__":
    run_parts("notifications benchmark", __doc__ or "", PARTS)
