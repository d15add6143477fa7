"""Where a batch's waiting videos stand in line, and when its videos should be done.

The place in line plays the claims out as `queue.py` makes them (priority, then fair
share between the batches of that priority, then upload order; a slot takes the next
video as its current one ends) from one grouped query of what waits and runs now; it
is where a video stands at this moment, not a promise (a new high-priority batch goes
ahead of it). The time left comes from the measured pace: the
recent completed videos' run times fitted as a fixed part plus a part per byte, the
slots of the live engines, and what the running videos still have to do.
"""

from __future__ import annotations

import datetime as dt
import heapq
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
PACE_KEPT_S = 1.0
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

    def seconds(self, size_bytes: float) -> float:
        return self.fixed_s + self.per_byte_s * size_bytes


@dataclass
class _Group:
    """The ready videos of one batch and priority."""

    waiting: int = 0
    oldest: dt.datetime | None = None


@dataclass(frozen=True)
class Turn:
    """When a waiting video's turn comes: its place in line (1 = next) and the seconds
    until it starts (None when the pace is unknown)."""

    place: int
    starts_in_s: float | None


@dataclass(frozen=True)
class Line:
    """What waits and runs now, and the pace; built by `read_line`."""

    ready: dict[Priority, dict[str, _Group]]  # per priority, per batch: ready videos
    running: dict[str, int]  # per batch: videos running
    remaining_s: float  # what the running videos still have to do, at the pace (0 without)
    paused: frozenset[str]
    pace: Pace | None
    slots: int  # of the live engines (0: none reported)
    now: dt.datetime

    def turns(self, videos: Sequence[Any]) -> dict[str, Turn]:
        """The turn of each video of `videos` (rows of one batch in upload order, with
        `id`, `batch_id`, `status`, `priority`, `run_after`, `size_bytes`) that a worker
        could take now; the others are not in line."""
        mine: dict[Priority, list[Any]] = {}
        for video in videos:
            if self._ready(video):
                mine.setdefault(Priority(video.priority), []).append(video)
        if not mine:
            return {}
        claims = self._claims(videos[0].batch_id, mine)
        return {
            video.id: claims[priority][k]
            for priority, line in mine.items()
            for k, video in enumerate(line)
            if k < len(claims[priority])
        }

    def _ready(self, video: Any) -> bool:
        return (
            VideoStatus(video.status) == VideoStatus.PENDING
            and video.batch_id not in self.paused
            and (video.run_after is None or video.run_after <= self.now)
        )

    def _claims(self, batch_id: str, mine: dict[Priority, list[Any]]) -> dict[Priority, list[Turn]]:
        """The claims to come, played out as the engines would make them until every one
        of `mine` (the ready videos of `batch_id`, per priority, in upload order) is
        taken: each slot takes the next video when its current one ends (the running
        ones end after the rest of their work, evenly shared), the first priority with
        videos ready, in it the batch with the fewest running (ties to the older batch),
        in it the next in upload order. Other batches' videos take the mean time."""
        pace = self.pace
        slots = max(1, self.slots)
        waiting = {
            (priority, batch): group.waiting
            for priority, groups in self.ready.items()
            for batch, group in groups.items()
        }
        per_priority = {p: sum(g.waiting for g in self.ready.get(p, {}).values()) for p in Priority}
        oldest = {
            batch: _moment(group.oldest)
            for groups in self.ready.values()
            for batch, group in groups.items()
        }
        run = dict(self.running)
        # Slots as (free at, order, batch of the video on it); the running ones first.
        running = [batch for batch, count in sorted(self.running.items()) for _ in range(count)]
        each = self.remaining_s / len(running) if running and pace else 0.0
        free: list[tuple[float, int, str | None]] = [
            (each, n, batch) for n, batch in enumerate(running[:slots])
        ]
        free += [(0.0, n, None) for n in range(len(free), slots)]
        heapq.heapify(free)
        fair: dict[Priority, list[tuple[int, float, str]]] = {p: [] for p in Priority}
        for (priority, batch), count in waiting.items():
            if count:
                heapq.heappush(fair[priority], (run.get(batch, 0), oldest[batch], batch))
        left = {priority: len(line) for priority, line in mine.items()}
        claims: dict[Priority, list[Turn]] = {priority: [] for priority in mine}
        number = 0
        while any(left.values()) and number < MAX_CLAIMS_PLAYED:
            at, order, ended = heapq.heappop(free)
            if ended is not None:
                run[ended] -= 1
                _requeue(fair, waiting, run, oldest, ended)
            chosen = next((p for p in _PRIORITY_ORDER if per_priority[p]), None)
            if chosen is None:
                break  # the rest of `mine` was claimed between the two reads
            batch = _fairest(fair[chosen], waiting, run, chosen)
            number += 1
            waiting[(chosen, batch)] -= 1
            per_priority[chosen] -= 1
            run[batch] = run.get(batch, 0) + 1
            _requeue(fair, waiting, run, oldest, batch)
            takes = pace.mean_s if pace else 1.0
            if batch == batch_id and left.get(chosen):
                video = mine[chosen][len(claims[chosen])]
                claims[chosen].append(Turn(number, at if pace else None))
                left[chosen] -= 1
                takes = pace.seconds(video.size_bytes) if pace else 1.0
            heapq.heappush(free, (at + takes, order, batch))
        return claims

    def eta_s(self, video: Any, turn: Turn | None) -> float | None:
        """Seconds until `video` should be done: None when the pace is unknown, no engine
        runs, or it waits outside the line (a retry's pause, a paused batch)."""
        pace = self.pace
        status = VideoStatus(video.status)
        if status.ended or pace is None or self.slots < 1:
            return None
        own = pace.seconds(video.size_bytes)
        if status == VideoStatus.PROCESSING:
            return round(max(0.0, own * (1.0 - video.progress)), 1)
        if turn is None or turn.starts_in_s is None:
            return None
        return round(turn.starts_in_s + own, 1)


# Claims played out at most per answer: past them (a backlog of this many videos ahead
# in one priority) the rest of the batch has no place yet.
MAX_CLAIMS_PLAYED = 20_000


def _moment(moment: dt.datetime | None) -> float:
    return moment.timestamp() if moment else float("inf")


def _requeue(
    fair: dict[Priority, list[tuple[int, float, str]]],
    waiting: dict[tuple[Priority, str], int],
    run: dict[str, int],
    oldest: dict[str, float],
    batch: str,
) -> None:
    """Enter `batch` again in each priority it has ready videos in, at its running count
    (older entries are stale and skipped when met)."""
    for priority in Priority:
        if waiting.get((priority, batch)):
            heapq.heappush(fair[priority], (run.get(batch, 0), oldest[batch], batch))


def _fairest(
    heap: list[tuple[int, float, str]],
    waiting: dict[tuple[Priority, str], int],
    run: dict[str, int],
    priority: Priority,
) -> str:
    """The batch the fair share takes from next: fewest running, then the older."""
    while True:
        count, _, batch = heapq.heappop(heap)
        if waiting.get((priority, batch)) and count == run.get(batch, 0):
            return batch


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
    """What waits and runs now, in two small queries (and the pace and slots, measured
    at most once a second)."""
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
    pace, slots = measure_pace(session)
    remaining = 0.0
    if pace is not None:
        remaining = pace.fixed_s * unfinished + pace.per_byte_s * unfinished_bytes
    return Line(ready, running, remaining, paused, pace, slots, now)


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

_measured: dict[str, tuple[float, Pace | None, int]] = {}
_measured_lock = threading.Lock()


def measure_pace(session: Session) -> tuple[Pace | None, int]:
    """The pace of the recent completed videos (None before any has completed) and the
    live engines' slots, kept a few seconds per database."""
    where = str(session.get_bind().engine.url)
    with _measured_lock:
        kept = _measured.get(where)
    if kept is not None and time.monotonic() - kept[0] < PACE_KEPT_S:
        return kept[1], kept[2]
    samples = [
        ((ended - started).total_seconds(), float(size))
        for started, ended, size in session.execute(_RECENT).tuples()
        if started is not None and ended is not None and ended >= started
    ]
    slots = int(session.scalar(_SLOTS, {"p_since": utcnow() - ENGINE_SILENCE}) or 0)
    pace = fit_pace(samples)
    with _measured_lock:
        _measured[where] = (time.monotonic(), pace, slots)
    return pace, slots


def fit_pace(samples: Sequence[tuple[float, float]]) -> Pace | None:
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
    return Pace(fixed_s=fixed, per_byte_s=per_byte, mean_s=mean_s)
