"""Where a batch's waiting videos stand in line, and when its videos should be done.

The place in line follows the claim order of `queue.py` (priority, then fair share
between the batches of that priority, then upload order) from one grouped query of what
waits and runs now; it is where a video stands at this moment, not a promise (a new
high-priority batch goes ahead of it). The time left comes from the measured pace: the
recent completed videos' run times fitted as a fixed part plus a part per byte, the
slots of the live engines, and what the running videos still have to do.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from storyteller.db.models import Batch, Priority, Video, VideoStatus, WorkerRecord
from storyteller.db.types import utcnow

# Completed videos the pace is measured on (the newest), and how long a measure is kept
# (every poll of every batch would otherwise read them again).
PACE_SAMPLE = 50
PACE_KEPT_S = 3.0
# An engine that has not reported this long is not counted as a slot.
ENGINE_SILENCE = dt.timedelta(seconds=30)

_PRIORITY_ORDER = list(Priority)


@dataclass(frozen=True)
class Pace:
    """How long a video takes on one slot: `fixed_s` plus `per_byte_s` per byte of it;
    `mean_s` is the mean of the sample (for videos whose size is not at hand)."""

    fixed_s: float
    per_byte_s: float
    mean_s: float
    slots: int

    def seconds(self, size_bytes: float) -> float:
        return self.fixed_s + self.per_byte_s * size_bytes


@dataclass
class _Group:
    """Videos of one batch: ready to claim (of one priority) or running."""

    waiting: int = 0
    running: int = 0
    oldest: dt.datetime | None = None


@dataclass(frozen=True)
class Line:
    """What waits and runs now, and the pace; built by `read_line`."""

    ready: dict[Priority, dict[str, _Group]]  # per priority, per batch: ready videos
    running: dict[str, int]  # per batch: videos running
    remaining_s: float  # what the running videos still have to do, at the pace (0 without)
    paused: frozenset[str]
    pace: Pace | None
    now: dt.datetime

    def positions(self, videos: Sequence[Any]) -> dict[str, int]:
        """Place in line (1 = next) of each video of `videos` (rows of one batch in upload
        order, with `id`, `batch_id`, `status`, `priority`, `run_after`) that a worker
        could take now; the others are not in line."""
        places: dict[str, int] = {}
        taken: dict[Priority, int] = {}  # this batch's ready videos met so far
        for video in videos:
            if not self._ready(video):
                continue
            priority = Priority(video.priority)
            k = taken.get(priority, 0)
            taken[priority] = k + 1
            places[video.id] = self._ahead(video.batch_id, priority, k) + 1
        return places

    def _ready(self, video: Any) -> bool:
        return (
            VideoStatus(video.status) == VideoStatus.PENDING
            and video.batch_id not in self.paused
            and (video.run_after is None or video.run_after <= self.now)
        )

    def _ahead(self, batch_id: str, priority: Priority, k: int) -> int:
        """Videos claimed before the `k`-th (from 0) ready video of `priority` in batch
        `batch_id`: every ready one of a higher priority, then, as the fair share takes
        them, those of other batches that reach this one's running count first."""
        ahead = sum(
            group.waiting
            for higher in _PRIORITY_ORDER[: _PRIORITY_ORDER.index(priority)]
            for group in self.ready.get(higher, {}).values()
        )
        groups = self.ready.get(priority, {})
        mine = groups.get(batch_id, _Group())
        level = self.running.get(batch_id, 0) + k
        for other, group in groups.items():
            if other == batch_id:
                continue
            first = _ordering(group.oldest, other) < _ordering(mine.oldest, batch_id)
            before = level - self.running.get(other, 0) + (1 if first else 0)
            ahead += min(group.waiting, max(0, before))
        return ahead + k

    def eta_s(self, video: Any, place: int | None) -> float | None:
        """Seconds until `video` should be done: None when the pace is unknown, no engine
        runs, or it waits outside the line (a retry's pause, a paused batch)."""
        pace = self.pace
        status = VideoStatus(video.status)
        if status.ended:
            return 0.0
        if pace is None or pace.slots < 1:
            return None
        own = pace.seconds(video.size_bytes)
        if status == VideoStatus.PROCESSING:
            return round(max(0.0, own * (1.0 - video.progress)), 1)
        if place is None:
            return None
        # The videos ahead start as slots free up: the running ones' rest, then theirs.
        waiting = (self.remaining_s + (place - 1) * pace.mean_s) / pace.slots
        return round(waiting + own, 1)


def _ordering(oldest: dt.datetime | None, batch_id: str) -> tuple[float, str]:
    """The fair share's tie-break between batches with as many videos running: the one
    with the older waiting video first, then by id (as `queue.py` orders them)."""
    return (oldest.timestamp() if oldest else float("inf"), batch_id)


# What waits (ready now) and runs, per batch and priority, with what the running still
# have to do: through the claim index and the heartbeat index.
_SHAPE = (
    select(
        Video.batch_id,
        Video.priority,
        Video.status,
        func.count(),
        func.min(Video.created_at),
        func.sum(1.0 - Video.progress),
        func.sum(Video.size_bytes * (1.0 - Video.progress)),
    )
    .where(
        or_(
            Video.status == VideoStatus.PROCESSING,
            and_(Video.status == VideoStatus.PENDING, Video.run_after <= bindparam("p_now")),
        )
    )
    .group_by(Video.batch_id, Video.priority, Video.status)
)


def read_line(session: Session) -> Line:
    """What waits and runs now, in two small queries (and the pace, measured at most
    every few seconds)."""
    now = utcnow()
    ready: dict[Priority, dict[str, _Group]] = {}
    running: dict[str, int] = {}
    unfinished, unfinished_bytes = 0.0, 0.0
    rows = session.execute(_SHAPE, {"p_now": now}).tuples()
    for batch_id, priority, status, count, oldest, rest, rest_bytes in rows:
        if VideoStatus(status) == VideoStatus.PROCESSING:
            running[batch_id] = running.get(batch_id, 0) + count
            unfinished += rest or 0.0
            unfinished_bytes += rest_bytes or 0.0
        else:
            group = ready.setdefault(Priority(priority), {}).setdefault(batch_id, _Group())
            group.waiting += count
            group.oldest = oldest if group.oldest is None else min(group.oldest, oldest)
    paused = frozenset(session.scalars(select(Batch.id).where(Batch.paused)))
    pace = measure_pace(session)
    remaining = 0.0
    if pace is not None:
        remaining = pace.fixed_s * unfinished + pace.per_byte_s * unfinished_bytes
    return Line(ready, running, remaining, paused, pace, now)


_RECENT = (
    select(Video.started_at, Video.completed_at, Video.size_bytes)
    .where(Video.status == VideoStatus.COMPLETED, Video.started_at.is_not(None))
    .order_by(Video.completed_at.desc())
    .limit(PACE_SAMPLE)
)
_SLOTS = select(func.coalesce(func.sum(WorkerRecord.concurrency), 0)).where(
    WorkerRecord.stopped_at.is_(None),
    WorkerRecord.draining.is_(False),
    WorkerRecord.heartbeat_at >= bindparam("p_since"),
)

_measured: dict[str, tuple[float, Pace | None]] = {}
_measured_lock = threading.Lock()


def measure_pace(session: Session) -> Pace | None:
    """The pace of the recent completed videos and the live engines' slots (kept a few
    seconds per database); None before any video has completed."""
    where = str(session.get_bind().engine.url)
    with _measured_lock:
        kept = _measured.get(where)
    if kept is not None and time.monotonic() - kept[0] < PACE_KEPT_S:
        return kept[1]
    samples = [
        ((ended - started).total_seconds(), float(size))
        for started, ended, size in session.execute(_RECENT).tuples()
        if started is not None and ended is not None and ended >= started
    ]
    slots = int(session.scalar(_SLOTS, {"p_since": utcnow() - ENGINE_SILENCE}) or 0)
    pace = fit_pace(samples, slots=slots)
    with _measured_lock:
        _measured[where] = (time.monotonic(), pace)
    return pace


def fit_pace(samples: Sequence[tuple[float, float]], *, slots: int) -> Pace | None:
    """Least squares of seconds = fixed + per_byte * bytes over (seconds, bytes) samples,
    neither part negative; None without a sample."""
    if not samples:
        return None
    n = len(samples)
    mean_s = sum(s for s, _ in samples) / n
    mean_b = sum(b for _, b in samples) / n
    spread = sum((b - mean_b) ** 2 for _, b in samples)
    per_byte = sum((b - mean_b) * (s - mean_s) for s, b in samples) / spread if spread > 0 else 0.0
    fixed = mean_s - per_byte * mean_b
    if per_byte < 0:  # bigger was quicker: noise; size tells nothing
        fixed, per_byte = mean_s, 0.0
    elif fixed < 0:  # all in the bytes
        fixed, per_byte = 0.0, mean_s / mean_b if mean_b else 0.0
    return Pace(fixed_s=fixed, per_byte_s=per_byte, mean_s=mean_s, slots=slots)
