"""The job queue: the video rows themselves, moved between states by conditional updates.

A video is a job. `pending` videos wait (until `run_after`), a worker `claim`s one
(status `processing`, `claimed_by` its id, `attempts` + 1), keeps it alive with
`heartbeat`, and ends it with `complete` or `fail`. Every change a worker makes is
conditional on the claim still being its own (same worker, same attempt, still
processing), so a video that was cancelled, or recovered from a silent worker and
claimed again elsewhere, can never be completed twice: the late worker's update
matches no row and it is told so.

Claiming order: priority first (`low` runs only when nothing else waits), then fair
share between the batches of that priority (the batch with the fewest videos running
goes first, ties to the older batch), then upload order inside the batch. A new batch
therefore starts at once beside a large backlog instead of behind it.

The same queue serves one machine (the embedded engine, on SQLite or PostgreSQL) and
many (`storyteller worker` processes on PostgreSQL, where `FOR UPDATE SKIP LOCKED` keeps
two workers off one video): there is no second job store to keep in step with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import socket
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from storyteller.db import crud
from storyteller.db.models import (
    ENDED,
    AttemptCost,
    BatchItemState,
    ErrorCause,
    EvidenceRecord,
    GeminiBatchItem,
    Priority,
    Video,
    VideoStatus,
)
from storyteller.db.models import Story as StoryRow
from storyteller.db.session import make_session_factory, write_engine
from storyteller.db.types import utcnow
from storyteller.errors import StorytellerError
from storyteller.pipeline.evidence import Evidence
from storyteller.story.model import Story

# Retry backoff: the first retry after about RETRY_BASE_S, doubling, at most RETRY_MAX_S.
RETRY_BASE_S = 5.0
# Key of the PostgreSQL advisory lock that budget checks take: 64 bits of a fixed name.
BUDGET_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"storyteller.budget").digest()[:8], "big", signed=True
)
RETRY_MAX_S = 300.0

STALLED_REASON = "the worker processing this video stopped answering"
# The stage of a video whose request waits for, or is in, a Gemini Batch Mode job.
BATCH_STAGE = "batch"


class JobError(StorytellerError):
    """A queue operation that cannot be done; `reason` says why to a user."""


class NotFound(JobError):
    """No such video or batch (HTTP 404)."""


class WrongState(JobError):
    """The video is not in a state that allows this (HTTP 409)."""


def new_worker_id() -> str:
    """`host:pid:random`: unique, and it names the process to look for when recovering."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def retry_delay(attempt: int, *, base_s: float = RETRY_BASE_S, max_s: float = RETRY_MAX_S) -> float:
    """Seconds before try `attempt + 1`: exponential, with jitter so that videos failed by
    the same outage do not all come back at the same moment."""
    delay = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return delay * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Claim:
    """A video handed to a worker: what the worker needs, and the claim's identity."""

    video_id: str
    batch_id: str
    worker_id: str
    attempt: int
    storage_path: str
    original_name: str
    content_hash: str
    teller: str
    seed: int
    model: str | None = None  # None: the teller's configured model
    priority: Priority = Priority.NORMAL


@dataclass(frozen=True)
class Spending:
    """Dollars spent and expected, as the budgets count them."""

    today: float  # on stories written since the start of the day (UTC)
    running: float  # expected by the videos running now
    batch: float  # on this batch's stories, ever
    batch_running: float  # expected by this batch's videos running now


@dataclass(frozen=True)
class Outcome:
    """What a finished job hands back to `JobQueue.complete`."""

    story: Story
    evidence: Evidence | None = None
    evidence_fingerprint: str | None = None
    teller: str | None = None
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None


@dataclass(frozen=True)
class Spent:
    """What an attempt that wrote no story spent at a provider (see `JobQueue.fail`)."""

    teller: str
    model: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: float | None


@dataclass(frozen=True)
class BatchItem:
    """A video's request waiting for, or inside, a Gemini Batch Mode job, with the claim
    its video is held under."""

    id: int
    claim: Claim
    model: str
    request: str
    file_name: str | None
    evidence_id: int | None
    state: BatchItemState
    remote_name: str | None
    sent: int
    tokens_in: int
    tokens_out: int
    created_at: dt.datetime
    submitted_at: dt.datetime | None


# The claim's statements, built once (see `JobQueue._claim_some`).
_PRIORITY_ORDER = list(Priority)
_VIDEO_TABLE = cast(Table, Video.__table__)
_V = _VIDEO_TABLE.c
_READY = (_V.status == VideoStatus.PENDING, _V.run_after <= bindparam("p_now"))
_QUEUE_SHAPE = (
    select(_V.batch_id, _V.priority, _V.status, func.count(), func.min(_V.created_at))
    .where(or_(_V.status == VideoStatus.PROCESSING, and_(*_READY)))
    .group_by(_V.batch_id, _V.priority, _V.status)
)


def _claim_statement(*, skip_locked: bool):
    pick = (
        select(_V.id)
        .where(
            *_READY, _V.priority == bindparam("p_priority"), _V.batch_id == bindparam("p_batch_id")
        )
        .order_by(_V.position)
        .limit(1)
    )
    if skip_locked:
        pick = pick.with_for_update(skip_locked=True)
    return (
        update(_VIDEO_TABLE)
        .where(_V.id == pick.scalar_subquery(), *_READY)
        .values(
            status=VideoStatus.PROCESSING,
            claimed_by=bindparam("p_worker_id"),
            attempts=_V.attempts + 1,
            started_at=bindparam("p_now"),
            heartbeat_at=bindparam("p_now"),
            stage=None,
            progress=0.0,
            wait_reason=None,
            cost_reserved_usd=None,
        )
        .returning(
            _V.id,
            _V.batch_id,
            _V.attempts,
            _V.storage_path,
            _V.original_name,
            _V.content_hash,
            _V.teller,
            _V.seed,
            _V.model,
            _V.priority,
        )
    )


_CLAIM = _claim_statement(skip_locked=False)
_CLAIM_SKIP_LOCKED = _claim_statement(skip_locked=True)


class JobQueue:
    """The queue's operations on one database. Thread-safe: each call is its own
    transaction, and the claim and state changes lock what they change (SQLite's write
    lock taken at BEGIN, PostgreSQL's row locks)."""

    def __init__(
        self,
        engine: Engine,
        *,
        retry_base_s: float = RETRY_BASE_S,
        retry_max_s: float = RETRY_MAX_S,
        priorities: Iterable[Priority] | None = None,
    ) -> None:
        self.engine = engine
        # The priorities this queue's claims take (a worker started with `--queue`);
        # every other operation sees all videos.
        self.priorities = frozenset(priorities or Priority)
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self._sessions = make_session_factory(write_engine(engine))
        self._postgres = engine.dialect.name == "postgresql"

    # --- workers -------------------------------------------------------------

    def claim(self, worker_id: str, *, limit: int = 1) -> list[Claim]:
        """Up to `limit` videos for `worker_id`, in claiming order (see the module), in one
        transaction."""
        if limit < 1:
            return []
        with self._sessions.begin() as session:
            if self._postgres:
                # A claim lost in a crash of PostgreSQL itself only puts the video back to
                # pending (the worker never heard of it, or its completion fails the claim
                # check), so claims need not wait for the WAL flush. Completions and
                # failures stay durable: this is SET LOCAL, for this transaction only.
                session.execute(text("SET LOCAL synchronous_commit = off"))
            return self._claim_in(session, worker_id, limit)

    def complete_and_claim(
        self, finished: Iterable[tuple[Claim, Outcome]], worker_id: str, *, limit: int
    ) -> tuple[set[str], list[Claim]]:
        """`complete_many` and `claim` in one transaction: a busy worker hands in what it
        finished and takes videos for its free slots with one commit (dispatch of short
        jobs is bound by round trips and commits). The ids kept, and the new claims."""
        finished = list(finished)
        with self._sessions.begin() as session:
            # Claims first: the batch rows that completions lock are then held only
            # until the commit. The finishing videos do not count as running.
            ending: dict[str, int] = {}
            for claim, _ in finished:
                ending[claim.batch_id] = ending.get(claim.batch_id, 0) + 1
            claims = self._claim_in(session, worker_id, limit, ending=ending)
            # A batch that one of these claims belongs to cannot have ended: whoever
            # ends that video (completes, fails, cancels or recovers it) settles the
            # batch once this commits. Not settling it here spares two statements and
            # the batch-row lock that every worker on a big batch would queue for.
            kept = self._complete_in(session, finished, unended={c.batch_id for c in claims})
        return kept, claims

    def _claim_in(
        self, session: Session, worker_id: str, limit: int, *, ending: dict[str, int] | None = None
    ) -> list[Claim]:
        now = utcnow()
        claims: list[Claim] = []
        while len(claims) < limit:
            taken = self._claim_some(session, worker_id, now, limit - len(claims), ending or {})
            if not taken:
                break
            claims.extend(taken)
        return claims

    def _claim_some(
        self,
        session: Session,
        worker_id: str,
        now: dt.datetime,
        limit: int,
        ending: dict[str, int],
    ) -> list[Claim]:
        """Up to `limit` videos of the first priority that has videos ready, keeping fair
        share between its batches (the running counts are updated as videos are taken;
        `ending`: videos per batch that are running but about to end). Empty when
        nothing is ready."""
        connection = session.connection()  # plain statements: no ORM object is needed
        running: dict[str, int] = {batch: -count for batch, count in ending.items()}
        waiting: dict[Priority, dict[str, dt.datetime]] = {}
        # One query for both: the videos running per batch, and per priority the batches
        # with videos ready and the age of each one's oldest.
        for batch_id, priority, status, count, oldest in connection.execute(
            _QUEUE_SHAPE, {"p_now": now}
        ).tuples():
            if status == VideoStatus.PROCESSING:
                running[batch_id] = running.get(batch_id, 0) + count
            elif Priority(priority) in self.priorities:
                waiting.setdefault(Priority(priority), {})[batch_id] = oldest
        if not waiting:
            return []
        priority = min(waiting, key=_PRIORITY_ORDER.index)
        batches = waiting[priority]
        pick = _CLAIM_SKIP_LOCKED if self._postgres else _CLAIM
        claims: list[Claim] = []
        while len(claims) < limit and batches:
            batch_id = min(
                batches, key=lambda batch: (running.get(batch, 0), batches[batch], batch)
            )
            row = connection.execute(
                pick,
                {
                    "p_now": now,
                    "p_priority": priority,
                    "p_batch_id": batch_id,
                    "p_worker_id": worker_id,
                },
            ).first()
            if row is None:
                del batches[batch_id]  # nothing left there, or taken by other workers
                continue
            running[batch_id] = running.get(batch_id, 0) + 1
            claims.append(
                Claim(
                    video_id=row.id,
                    batch_id=row.batch_id,
                    worker_id=worker_id,
                    attempt=row.attempts,
                    storage_path=row.storage_path,
                    original_name=row.original_name,
                    content_hash=row.content_hash,
                    teller=row.teller,
                    seed=row.seed,
                    model=row.model,
                    priority=Priority(row.priority),
                )
            )
        return claims

    def _mine_core(self, claim: Claim) -> tuple:
        video = Video.__table__.c
        return (
            video.id == claim.video_id,
            video.status == VideoStatus.PROCESSING,
            video.claimed_by == claim.worker_id,
            video.attempts == claim.attempt,
        )

    def _mine(self, claim: Claim) -> tuple:
        return (
            Video.id == claim.video_id,
            Video.status == VideoStatus.PROCESSING,
            Video.claimed_by == claim.worker_id,
            Video.attempts == claim.attempt,
        )

    def heartbeat(
        self, claim: Claim, *, stage: str | None = None, progress: float | None = None
    ) -> bool:
        """Say the video is still being worked on (with its stage and progress, if
        given). False when the claim is lost: cancelled, or given to another worker;
        the worker should then stop working on it."""
        return not self.heartbeat_many([(claim, stage, progress)])

    def heartbeat_many(self, running: Iterable[tuple[Claim, str | None, float | None]]) -> set[str]:
        """`heartbeat` for several claims (with each one's stage and progress) in one
        transaction; returns the ids of the videos whose claim is lost."""
        # Rows locked in one order everywhere (by id), so that two transactions on the
        # same videos cannot deadlock on PostgreSQL.
        running = sorted(running, key=lambda item: item[0].video_id)
        if not running:
            return set()
        now = utcnow()
        lost: set[str] = set()
        with self._sessions.begin() as session:
            if self._postgres:
                # A heartbeat lost in a crash of PostgreSQL is harmless (the next one
                # comes within seconds), so it need not wait for the WAL flush.
                session.execute(text("SET LOCAL synchronous_commit = off"))
            for claim, stage, progress in running:
                values: dict[str, object] = {"heartbeat_at": now}
                if stage is not None:
                    values["stage"] = stage
                if progress is not None:
                    values["progress"] = min(1.0, max(0.0, progress))
                result = session.execute(update(Video).where(*self._mine(claim)).values(**values))
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    lost.add(claim.video_id)
        return lost

    def complete(self, claim: Claim, outcome: Outcome, *, batch_item_id: int | None = None) -> bool:
        """Keep the story and mark the video completed, in one transaction. False (and
        nothing kept) when the claim is no longer this worker's. `batch_item_id`: the
        Gemini Batch Mode item that brought the story, dropped in the same transaction."""
        dropped = () if batch_item_id is None else (batch_item_id,)
        return bool(self.complete_many([(claim, outcome)], drop_batch_items=dropped))

    def complete_many(
        self, finished: Iterable[tuple[Claim, Outcome]], *, drop_batch_items: Iterable[int] = ()
    ) -> set[str]:
        """`complete` for several videos in one transaction (one commit for all the
        videos a worker finished in one look); the ids of those whose story was kept.
        A lost claim keeps nothing of its own video and does not stop the others."""
        with self._sessions.begin() as session:
            for item_id in drop_batch_items:
                _drop_batch_item(session, item_id)
            return self._complete_in(session, finished)

    def _complete_in(
        self,
        session: Session,
        finished: Iterable[tuple[Claim, Outcome]],
        *,
        unended: Iterable[str] = (),
    ) -> set[str]:
        """Complete each; settle the batches of those kept, but the `unended` ones."""
        # Rows locked in one order everywhere (by id): no deadlock between workers.
        finished = sorted(finished, key=lambda item: item[0].video_id)
        kept = {
            claim.video_id
            for claim, outcome in finished
            if self._complete_one(session, claim, outcome)
        }
        # Once per batch, after its videos: the batch row is locked last.
        if kept:
            connection = session.connection()
            ended = {c.batch_id for c, _ in finished if c.video_id in kept} - set(unended)
            for batch_id in sorted(ended):
                crud.settle_batch(connection, batch_id=batch_id)
        return kept

    def _complete_one(self, session: Session, claim: Claim, outcome: Outcome) -> bool:
        evidence_id = None
        if outcome.evidence is not None and outcome.evidence_fingerprint:
            # Kept even when the claim turns out lost: evidence is shared by every upload
            # of the same bytes, and the next run of this video finds it ready.
            record = crud.save_evidence(
                session, evidence=outcome.evidence, fingerprint=outcome.evidence_fingerprint
            )
            evidence_id = record.id
        # Plain statements from here: no ORM object of the video or batch is loaded.
        connection = session.connection()
        values: dict[str, object] = {
            "status": VideoStatus.COMPLETED,
            "stage": None,
            "progress": 1.0,
            "completed_at": utcnow(),
            "error": None,
            "error_code": None,
            "error_cause": None,
        }
        if evidence_id is not None:
            values["evidence_id"] = evidence_id
        result = connection.execute(
            update(_VIDEO_TABLE).where(*self._mine_core(claim)).values(**values)
        )
        if result.rowcount != 1:
            return False
        # The update above holds the video's row lock: the version number is safe.
        crud.insert_story_version(
            connection,
            video_id=claim.video_id,
            story=outcome.story,
            teller=outcome.teller or claim.teller,
            model=outcome.model,
            seed=claim.seed,
            evidence_id=evidence_id,
            tokens_in=outcome.tokens_in,
            tokens_out=outcome.tokens_out,
            cost_usd=outcome.cost_usd,
        )
        return True

    def fail(
        self,
        claim: Claim,
        *,
        reason: str,
        code: str,
        cause: ErrorCause,
        retryable: bool,
        batch_item_id: int | None = None,
        spent: Spent | None = None,
    ) -> VideoStatus | None:
        """End this attempt with `reason`. A retryable failure with attempts left goes
        back to the queue after a backoff; otherwise the video fails. Returns the
        video's new status, or None when the claim was no longer this worker's.
        `batch_item_id`: as in `complete`; `spent`: what the attempt cost at a provider,
        kept for the budgets (with the failure, so only while the claim is this worker's;
        nothing when it spent no tokens)."""
        with self._sessions.begin() as session:
            if batch_item_id is not None:
                _drop_batch_item(session, batch_item_id)
            video = session.scalars(
                select(Video).where(*self._mine(claim)).with_for_update()
            ).one_or_none()
            if video is None:
                return None
            if spent is not None and (spent.tokens_in or spent.tokens_out):
                session.add(
                    AttemptCost(
                        video_id=video.id,
                        attempt=claim.attempt,
                        teller=spent.teller,
                        model=spent.model,
                        tokens_in=spent.tokens_in,
                        tokens_out=spent.tokens_out,
                        cost_usd=spent.cost_usd,
                    )
                )
            _record_error(video, reason, code, cause)
            if retryable and video.attempts < video.max_attempts:
                self._requeue(
                    video,
                    delay_s=retry_delay(
                        video.attempts, base_s=self.retry_base_s, max_s=self.retry_max_s
                    ),
                )
            elif crud.current_story(session, video_id=video.id) is not None:
                # A new version that could not be written: the story it had stays, and
                # so does its state; the error says what went wrong.
                video.status = VideoStatus.COMPLETED
                video.completed_at = utcnow()
                video.claimed_by = None
                video.stage = None
                video.progress = 1.0
            else:
                video.status = VideoStatus.FAILED
                video.completed_at = utcnow()
                video.claimed_by = None
            session.flush()
            crud.refresh_batch_status(session, batch_id=video.batch_id)
            return video.status

    def release(
        self, claim: Claim, *, until: dt.datetime | None = None, reason: str | None = None
    ) -> bool:
        """Give a video back unfinished and without charging the attempt: a worker
        shutting down, or a video held back until `until` with `reason` shown (a budget
        it would pass). False when the claim was no longer this worker's."""
        with self._sessions.begin() as session:
            video = session.scalars(
                select(Video).where(*self._mine(claim)).with_for_update()
            ).one_or_none()
            if video is None:
                return False
            video.attempts = max(0, video.attempts - 1)
            self._requeue(video, delay_s=0.0)
            if until is not None:
                video.run_after = until
            video.wait_reason = reason
            return True

    # --- spending budgets (see storyteller.jobs.budget) -----------------------

    def spending(self, *, since: dt.datetime, batch_id: str, besides: str) -> Spending:
        """Dollars spent on stories since `since` and on `batch_id`'s stories, and what
        the videos running now (but `besides`) are expected to spend."""
        with self._sessions() as session:
            return _spending(session, since=since, batch_id=batch_id, besides=besides)

    def reserve_within(
        self,
        claim: Claim,
        *,
        usd: float,
        since: dt.datetime,
        fits: Callable[[Spending], bool],
    ) -> bool:
        """Reserve `usd` on the claimed video if `fits` says the spending allows it, in
        one transaction under the budget lock; False (nothing reserved) otherwise or when
        the claim was lost."""
        with self._sessions.begin() as session:
            if self._postgres:
                session.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": BUDGET_LOCK_KEY}
                )
            spending = _spending(
                session, since=since, batch_id=claim.batch_id, besides=claim.video_id
            )
            if not fits(spending):
                return False
            result = session.execute(
                update(Video).where(*self._mine(claim)).values(cost_reserved_usd=usd)
            )
            return result.rowcount == 1  # type: ignore[attr-defined]

    def release_holds(self) -> list[str]:
        """Let every video held for budget be looked at again now (the budgets may have
        changed since they were held)."""
        with self._sessions.begin() as session:
            held = list(
                session.scalars(
                    select(Video).where(
                        Video.status == VideoStatus.PENDING, Video.wait_reason.is_not(None)
                    )
                )
            )
            for video in held:
                video.run_after = utcnow()
            return [video.id for video in held]

    def recover_stalled(self, *, timeout_s: float, dead_workers: Iterable[str] = ()) -> list[str]:
        """Requeue (or fail, when out of attempts) the videos whose worker has not
        heartbeated for `timeout_s`, or whose worker is known to be dead. Returns their ids."""
        cutoff = utcnow() - dt.timedelta(seconds=timeout_s)
        dead = list(dead_workers)
        stalled = (Video.heartbeat_at < cutoff) | Video.heartbeat_at.is_(None)
        if dead:
            stalled = stalled | Video.claimed_by.in_(dead)
        # A video waiting for Gemini Batch Mode has no worker to be silent.
        deferred = exists().where(_holds_claim())
        stmt = select(Video).where(Video.status == VideoStatus.PROCESSING, stalled, ~deferred)
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        recovered: list[str] = []
        with self._sessions.begin() as session:
            for video in session.scalars(stmt):
                _record_error(video, STALLED_REASON, "worker_lost", ErrorCause.SERVICE)
                if video.attempts < video.max_attempts:
                    self._requeue(video, delay_s=0.0)
                else:
                    video.status = VideoStatus.FAILED
                    video.completed_at = utcnow()
                    video.claimed_by = None
                    video.error = f"{STALLED_REASON} (tried {video.attempts} times)"
                session.flush()
                crud.refresh_batch_status(session, batch_id=video.batch_id)
                recovered.append(video.id)
        return recovered

    def claimed_workers(self) -> list[str]:
        """Ids of the workers holding videos now."""
        with self._sessions() as session:
            stmt = (
                select(Video.claimed_by)
                .where(Video.status == VideoStatus.PROCESSING, Video.claimed_by.is_not(None))
                .distinct()
            )
            return [worker for worker in session.scalars(stmt) if worker]

    def _requeue(self, video: Video, *, delay_s: float) -> None:
        video.status = VideoStatus.PENDING
        video.claimed_by = None
        video.heartbeat_at = None
        video.stage = None
        video.progress = 0.0
        video.run_after = utcnow() + dt.timedelta(seconds=delay_s)

    # --- users ---------------------------------------------------------------

    def cancel_video(self, video_id: str, *, batch_id: str | None = None) -> Video:
        """Stop a waiting or running video (its worker notices at its next heartbeat)."""
        with self._sessions.begin() as session:
            video = self._locked_video(session, video_id, batch_id)
            if video.status.ended:
                raise WrongState(f"the video has already {_ended_words(video.status)}")
            _cancel(video)
            session.flush()
            crud.refresh_batch_status(session, batch_id=video.batch_id)
            return video

    def cancel_batch(self, batch_id: str) -> list[str]:
        """Cancel every video of the batch that has not ended; returns their ids."""
        with self._sessions.begin() as session:
            self._require_batch(session, batch_id)
            videos = session.scalars(
                select(Video)
                .where(Video.batch_id == batch_id, Video.status.not_in(ENDED))
                .order_by(Video.id)
                .with_for_update()
            ).all()
            for video in videos:
                _cancel(video)
            session.flush()
            crud.refresh_batch_status(session, batch_id=batch_id)
            return [video.id for video in videos]

    def retry_video(self, video_id: str, *, batch_id: str | None = None) -> Video:
        """Queue a failed or cancelled video again, with a fresh set of attempts."""
        with self._sessions.begin() as session:
            video = self._locked_video(session, video_id, batch_id)
            if video.status not in (VideoStatus.FAILED, VideoStatus.CANCELLED):
                raise WrongState(
                    f"only a failed or cancelled video can be retried; this one is {video.status}"
                )
            if not video.storage_path:
                raise WrongState(
                    f"{video.original_name} was refused at upload ({video.error}); "
                    "upload the file again"
                )
            _fresh_start(video)
            session.flush()
            crud.refresh_batch_status(session, batch_id=video.batch_id)
            return video

    def retry_failed(self, batch_id: str) -> list[str]:
        """Queue every failed or cancelled video of the batch again (not those refused at
        upload, which have no file to run); returns their ids."""
        with self._sessions.begin() as session:
            self._require_batch(session, batch_id)
            videos = session.scalars(
                select(Video)
                .where(
                    Video.batch_id == batch_id,
                    Video.status.in_((VideoStatus.FAILED, VideoStatus.CANCELLED)),
                    Video.storage_path != "",  # refused at upload: nothing to run again
                )
                .order_by(Video.id)
                .with_for_update()
            ).all()
            for video in videos:
                _fresh_start(video)
            session.flush()
            if videos:
                crud.refresh_batch_status(session, batch_id=batch_id)
            return [video.id for video in videos]

    def regenerate(
        self,
        video_id: str,
        *,
        batch_id: str | None = None,
        teller: str | None = None,
        model: str | None = None,
        seed: int | None = None,
    ) -> Video:
        """Queue a completed video for a new story version (a new seed unless one is
        given, and another teller or model if named; another teller without a model
        means that teller's configured model). The current story stays until the new one
        is written; the evidence is reused."""
        with self._sessions.begin() as session:
            video = self._locked_video(session, video_id, batch_id)
            if video.status != VideoStatus.COMPLETED:
                raise WrongState(
                    f"only a completed video can have its story written again; this one is {video.status}"
                )
            video.seed = seed if seed is not None else random.randrange(1, 2**31)
            if teller and teller != video.teller:
                video.teller, video.model = teller, None
            if model:
                video.model = model
            _fresh_start(video)
            session.flush()
            crud.refresh_batch_status(session, batch_id=video.batch_id)
            return video

    def _locked_video(self, session: Session, video_id: str, batch_id: str | None) -> Video:
        stmt = select(Video).where(Video.id == video_id).with_for_update()
        if batch_id is not None:
            stmt = stmt.where(Video.batch_id == batch_id)
        video = session.scalars(stmt).one_or_none()
        if video is None:
            raise NotFound("no video with that id")
        return video

    def _require_batch(self, session: Session, batch_id: str) -> None:
        if crud.get_batch(session, batch_id) is None:
            raise NotFound("no job with that id")

    # --- numbers ---------------------------------------------------------------

    def counts(self) -> dict[VideoStatus, int]:
        with self._sessions() as session:
            return crud.video_counts(session)

    # --- Gemini Batch Mode ---------------------------------------------------------

    def defer_to_batch(
        self,
        claim: Claim,
        *,
        model: str,
        request: str,
        file_name: str | None = None,
        evidence: Evidence | None = None,
        evidence_fingerprint: str | None = None,
    ) -> bool:
        """Keep the video's request for a Batch Mode job; the video stays processing
        (stage `batch`) under this claim until the answer is recorded. False (and nothing
        kept) when the claim is no longer this worker's."""
        with self._sessions.begin() as session:
            video = session.scalars(
                select(Video).where(*self._mine(claim)).with_for_update()
            ).one_or_none()
            if video is None:
                return False
            evidence_id = None
            if evidence is not None and evidence_fingerprint:
                record = crud.save_evidence(
                    session, evidence=evidence, fingerprint=evidence_fingerprint
                )
                evidence_id = record.id
            video.stage = BATCH_STAGE
            video.heartbeat_at = utcnow()
            session.add(
                GeminiBatchItem(
                    video_id=claim.video_id,
                    claimed_by=claim.worker_id,
                    attempt=claim.attempt,
                    model=model,
                    request=request,
                    file_name=file_name,
                    evidence_id=evidence_id,
                    state=BatchItemState.WAITING,
                    sent=0,
                    tokens_in=0,
                    tokens_out=0,
                )
            )
            return True

    def batch_items(
        self, *, state: BatchItemState | None = None, remote_name: str | None = None
    ) -> list[BatchItem]:
        """Batch Mode items whose video is still held for them, oldest first."""
        stmt = (
            select(GeminiBatchItem, Video).join(Video, _holds_claim()).order_by(GeminiBatchItem.id)
        )
        if state is not None:
            stmt = stmt.where(GeminiBatchItem.state == state)
        if remote_name is not None:
            stmt = stmt.where(GeminiBatchItem.remote_name == remote_name)
        with self._sessions() as session:
            return [_batch_item(item, video) for item, video in session.execute(stmt).tuples()]

    def has_batch_items(self) -> bool:
        with self._sessions() as session:
            return session.scalar(select(exists().where(GeminiBatchItem.id.is_not(None)))) or False

    def drop_stale_batch_items(self) -> list[tuple[str, str | None]]:
        """Delete the items whose video is no longer held for them (cancelled, deleted, or
        running again elsewhere); returns their video ids and uploaded files."""
        find = select(GeminiBatchItem.id, GeminiBatchItem.video_id, GeminiBatchItem.file_name)
        find = find.where(~exists().where(_holds_claim())).order_by(GeminiBatchItem.id)
        with self._sessions() as session:  # a read first: most rounds find nothing
            if not session.execute(find.limit(1)).first():
                return []
        with self._sessions.begin() as session:
            stale = session.execute(find).all()
            ids = [row.id for row in stale]
            session.execute(delete(GeminiBatchItem).where(GeminiBatchItem.id.in_(ids)))
            return [(row.video_id, row.file_name) for row in stale]

    def mark_batch_submitted(self, item_ids: Iterable[int], remote_name: str) -> None:
        """These items were sent as the Batch Mode job `remote_name`."""
        with self._sessions.begin() as session:
            session.execute(
                update(GeminiBatchItem)
                .where(GeminiBatchItem.id.in_(list(item_ids)))
                .values(
                    state=BatchItemState.SUBMITTED,
                    remote_name=remote_name,
                    submitted_at=utcnow(),
                    sent=GeminiBatchItem.sent + 1,
                )
            )

    def submitted_batch_jobs(self) -> list[tuple[str, dt.datetime]]:
        """Batch Mode jobs with items waiting for their answers, and when each was sent."""
        with self._sessions() as session:
            rows = session.execute(
                select(GeminiBatchItem.remote_name, func.min(GeminiBatchItem.submitted_at))
                .where(
                    GeminiBatchItem.state == BatchItemState.SUBMITTED,
                    GeminiBatchItem.remote_name.is_not(None),
                )
                .group_by(GeminiBatchItem.remote_name)
            ).tuples()
            return [(name, sent or utcnow()) for name, sent in rows if name]

    def batch_item_evidence(self, item: BatchItem) -> tuple[Evidence, str] | None:
        """The evidence an item's prompt was written from, with its fingerprint."""
        if item.evidence_id is None:
            return None
        with self._sessions() as session:
            record = session.get(EvidenceRecord, item.evidence_id)
            return (record.to_evidence(), record.fingerprint) if record is not None else None

    def resubmit_batch_item(
        self,
        item: BatchItem,
        *,
        reason: str,
        request: str | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> bool | None:
        """Send an item again in a later Batch Mode job, as the video's next attempt (with
        a new request, when given). False when the video has used its attempts (the item
        is left for the caller to fail), None when the video is no longer held for it."""
        with self._sessions.begin() as session:
            video = session.scalars(
                select(Video).where(*self._mine(item.claim)).with_for_update()
            ).one_or_none()
            row = session.get(GeminiBatchItem, item.id, with_for_update=True)
            if video is None or row is None:
                return None
            row.last_error = reason
            row.tokens_in += tokens_in
            row.tokens_out += tokens_out
            if video.attempts >= video.max_attempts:
                return False
            video.attempts += 1
            video.heartbeat_at = utcnow()
            row.attempt = video.attempts
            row.state = BatchItemState.WAITING
            row.remote_name = None
            row.submitted_at = None
            if request is not None:
                row.request = request
            return True

    def drop_batch_item(self, item_id: int) -> None:
        with self._sessions.begin() as session:
            _drop_batch_item(session, item_id)


def _drop_batch_item(session: Session, item_id: int) -> None:
    session.execute(delete(GeminiBatchItem).where(GeminiBatchItem.id == item_id))


def _record_error(video: Video, reason: str, code: str, cause: ErrorCause) -> None:
    video.error = reason
    video.error_code = code
    video.error_cause = cause


def _cancel(video: Video) -> None:
    video.status = VideoStatus.CANCELLED
    video.claimed_by = None
    video.completed_at = utcnow()
    video.stage = None
    _record_error(video, "cancelled by a user", "cancelled", ErrorCause.SERVICE)


def _fresh_start(video: Video) -> None:
    video.attempts = 0
    video.completed_at = None
    _record_error_clear(video)
    video.status = VideoStatus.PENDING
    video.claimed_by = None
    video.heartbeat_at = None
    video.stage = None
    video.progress = 0.0
    video.run_after = utcnow()


def _record_error_clear(video: Video) -> None:
    video.error = None
    video.error_code = None
    video.error_cause = None


def _ended_words(status: VideoStatus) -> str:
    return {
        VideoStatus.COMPLETED: "completed",
        VideoStatus.FAILED: "failed",
        VideoStatus.CANCELLED: "been cancelled",
    }[status]


def parse_priority(value: str | None) -> Priority:
    """A priority from user input (`high`, `normal`, `low`), or ValueError saying which."""
    if value is None or value == "":
        return Priority.NORMAL
    try:
        return Priority(value.strip().lower())
    except ValueError:
        raise ValueError(
            f"unknown priority {value!r}; choose one of: {', '.join(p.value for p in Priority)}"
        ) from None


def parse_queues(values: Iterable[str]) -> list[Priority]:
    """The priorities a worker's `--queue` options name (each may list several, comma-
    separated): ValueError saying which is unknown. Empty: every priority."""
    found: list[Priority] = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                priority = parse_priority(part)
                if priority not in found:
                    found.append(priority)
    return found


def _holds_claim() -> ColumnElement[bool]:
    """A Batch Mode item whose video is still processing under the item's claim."""
    return and_(
        GeminiBatchItem.video_id == Video.id,
        Video.status == VideoStatus.PROCESSING,
        Video.claimed_by == GeminiBatchItem.claimed_by,
        Video.attempts == GeminiBatchItem.attempt,
    )


def _batch_item(item: GeminiBatchItem, video: Video) -> BatchItem:
    return BatchItem(
        id=item.id,
        claim=Claim(
            video_id=video.id,
            batch_id=video.batch_id,
            worker_id=item.claimed_by,
            attempt=item.attempt,
            storage_path=video.storage_path,
            original_name=video.original_name,
            content_hash=video.content_hash,
            teller=video.teller,
            seed=video.seed,
            model=video.model,
            priority=video.priority,
        ),
        model=item.model,
        request=item.request,
        file_name=item.file_name,
        evidence_id=item.evidence_id,
        state=item.state,
        remote_name=item.remote_name,
        sent=item.sent,
        tokens_in=item.tokens_in,
        tokens_out=item.tokens_out,
        created_at=item.created_at,
        submitted_at=item.submitted_at,
    )


def _spending(session: Session, *, since: dt.datetime, batch_id: str, besides: str) -> Spending:
    running = (
        Video.status == VideoStatus.PROCESSING,
        Video.id != besides,
        Video.cost_reserved_usd.is_not(None),
    )

    def total(stmt: Select[Any]) -> float:
        return float(session.scalar(stmt) or 0.0)

    stories = select(func.sum(StoryRow.cost_usd))
    wasted = select(func.sum(AttemptCost.cost_usd))  # attempts that wrote no story
    reserved = select(func.sum(Video.cost_reserved_usd)).where(*running)
    return Spending(
        today=total(stories.where(StoryRow.created_at >= since))
        + total(wasted.where(AttemptCost.created_at >= since)),
        running=total(reserved),
        batch=total(
            stories.join(Video, Video.id == StoryRow.video_id).where(Video.batch_id == batch_id)
        )
        + total(
            wasted.join(Video, Video.id == AttemptCost.video_id).where(Video.batch_id == batch_id)
        ),
        batch_running=total(reserved.where(Video.batch_id == batch_id)),
    )
