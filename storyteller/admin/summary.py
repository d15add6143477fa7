"""The numbers of the admin dashboard, read from the database in one go.

Every figure comes from the rows every process shares (videos, stories, failed attempts'
costs, the workers' registry, stage timings), so the page shows the same whichever web
process answers, and whichever machines run the videos. Each query is indexed: the
waiting videos by the claim index, what ended by `completed_at`, spending by the
stories' and failed attempts' `created_at`.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, case, cast, func, literal_column, select
from sqlalchemy.orm import Session

from storyteller.config import Settings
from storyteller.db.models import (
    Batch,
    BatchStatus,
    Priority,
    ServiceState,
    Spend,
    StageTiming,
    User,
    Video,
    VideoStatus,
    WorkerRecord,
)
from storyteller.db.types import utcnow

# Failed videos named as examples of each cause.
EXAMPLES_PER_CAUSE = 3
# Running videos listed (the busiest service has a few hundred at once).
RUNNING_LISTED = 200
# Batches with waiting or running videos listed for their controls.
BATCHES_LISTED = 50
# Stopped workers, and silent ones (killed: they never said they stopped), stay listed
# this long.
STOPPED_LISTED = dt.timedelta(hours=1)
# The newest stage timings the percentiles are taken from on SQLite, which has no
# percentile function (PostgreSQL takes every timing of the day).
TIMINGS_READ = 5_000
MINUTES_A_DAY = 24 * 60


@dataclass
class Summary:
    """The dashboard's figures (see `docs/api.md`, `GET /api/admin/summary`)."""

    now: dt.datetime
    paused: bool
    waiting: list[dict[str, Any]]
    running: list[dict[str, Any]]
    ended: dict[str, dict[str, int]]
    throughput: list[int]  # videos ended each minute of the last 24 hours, oldest first
    stages: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    spending: dict[str, Any]
    workers: list[dict[str, Any]]
    batches: list[dict[str, Any]] = field(default_factory=list)


def read_summary(session: Session, settings: Settings, now: dt.datetime | None = None) -> Summary:
    now = now or utcnow()
    return Summary(
        now=now,
        paused=bool(session.scalar(select(ServiceState.paused).where(ServiceState.id == 1))),
        waiting=waiting(session, now),
        running=running(session, now),
        ended=ended(session, now),
        throughput=throughput(session, now),
        stages=stage_times(session, now),
        failures=failures(session),
        spending=spending(session, settings, now),
        workers=workers(session, settings, now),
        batches=open_batches(session),
    )


def waiting(session: Session, now: dt.datetime) -> list[dict[str, Any]]:
    """Pending videos by priority (every priority, zeros too), and each one's oldest wait."""
    found = {
        Priority(priority): (count, oldest)
        for priority, count, oldest in session.execute(
            select(Video.priority, func.count(), func.min(Video.created_at))
            .where(Video.status == VideoStatus.PENDING)
            .group_by(Video.priority)
        ).tuples()
    }
    rows = []
    for priority in Priority:
        count, oldest = found.get(priority, (0, None))
        rows.append(
            {
                "priority": priority.value,
                "count": count,
                "oldestWaitS": _seconds(now, oldest),
            }
        )
    return rows


def running(session: Session, now: dt.datetime) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            Video.id,
            Video.batch_id,
            Video.original_name,
            Video.claimed_by,
            Video.stage,
            Video.progress,
            Video.started_at,
        )
        .where(Video.status == VideoStatus.PROCESSING)
        .order_by(Video.started_at)
        .limit(RUNNING_LISTED)
    )
    return [
        {
            "videoId": row.id,
            "jobId": row.batch_id,
            "name": row.original_name,
            "workerId": row.claimed_by,
            "stage": row.stage,
            "progress": round(row.progress or 0.0, 3),
            "runningS": _seconds(now, row.started_at),
        }
        for row in rows
    ]


def ended(session: Session, now: dt.datetime) -> dict[str, dict[str, int]]:
    """Videos that ended in the last hour and the last day, by how they ended."""
    hour, day = now - dt.timedelta(hours=1), now - dt.timedelta(days=1)
    outcomes = (VideoStatus.COMPLETED, VideoStatus.FAILED, VideoStatus.CANCELLED)
    figures = {"lastHour": dict.fromkeys(outcomes, 0), "lastDay": dict.fromkeys(outcomes, 0)}
    for status, in_hour, in_day in session.execute(
        select(
            Video.status,
            func.sum(case((Video.completed_at >= hour, 1), else_=0)),
            func.count(),
        )
        # `completed_at` is set when a video ends and cleared when it is queued again:
        # the range alone finds them (on ix_video_completed_at).
        .where(Video.completed_at >= day)
        .group_by(Video.status)
    ).tuples():
        if VideoStatus(status) not in outcomes:
            continue
        figures["lastHour"][VideoStatus(status)] = int(in_hour or 0)
        figures["lastDay"][VideoStatus(status)] = int(in_day)
    return {span: {s.value: n for s, n in counts.items()} for span, counts in figures.items()}


def throughput(session: Session, now: dt.datetime) -> list[int]:
    """Videos completed or failed in each minute of the last 24 hours, oldest first."""
    since = now - dt.timedelta(minutes=MINUTES_A_DAY)
    if session.get_bind().dialect.name == "postgresql":
        seconds: Any = func.extract("epoch", Video.completed_at - since)
    else:  # SQLite keeps UTC text: julianday's difference is in days
        seconds = (
            func.julianday(Video.completed_at) - func.julianday(since.replace(tzinfo=None))
        ) * 86400
    minute = cast(func.floor(seconds / 60), Integer).label("minute")
    counts = [0] * MINUTES_A_DAY
    for index, count in session.execute(
        select(minute, func.count())
        .where(Video.completed_at >= since, Video.status != VideoStatus.CANCELLED)
        .group_by(literal_column("minute"))
    ).tuples():
        if 0 <= int(index) < MINUTES_A_DAY:
            counts[int(index)] += count
    return counts


def stage_times(session: Session, now: dt.datetime) -> list[dict[str, Any]]:
    """Seconds each stage took in the last 24 hours: how many runs, p50 and p95."""
    since = now - dt.timedelta(days=1)
    recent = StageTiming.ended_at >= since
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            select(
                StageTiming.stage,
                func.count(),
                func.percentile_cont(0.5).within_group(StageTiming.seconds),
                func.percentile_cont(0.95).within_group(StageTiming.seconds),
            )
            .where(recent)
            .group_by(StageTiming.stage)
            .order_by(StageTiming.stage)
        ).tuples()
        return [
            {"stage": stage, "count": count, "p50S": round(p50, 3), "p95S": round(p95, 3)}
            for stage, count, p50, p95 in rows
        ]
    counts = dict(
        session.execute(
            select(StageTiming.stage, func.count()).where(recent).group_by(StageTiming.stage)
        )
        .tuples()
        .all()
    )
    by_stage: dict[str, list[float]] = {}
    for stage, seconds in session.execute(
        select(StageTiming.stage, StageTiming.seconds)
        .where(recent)
        .order_by(StageTiming.ended_at.desc())
        .limit(TIMINGS_READ)
    ).tuples():
        by_stage.setdefault(stage, []).append(seconds)
    return [
        {
            "stage": stage,
            "count": counts.get(stage, len(values)),
            "p50S": round(_percentile(values, 0.5), 3),
            "p95S": round(_percentile(values, 0.95), 3),
        }
        for stage, values in sorted(by_stage.items())
    ]


def failures(session: Session) -> list[dict[str, Any]]:
    """Failed videos grouped by the kind of their reason (`error_code`), most first, with
    the newest few of each as examples (index `ix_video_failures`: counting is an index
    scan, each kind's examples an index range)."""
    failed = Video.status == VideoStatus.FAILED
    counts = session.execute(
        select(Video.error_code, func.count()).where(failed).group_by(Video.error_code)
    ).all()
    rows = []
    for code, count in sorted(counts, key=lambda row: (-row[1], row[0] or "")):
        same = Video.error_code == code if code is not None else Video.error_code.is_(None)
        examples = session.execute(
            select(Video.id, Video.batch_id, Video.original_name, Video.error, Video.error_cause)
            .where(failed, same)
            .order_by(Video.completed_at.desc())
            .limit(EXAMPLES_PER_CAUSE)
        ).all()
        kind = code or "failed"
        rows.append(
            {
                "code": kind,
                "cause": examples[0].error_cause if examples else None,
                "label": cause_label(kind),
                "count": count,
                "examples": [
                    {
                        "videoId": row.id,
                        "jobId": row.batch_id,
                        "name": row.original_name,
                        "error": row.error,
                    }
                    for row in examples
                ],
            }
        )
    return rows


# What each kind of reason is called on the page.
CAUSE_LABELS = {
    "not_a_video": "not a video",
    "unreadable": "not a video",
    "unsupported_codec": "not a video",
    "too_long": "too long",
    "file_missing": "file missing",
    "worker_crashed": "crashed",
    "worker_lost": "worker lost",
    "interrupted": "service stopped",
    "stage_error": "analysis broke",
    "teller_failed": "teller failed",
    "blocked": "provider refused",
    "auth": "provider refused",
    "not_configured": "teller not configured",
    "unfinished": "provider gave up",
    "upload_failed": "provider upload failed",
    "upload_timeout": "provider upload failed",
    "story_invalid": "story broke the rules",
    "storage": "storage",
}


def cause_label(code: str) -> str:
    return CAUSE_LABELS.get(code, code.replace("_", " "))


def spending(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Dollars and tokens today (UTC) and this month by teller and model, stories and
    failed attempts apart, against the daily budget; and by user. From the ledger
    (`Spend`, one pass over the month): what deleted batches spent still counts."""
    day = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    models: dict[tuple[str, str | None], dict[str, Any]] = {}
    owners: dict[str | None, dict[str, Any]] = {}
    for (
        owner_id,
        teller,
        model,
        wrote_story,
        usd_today,
        usd_month,
        tokens_in,
        tokens_out,
        count,
    ) in session.execute(
        select(
            Spend.owner_id,
            Spend.teller,
            Spend.model,
            Spend.wrote_story,
            func.sum(case((Spend.created_at >= day, Spend.cost_usd), else_=0.0)),
            func.sum(Spend.cost_usd),
            func.sum(Spend.tokens_in),
            func.sum(Spend.tokens_out),
            func.count(),
        )
        .where(Spend.created_at >= month)
        .group_by(Spend.owner_id, Spend.teller, Spend.model, Spend.wrote_story)
    ).tuples():
        usd_today, usd_month = float(usd_today or 0.0), float(usd_month or 0.0)
        entry = models.setdefault(
            (teller, model),
            {
                "teller": teller,
                "model": model,
                "todayUsd": 0.0,
                "monthUsd": 0.0,
                "failedTodayUsd": 0.0,
                "failedMonthUsd": 0.0,
                "tokensIn": 0,
                "tokensOut": 0,
                "stories": 0,
                "failedAttempts": 0,
            },
        )
        entry["todayUsd"] += usd_today
        entry["monthUsd"] += usd_month
        entry["tokensIn"] += int(tokens_in or 0)
        entry["tokensOut"] += int(tokens_out or 0)
        if wrote_story:
            entry["stories"] += count
        else:
            entry["failedTodayUsd"] += usd_today
            entry["failedMonthUsd"] += usd_month
            entry["failedAttempts"] += count
        owner = owners.setdefault(owner_id, {"todayUsd": 0.0, "monthUsd": 0.0, "attempts": 0})
        owner["todayUsd"] += usd_today
        owner["monthUsd"] += usd_month
        owner["attempts"] += count
    rows = sorted(models.values(), key=lambda entry: (-entry["monthUsd"], entry["teller"]))
    for entry in rows:
        for key in ("todayUsd", "monthUsd", "failedTodayUsd", "failedMonthUsd"):
            entry[key] = round(entry[key], 6)
    return {
        "todayUsd": round(sum(entry["todayUsd"] for entry in rows), 6),
        "monthUsd": round(sum(entry["monthUsd"] for entry in rows), 6),
        "failedTodayUsd": round(sum(entry["failedTodayUsd"] for entry in rows), 6),
        "failedMonthUsd": round(sum(entry["failedMonthUsd"] for entry in rows), 6),
        "dailyBudgetUsd": settings.daily_budget_usd,
        "batchBudgetUsd": settings.batch_budget_usd,
        "byModel": rows,
        "byUser": _by_user(session, owners),
    }


def _by_user(session: Session, owners: dict[str | None, dict[str, Any]]) -> list[dict[str, Any]]:
    """This month's spending by the owner of the batches (None: the open mode's batches,
    which belong to no user), most first, with each user's name and daily budget."""
    known = {
        user_id: (name, budget)
        for user_id, name, budget in session.execute(
            select(User.id, User.name, User.ai_usd_per_day).where(
                User.id.in_([owner for owner in owners if owner is not None])
            )
        ).tuples()
    }
    users = [
        {
            "userId": owner_id,
            "name": known.get(owner_id, (None, None))[0] if owner_id else None,
            "dailyBudgetUsd": known.get(owner_id, (None, None))[1] if owner_id else None,
            "todayUsd": round(spent["todayUsd"], 6),
            "monthUsd": round(spent["monthUsd"], 6),
            "attempts": spent["attempts"],
        }
        for owner_id, spent in owners.items()
    ]
    return sorted(users, key=lambda user: (-user["monthUsd"], user["name"] or ""))


def workers(session: Session, settings: Settings, now: dt.datetime) -> list[dict[str, Any]]:
    """Engines running, and those stopped (or silent) in the last hour."""
    rows = session.scalars(
        select(WorkerRecord)
        .where(
            (WorkerRecord.stopped_at >= now - STOPPED_LISTED)
            | (
                WorkerRecord.stopped_at.is_(None)
                & (WorkerRecord.heartbeat_at >= now - STOPPED_LISTED)
            )
        )
        .order_by(WorkerRecord.started_at)
    )
    silent = dt.timedelta(seconds=settings.heartbeat_timeout_s)
    # What each holds by the video rows, which a report may lag behind by a second.
    holding = dict(
        session.execute(
            select(Video.claimed_by, func.count())
            .where(Video.status == VideoStatus.PROCESSING)
            .group_by(Video.claimed_by)
        )
        .tuples()
        .all()
    )
    listed = []
    for worker in rows:
        holds = max(len(worker.current), holding.get(worker.id, 0))
        if worker.stopped_at is not None:
            state = "stopped"
        elif now - worker.heartbeat_at > silent:
            state = "silent"
        elif worker.stop_requested:
            state = "stopping"
        elif worker.draining:
            state = "draining" if holds else "drained"
        else:
            state = "working" if holds else "idle"
        listed.append(
            {
                "id": worker.id,
                "host": worker.host,
                "pid": worker.pid,
                "kind": worker.kind.value,
                "state": state,
                "concurrency": worker.concurrency,
                "queues": list(worker.queues),
                "startedAt": worker.started_at,
                "heartbeatAt": worker.heartbeat_at,
                "stoppedAt": worker.stopped_at,
                "videosDone": worker.videos_done,
                "current": list(worker.current),
                "draining": worker.draining,
                "stopRequested": worker.stop_requested,
            }
        )
    return listed


def open_batches(session: Session) -> list[dict[str, Any]]:
    """The newest batches that have not ended, with their videos waiting and running, for
    their controls: the batches first (newest, by `created_at`), then their counts (on
    `ix_video_batch_status`), so the cost does not grow with the backlog."""
    batches = session.execute(
        select(Batch.id, Batch.created_at, Batch.priority, Batch.paused, Batch.teller)
        .where(Batch.status == BatchStatus.PROCESSING)
        .order_by(Batch.created_at.desc())
        .limit(BATCHES_LISTED)
    ).all()
    counts: dict[tuple[str, VideoStatus], int] = {}
    if batches:
        for batch_id, status, count in session.execute(
            select(Video.batch_id, Video.status, func.count())
            .where(
                Video.batch_id.in_([row.id for row in batches]),
                Video.status.in_((VideoStatus.PENDING, VideoStatus.PROCESSING)),
            )
            .group_by(Video.batch_id, Video.status)
        ).tuples():
            counts[(batch_id, VideoStatus(status))] = count
    return [
        {
            "jobId": row.id,
            "createdAt": row.created_at,
            "priority": Priority(row.priority).value,
            "paused": row.paused,
            "teller": row.teller,
            "waiting": counts.get((row.id, VideoStatus.PENDING), 0),
            "running": counts.get((row.id, VideoStatus.PROCESSING), 0),
        }
        for row in batches
    ]


def _seconds(now: dt.datetime, then: dt.datetime | None) -> float | None:
    return None if then is None else round(max(0.0, (now - then).total_seconds()), 1)


def _percentile(values: list[float], fraction: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]
