"""`GET /metrics`: the service's figures in Prometheus' text format, read from the database
at each scrape.

Why from the database rather than counters kept in each process: the work happens in
many processes on many machines (job processes, `storyteller worker`s, web processes),
and every fact a metric counts is already a row they all share (the videos' states, the
stories' and failed attempts' tokens and dollars, the stage timings, the workers'
registry). Any web process therefore answers the same, correct numbers for the whole
service, with no PROMETHEUS_MULTIPROC_DIR to share between processes (which cannot span
machines) and nothing lost when a process restarts. A scrape costs a few grouped,
indexed queries (see bench/admin.py).

Totals that only grow while rows are kept are counters (`_total`); they fall when a
batch is deleted, which Prometheus' `rate()` reads as a counter reset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from storyteller.config import Settings
from storyteller.db.models import (
    MessageState,
    OutboxMessage,
    Priority,
    ServiceState,
    Spend,
    StageTiming,
    Video,
    VideoStatus,
    WorkerRecord,
)
from storyteller.db.types import utcnow

# Upper bounds of the stage-time buckets, in seconds (a probe takes a fraction of one,
# speech on a long video minutes).
STAGE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class ServiceCollector(Collector):
    """The metrics of one database, read when collected."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        session = self.session
        paused = GaugeMetricFamily(
            "storyteller_paused", "1 while an admin has paused all processing."
        )
        paused.add_metric(
            [], float(bool(session.scalar(select(ServiceState.paused).where(ServiceState.id == 1))))
        )
        yield paused

        videos = GaugeMetricFamily(
            "storyteller_videos", "Videos by state and priority.", labels=["state", "priority"]
        )
        found = {
            (VideoStatus(status).value, Priority(priority).value): count
            for status, priority, count in session.execute(
                select(Video.status, Video.priority, func.count()).group_by(
                    Video.status, Video.priority
                )
            ).tuples()
        }
        for status in VideoStatus:
            for priority in Priority:
                videos.add_metric(
                    [status.value, priority.value], found.get((status.value, priority.value), 0)
                )
        yield videos

        oldest = GaugeMetricFamily(
            "storyteller_oldest_wait_seconds",
            "How long the oldest waiting video of each priority has waited.",
            labels=["priority"],
        )
        now = utcnow()
        for priority, first in session.execute(
            select(Video.priority, func.min(Video.created_at))
            .where(Video.status == VideoStatus.PENDING)
            .group_by(Video.priority)
        ).tuples():
            oldest.add_metric([Priority(priority).value], (now - first).total_seconds())
        yield oldest

        failed = GaugeMetricFamily(
            "storyteller_failed_videos",
            "Failed videos by the kind of their reason (code) and whose fault (cause).",
            labels=["code", "cause"],
        )
        for code, cause, count in session.execute(
            select(Video.error_code, Video.error_cause, func.count())
            .where(Video.status == VideoStatus.FAILED)
            .group_by(Video.error_code, Video.error_cause)
        ).tuples():
            failed.add_metric([code or "failed", str(cause or "service")], count)
        yield failed

        yield from self._stages()
        yield from self._spending()

        uploaded = CounterMetricFamily(
            "storyteller_upload_bytes", "Bytes of the videos uploaded (and still kept)."
        )
        uploaded.add_metric([], float(session.scalar(select(func.sum(Video.size_bytes))) or 0))
        yield uploaded

        yield from self._workers()
        yield from self._notifications()

    def _notifications(self) -> Iterator[Metric]:
        messages = GaugeMetricFamily(
            "storyteller_notifications",
            "Notifications in the outbox by channel and state (retrying: pending after a "
            "failed attempt).",
            labels=["channel", "state"],
        )
        retrying = case(
            (
                (OutboxMessage.state == MessageState.PENDING) & (OutboxMessage.attempts > 0),
                "retrying",
            ),
            else_=OutboxMessage.state,
        )
        found = {
            (str(channel), str(state)): count
            for channel, state, count in self.session.execute(
                select(OutboxMessage.channel, retrying, func.count()).group_by(
                    OutboxMessage.channel, retrying
                )
            ).tuples()
        }
        for channel in ("webhook", "email"):
            for state in ("pending", "retrying", "delivering", "delivered", "failed"):
                messages.add_metric([channel, state], found.get((channel, state), 0))
        yield messages
        due = GaugeMetricFamily(
            "storyteller_outbox_oldest_due_seconds",
            "How long the notification due longest has waited to be sent (0: none waits).",
        )
        now = utcnow()
        first = self.session.scalar(
            select(func.min(OutboxMessage.next_attempt_at)).where(
                OutboxMessage.state == MessageState.PENDING, OutboxMessage.next_attempt_at <= now
            )
        )
        due.add_metric([], (now - first).total_seconds() if first is not None else 0.0)
        yield due

    def _stages(self) -> Iterator[Metric]:
        counts = [
            func.sum(case((StageTiming.seconds <= bound, 1), else_=0)) for bound in STAGE_BUCKETS
        ]
        histogram = HistogramMetricFamily(
            "storyteller_stage_seconds",
            "Seconds each stage of a video took, as the engines saw the stages go by.",
            labels=["stage"],
        )
        for stage, count, total, *cumulative in self.session.execute(
            select(StageTiming.stage, func.count(), func.sum(StageTiming.seconds), *counts)
            .group_by(StageTiming.stage)
            .order_by(StageTiming.stage)
        ).tuples():
            buckets = [
                (_bound(bound), float(n or 0))
                for bound, n in zip(STAGE_BUCKETS, cumulative, strict=True)
            ]
            buckets.append(("+Inf", float(count)))
            histogram.add_metric([stage], buckets, float(total or 0.0))
        yield histogram

    def _spending(self) -> Iterator[Metric]:
        tokens = CounterMetricFamily(
            "storyteller_tokens",
            "Tokens the AI tellers used, by teller, model and direction (in or out), for "
            "stories and for attempts that wrote none.",
            labels=["teller", "model", "direction"],
        )
        dollars = CounterMetricFamily(
            "storyteller_cost_dollars",
            "Dollars the AI tellers cost, by teller and model; `spent_on` tells stories "
            "from failed attempts.",
            labels=["teller", "model", "spent_on"],
        )
        totals: dict[tuple[str, str], list[float]] = {}
        # From the ledger, which deleting a batch does not shrink: counters never go down.
        for teller, model, wrote_story, tokens_in, tokens_out, cost in self.session.execute(
            select(
                Spend.teller,
                Spend.model,
                Spend.wrote_story,
                func.sum(Spend.tokens_in),
                func.sum(Spend.tokens_out),
                func.sum(Spend.cost_usd),
            ).group_by(Spend.teller, Spend.model, Spend.wrote_story)
        ).tuples():
            key = (teller, model or "")
            entry = totals.setdefault(key, [0.0, 0.0])
            entry[0] += float(tokens_in or 0)
            entry[1] += float(tokens_out or 0)
            spent_on = "story" if wrote_story else "failed_attempt"
            dollars.add_metric([teller, model or "", spent_on], float(cost or 0.0))
        for (teller, model), (sum_in, sum_out) in sorted(totals.items()):
            tokens.add_metric([teller, model, "in"], sum_in)
            tokens.add_metric([teller, model, "out"], sum_out)
        yield tokens
        yield dollars

    def _workers(self) -> Iterator[Metric]:
        silent_before = utcnow().timestamp() - self.settings.heartbeat_timeout_s
        up = GaugeMetricFamily(
            "storyteller_worker_up",
            "1 for each engine reporting (0: stopped or silent), with its host and kind.",
            labels=["worker", "host", "kind"],
        )
        draining = GaugeMetricFamily(
            "storyteller_worker_draining", "1 for each engine told to drain.", labels=["worker"]
        )
        done = CounterMetricFamily(
            "storyteller_worker_videos_done",
            "Videos each engine has finished (completed or failed an attempt) since it started.",
            labels=["worker", "host", "kind"],
        )
        recent = utcnow() - dt.timedelta(hours=1)  # killed engines drop out after an hour
        for worker in self.session.scalars(
            select(WorkerRecord).where(
                WorkerRecord.stopped_at.is_(None), WorkerRecord.heartbeat_at >= recent
            )
        ):
            labels = [worker.id, worker.host, worker.kind.value]
            alive = worker.heartbeat_at.timestamp() >= silent_before
            up.add_metric(labels, float(alive))
            draining.add_metric([worker.id], float(worker.draining))
            done.add_metric(labels, float(worker.videos_done))
        yield up
        yield draining
        yield done


def _bound(bound: float) -> str:
    return repr(float(bound))


def render(session: Session, settings: Settings) -> bytes:
    """The metrics in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(session, settings))
    return generate_latest(registry)
