"""A mix of videos in every state, written straight into a database: what the admin
tests and the admin benchmark read back through the dashboard and /metrics."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from dataclasses import dataclass, field

from sqlalchemy import Engine, insert

from storyteller.db.models import (
    AttemptCost,
    Batch,
    BatchStatus,
    ErrorCause,
    Priority,
    Spend,
    StageTiming,
    Story,
    Video,
    VideoStatus,
)
from storyteller.db.types import utcnow

CODES = [
    ("not_a_video", ErrorCause.VIDEO),
    ("too_long", ErrorCause.VIDEO),
    ("blocked", ErrorCause.SERVICE),
    ("worker_crashed", ErrorCause.SERVICE),
]


@dataclass
class Seeded:
    """What was written, counted as the dashboard should count it."""

    batches: list[str] = field(default_factory=list)
    by_status: dict[str, int] = field(default_factory=dict)
    waiting_by_priority: dict[str, int] = field(default_factory=dict)
    failed_by_code: dict[str, int] = field(default_factory=dict)
    ended_last_hour: dict[str, int] = field(default_factory=dict)
    ended_last_day: dict[str, int] = field(default_factory=dict)
    stories_today_usd: float = 0.0
    failed_today_usd: float = 0.0
    tokens_by_model: dict[str, int] = field(default_factory=dict)
    upload_bytes: int = 0
    stage_runs: dict[str, int] = field(default_factory=dict)


def seed(
    engine: Engine,
    *,
    videos: int = 60,
    per_batch: int = 20,
    spread_days: float = 0.5,
    running_share: float = 0.05,
    seed: int = 7,
) -> Seeded:
    """`videos` videos in batches of `per_batch`, their states drawn at random (fixed
    seed; `running_share` of them running), ended ones spread over the last `spread_days`
    days, with stories, failed attempts' costs and stage timings. A batch with videos
    waiting or running is `processing`, as `crud.settle_batch` keeps it."""
    rng = random.Random(seed)
    now = utcnow()
    seeded = Seeded()
    batch_rows: list[dict[str, object]] = []
    video_rows: list[dict[str, object]] = []
    story_rows: list[dict[str, object]] = []
    cost_rows: list[dict[str, object]] = []
    timing_rows: list[dict[str, object]] = []
    statuses = [
        (VideoStatus.PENDING, 0.25),
        (VideoStatus.PROCESSING, running_share),
        (VideoStatus.COMPLETED, 0.5),
        (VideoStatus.FAILED, 0.15),
        (VideoStatus.CANCELLED, 0.05),
    ]
    models = [("gemini", "gemini-2.5-flash"), ("openai", "gpt-4.1-mini"), ("local", None)]
    for first in range(0, videos, per_batch):
        batch_id = str(uuid.uuid4())
        priority = rng.choice(list(Priority))
        teller, model = rng.choice(models)
        created = now - dt.timedelta(days=spread_days * rng.random())
        seeded.batches.append(batch_id)
        batch_rows.append(
            {
                "id": batch_id,
                "created_at": created,
                "status": BatchStatus.PROCESSING,
                "priority": priority,
                "teller": teller,
                "model": model,
                "paused": False,
            }
        )
        for position in range(min(per_batch, videos - first)):
            status = rng.choices([s for s, _ in statuses], [w for _, w in statuses])[0]
            video_id = str(uuid.uuid4())
            size = rng.randrange(1_000_000, 50_000_000)
            seeded.upload_bytes += size
            ended_at = now - dt.timedelta(days=spread_days * rng.random()) if status.ended else None
            code, cause = rng.choice(CODES) if status == VideoStatus.FAILED else (None, None)
            row: dict[str, object] = {
                "id": video_id,
                "batch_id": batch_id,
                "position": position,
                "original_name": f"clip-{first + position}.mp4",
                "size_bytes": size,
                "content_hash": hashlib.sha256(video_id.encode()).hexdigest(),
                "storage_path": f"aa/{video_id}",
                "status": status,
                "stage": "speech" if status == VideoStatus.PROCESSING else None,
                "progress": 0.5 if status == VideoStatus.PROCESSING else 0.0,
                "attempts": 0 if status == VideoStatus.PENDING else 1,
                "max_attempts": 3,
                "interruptions": 0,
                "priority": priority,
                "teller": teller,
                "model": model,
                "seed": 1,
                "error": f"clip-{first + position}.mp4: {code}" if code else None,
                "error_code": code,
                "error_cause": cause,
                "created_at": created,
                "started_at": now - dt.timedelta(seconds=30)
                if status == VideoStatus.PROCESSING
                else None,
                "completed_at": ended_at,
                "heartbeat_at": now if status == VideoStatus.PROCESSING else None,
                "run_after": created,
                "claimed_by": "seed-host:1:abc" if status == VideoStatus.PROCESSING else None,
            }
            video_rows.append(row)
            seeded.by_status[status.value] = seeded.by_status.get(status.value, 0) + 1
            if status == VideoStatus.PENDING:
                seeded.waiting_by_priority[priority.value] = (
                    seeded.waiting_by_priority.get(priority.value, 0) + 1
                )
            if code:
                seeded.failed_by_code[code] = seeded.failed_by_code.get(code, 0) + 1
            if ended_at is not None:
                if ended_at >= now - dt.timedelta(hours=1):
                    seeded.ended_last_hour[status.value] = (
                        seeded.ended_last_hour.get(status.value, 0) + 1
                    )
                if ended_at >= now - dt.timedelta(days=1):
                    seeded.ended_last_day[status.value] = (
                        seeded.ended_last_day.get(status.value, 0) + 1
                    )
            spend = model is not None
            if status == VideoStatus.COMPLETED:
                cost = round(rng.uniform(0.001, 0.01), 6) if spend else None
                tokens = (1000, 200) if spend else (None, None)
                story_rows.append(
                    {
                        "id": str(uuid.uuid4()),
                        "video_id": video_id,
                        "version": 1,
                        "teller": teller,
                        "model": model,
                        "seed": 1,
                        "title": '"A story"',
                        "place": "Banff",
                        "region": "Alberta",
                        "date": dt.date(2025, 1, 14),
                        "paragraphs": ["One.", "Two.", "Three."],
                        "disclaimer": "AI.",
                        "text": "A story",
                        "created_at": ended_at,
                        "tokens_in": tokens[0],
                        "tokens_out": tokens[1],
                        "cost_usd": cost,
                    }
                )
                if spend and ended_at and ended_at >= _day(now):
                    seeded.stories_today_usd += cost or 0.0
                if spend:
                    seeded.tokens_by_model[str(model)] = (
                        seeded.tokens_by_model.get(str(model), 0) + 1200
                    )
                for stage, seconds in (("probe", 0.1), ("scenes", 2.0), ("speech", 3.0)):
                    timing_rows.append(
                        {
                            "video_id": video_id,
                            "stage": stage,
                            "seconds": seconds * rng.uniform(0.5, 1.5),
                            "ended_at": ended_at,
                        }
                    )
                    seeded.stage_runs[stage] = seeded.stage_runs.get(stage, 0) + (
                        1 if ended_at and ended_at >= now - dt.timedelta(days=1) else 0
                    )
            if status == VideoStatus.FAILED and spend:
                cost_rows.append(
                    {
                        "video_id": video_id,
                        "attempt": 1,
                        "teller": teller,
                        "model": model,
                        "tokens_in": 500,
                        "tokens_out": 100,
                        "cost_usd": 0.002,
                        "created_at": ended_at,
                    }
                )
                if ended_at and ended_at >= _day(now):
                    seeded.failed_today_usd += 0.002
                seeded.tokens_by_model[str(model)] = seeded.tokens_by_model.get(str(model), 0) + 600
    open_batches = {
        row["batch_id"]
        for row in video_rows
        if row["status"] in (VideoStatus.PENDING, VideoStatus.PROCESSING)
    }
    for batch in batch_rows:
        if batch["id"] not in open_batches:
            batch["status"] = BatchStatus.COMPLETED
            batch["completed_at"] = now
    # The ledger, as the queue writes it beside each story and failed attempt.
    batch_of = {row["id"]: row["batch_id"] for row in video_rows}
    owner_of = {row["id"]: row.get("owner_id") for row in batch_rows}
    spend_rows = [
        {
            "created_at": row["created_at"],
            "owner_id": owner_of[batch_of[row["video_id"]]],
            "batch_id": batch_of[row["video_id"]],
            "video_id": row["video_id"],
            "attempt": 1,
            "teller": row["teller"],
            "model": row["model"],
            "tokens_in": row["tokens_in"],
            "tokens_out": row["tokens_out"],
            "cost_usd": row["cost_usd"],
            "wrote_story": wrote_story,
        }
        for rows, wrote_story in ((story_rows, True), (cost_rows, False))
        for row in rows
        if row["tokens_in"] is not None
    ]
    with engine.begin() as connection:
        for table, rows in (
            (Batch, batch_rows),
            (Video, video_rows),
            (Story, story_rows),
            (AttemptCost, cost_rows),
            (Spend, spend_rows),
            (StageTiming, timing_rows),
        ):
            for start in range(0, len(rows), 5000):
                if rows[start : start + 5000]:
                    connection.execute(insert(table), rows[start : start + 5000])
    return seeded


def _day(now: dt.datetime) -> dt.datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)
