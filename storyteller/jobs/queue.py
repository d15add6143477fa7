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

Nothing is claimed while an admin has paused processing (the `service_state` row, read
in the claiming transaction: every engine on every machine sees it at its next claim) nor
from a paused batch. Each engine registers in the `worker` table and reports there every
second (`register`, `report`), reading back the admin's orders: drain, stop.

This module holds the worker's side (claim, heartbeat, complete, fail, release, defer,
recover, register, report); what users do to videos is in `actions.py`, the spending budgets in
`budget.py`, and every state change either makes is one function of `states.py`.

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
from typing import cast

from sqlalchemy import (
    Engine,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from storyteller.db import crud
from storyteller.db.models import (
    AttemptCost,
    Batch,
    Priority,
    ServiceState,
    StageTiming,
    Video,
    VideoStatus,
    WorkerKind,
    WorkerRecord,
)
from storyteller.db.session import make_session_factory, write_engine
from storyteller.db.types import utcnow
from storyteller.jobs import states
from storyteller.jobs.attempt import Attempt, Result
from storyteller.notifications import fanout

# Retry backoff: the first retry after about RETRY_BASE_S, doubling, at most RETRY_MAX_S.
RETRY_BASE_S = 5.0
RETRY_MAX_S = 300.0
# The stage of a video whose result comes later (Gemini Batch Mode): it has no worker to
# heartbeat it, so it is never taken for stalled.
LATER_STAGE = "batch"

# Rows of engines stopped (or silent) this long are deleted when another one registers.
WORKERS_KEPT = dt.timedelta(days=7)

# Called in the transaction that ends a video, with its session (see `complete`).
AlsoInTransaction = Callable[[Session], None]


def new_worker_id() -> str:
    """`host:pid:random`: unique, and it names the process to look for when recovering."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Orders:
    """What an admin asked of a worker, read back with its report."""

    draining: bool = False  # finish what it holds, take nothing new
    stop: bool = False  # stop as on SIGTERM


@dataclass(frozen=True)
class Timing:
    """One stage of one video, as an engine saw it go by."""

    video_id: str
    stage: str
    seconds: float
    ended_at: dt.datetime


def retry_delay(attempt: int, *, base_s: float = RETRY_BASE_S, max_s: float = RETRY_MAX_S) -> float:
    """Seconds before try `attempt + 1`: exponential, with jitter so that videos failed by
    the same outage do not all come back at the same moment."""
    delay = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return delay * random.uniform(0.5, 1.0)


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
_PAUSED = select(ServiceState.paused).where(ServiceState.id == 1)
# On PostgreSQL every claim holds this advisory lock shared, and a pause takes it
# exclusively before it writes the flag: the pause waits for the claims under way, and
# every claim after it sees the flag, so nothing is claimed once the pause has answered.
# (A row lock FOR SHARE would do the same, but share lockers of a row can starve its
# writer; the lock manager queues a waiting exclusive lock ahead of new shared ones.)
PAUSE_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"storyteller.pause").digest()[:8], "big", signed=True
)
_PAUSE_LOCK_SHARED = text("SELECT pg_advisory_xact_lock_shared(:key)").bindparams(
    key=PAUSE_LOCK_KEY
)
_PAUSED_BATCHES = select(Batch.id).where(Batch.paused.is_(True))
_DRAINING = select(WorkerRecord.draining).where(WorkerRecord.id == bindparam("p_worker_id"))


def held_by(attempt: Attempt) -> tuple:
    """Conditions matching the video only while `attempt` is still its worker's."""
    return (
        _V.id == attempt.video_id,
        _V.status == VideoStatus.PROCESSING,
        _V.claimed_by == attempt.worker_id,
        _V.attempts == attempt.number,
    )


class JobQueue:
    """The worker's operations on the queue of one database. Thread-safe: each call is
    its own transaction, and the claim and state changes lock what they change (SQLite's
    write lock taken at BEGIN, PostgreSQL's row locks)."""

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

    # --- taking videos ---------------------------------------------------------

    def claim(self, worker_id: str, *, limit: int = 1) -> list[Attempt]:
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
        self, finished: Iterable[tuple[Attempt, Result]], worker_id: str, *, limit: int
    ) -> tuple[set[str], list[Attempt]]:
        """`complete_many` and `claim` in one transaction: a busy worker hands in what it
        finished and takes videos for its free slots with one commit (dispatch of short
        jobs is bound by round trips and commits). The ids kept, and the new attempts."""
        finished = list(finished)
        with self._sessions.begin() as session:
            # Claims first: the batch rows that completions lock are then held only
            # until the commit. The finishing videos do not count as running.
            ending: dict[str, int] = {}
            for attempt, _ in finished:
                ending[attempt.batch_id] = ending.get(attempt.batch_id, 0) + 1
            claims = self._claim_in(session, worker_id, limit, ending=ending)
            # A batch that one of these claims belongs to cannot have ended: whoever
            # ends that video (completes, fails, cancels or recovers it) settles the
            # batch once this commits. Not settling it here spares two statements and
            # the batch-row lock that every worker on a big batch would queue for.
            kept = self._complete_in(session, finished, unended={c.batch_id for c in claims})
        return kept, claims

    def _claim_in(
        self, session: Session, worker_id: str, limit: int, *, ending: dict[str, int] | None = None
    ) -> list[Attempt]:
        if self._postgres:
            session.execute(_PAUSE_LOCK_SHARED)
        if session.scalar(_PAUSED):
            return []  # an admin paused all processing
        if session.scalar(_DRAINING, {"p_worker_id": worker_id}):
            return []  # an admin drained this worker (its engine hears it within a second)
        paused = set(session.scalars(_PAUSED_BATCHES))
        now = utcnow()
        claims: list[Attempt] = []
        while len(claims) < limit:
            taken = self._claim_some(
                session, worker_id, now, limit - len(claims), ending or {}, paused
            )
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
        paused: set[str],
    ) -> list[Attempt]:
        """Up to `limit` videos of the first priority that has videos ready, keeping fair
        share between its batches (the running counts are updated as videos are taken;
        `ending`: videos per batch that are running but about to end; `paused`: batches
        not to take from). Empty when nothing is ready."""
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
            elif Priority(priority) in self.priorities and batch_id not in paused:
                waiting.setdefault(Priority(priority), {})[batch_id] = oldest
        if not waiting:
            return []
        priority = min(waiting, key=_PRIORITY_ORDER.index)
        batches = waiting[priority]
        pick = _CLAIM_SKIP_LOCKED if self._postgres else _CLAIM
        claims: list[Attempt] = []
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
                Attempt(
                    video_id=row.id,
                    batch_id=row.batch_id,
                    worker_id=worker_id,
                    number=row.attempts,
                    key=row.storage_path,
                    name=row.original_name,
                    content_hash=row.content_hash,
                    teller=row.teller,
                    seed=row.seed,
                    model=row.model,
                    priority=Priority(row.priority),
                )
            )
        return claims

    # --- while it runs -----------------------------------------------------------

    def heartbeat(
        self, attempt: Attempt, *, stage: str | None = None, progress: float | None = None
    ) -> bool:
        """Say the video is still being worked on (with its stage and progress, if
        given). False when the claim is lost: cancelled, or given to another worker;
        the worker should then stop working on it."""
        return not self.heartbeat_many([(attempt, stage, progress)])

    def heartbeat_many(
        self, running: Iterable[tuple[Attempt, str | None, float | None]]
    ) -> set[str]:
        """`heartbeat` for several attempts (with each one's stage and progress) in one
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
            for attempt, stage, progress in running:
                values: dict[str, object] = {"heartbeat_at": now}
                if stage is not None:
                    values["stage"] = stage
                if progress is not None:
                    values["progress"] = min(1.0, max(0.0, progress))
                result = session.execute(
                    update(_VIDEO_TABLE).where(*held_by(attempt)).values(**values)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    lost.add(attempt.video_id)
        return lost

    # --- ending an attempt ---------------------------------------------------------

    def complete(
        self, attempt: Attempt, result: Result, *, also: AlsoInTransaction | None = None
    ) -> bool:
        """Keep the story and mark the video completed, in one transaction. False (and
        nothing kept) when the claim is no longer this worker's. `also` runs in the same
        transaction (whoever brought the result drops its own record of it there)."""
        with self._sessions.begin() as session:
            if also is not None:
                also(session)
            return bool(self._complete_in(session, [(attempt, result)]))

    def complete_many(self, finished: Iterable[tuple[Attempt, Result]]) -> set[str]:
        """`complete` for several videos in one transaction (one commit for all the
        videos a worker finished in one look); the ids of those whose story was kept.
        A lost claim keeps nothing of its own video and does not stop the others."""
        with self._sessions.begin() as session:
            return self._complete_in(session, finished)

    def _complete_in(
        self,
        session: Session,
        finished: Iterable[tuple[Attempt, Result]],
        *,
        unended: Iterable[str] = (),
    ) -> set[str]:
        """Complete each; settle the batches of those kept, but the `unended` ones."""
        # Rows locked in one order everywhere (by id): no deadlock between workers.
        finished = sorted(finished, key=lambda item: item[0].video_id)
        kept = {
            attempt.video_id
            for attempt, result in finished
            if self._complete_one(session, attempt, result)
        }
        # Once per batch, after its videos: the batch row is locked last.
        if kept:
            connection = session.connection()
            ended = {a.batch_id for a, _ in finished if a.video_id in kept} - set(unended)
            for batch_id in sorted(ended):
                crud.settle_batch(connection, batch_id=batch_id)
        return kept

    def _complete_one(self, session: Session, attempt: Attempt, result: Result) -> bool:
        if result.story is None:
            raise ValueError("a result without a story cannot complete a video")
        evidence_id = None
        if result.evidence is not None and result.evidence_fingerprint:
            # Kept even when the claim turns out lost: evidence is shared by every upload
            # of the same bytes, and the next run of this video finds it ready.
            record = crud.save_evidence(
                session, evidence=result.evidence, fingerprint=result.evidence_fingerprint
            )
            evidence_id = record.id
        # Plain statements from here: no ORM object of the video or batch is loaded.
        connection = session.connection()
        values = states.completed_values()
        if evidence_id is not None:
            values["evidence_id"] = evidence_id
        updated = connection.execute(update(_VIDEO_TABLE).where(*held_by(attempt)).values(**values))
        if updated.rowcount != 1:
            return False
        # The update above holds the video's row lock: the version number is safe.
        crud.insert_story_version(
            connection,
            video_id=attempt.video_id,
            story=result.story,
            teller=result.usage.teller if result.usage else attempt.teller,
            seed=attempt.seed,
            usage=result.usage,
            evidence_id=evidence_id,
        )
        crud.record_spend(
            connection,
            batch_id=attempt.batch_id,
            video_id=attempt.video_id,
            attempt=attempt.number,
            usage=result.usage,
            wrote_story=True,
        )
        fanout.video_ended(connection, attempt.batch_id, attempt.video_id, failed=False)
        return True

    def fail(
        self, attempt: Attempt, result: Result, *, also: AlsoInTransaction | None = None
    ) -> VideoStatus | None:
        """End this attempt with the result's failure. A retryable failure with attempts
        left goes back to the queue after a backoff; otherwise the video fails (or keeps
        the story it had, when this was a new version). What the attempt spent at a
        provider is kept for the budgets, with the failure. Returns the video's new
        status, or None when the claim was no longer this worker's. `also`: as in
        `complete`."""
        with self._sessions.begin() as session:
            if also is not None:
                also(session)
            video = self._locked(session, attempt)
            if video is None:
                return None
            failure, usage = result.why, result.usage
            if usage is not None and usage.spent:
                session.add(
                    AttemptCost(
                        video_id=video.id,
                        attempt=attempt.number,
                        teller=usage.teller,
                        model=usage.model,
                        tokens_in=usage.tokens_in,
                        tokens_out=usage.tokens_out,
                        cost_usd=usage.cost_usd,
                    )
                )
            crud.record_spend(
                session.connection(),
                batch_id=video.batch_id,
                video_id=video.id,
                attempt=attempt.number,
                usage=usage,
                wrote_story=False,
            )
            states.attempt_failed(
                video,
                failure,
                retry_in_s=retry_delay(
                    video.attempts, base_s=self.retry_base_s, max_s=self.retry_max_s
                ),
                has_story=crud.current_story(session, video_id=video.id) is not None,
            )
            session.flush()
            if video.status == VideoStatus.FAILED:
                fanout.video_ended(session, video.batch_id, video.id, failed=True)
            crud.settle_batch(session.connection(), batch_id=video.batch_id)
            return video.status

    def release(
        self, attempt: Attempt, *, until: dt.datetime | None = None, reason: str | None = None
    ) -> bool:
        """Give a video back unfinished and without charging the attempt: a worker
        shutting down, or a video held back until `until` with `reason` shown (a budget
        it would pass). False when the claim was no longer this worker's."""
        with self._sessions.begin() as session:
            video = self._locked(session, attempt)
            if video is None:
                return False
            states.given_back(video, until=until, reason=reason)
            return True

    def defer(self, attempt: Attempt, *, also: AlsoInTransaction | None = None) -> bool:
        """The attempt's result comes later (a request sent to be answered in hours): the
        video stays processing under this claim, in stage `LATER_STAGE`, until whoever
        holds the request completes or fails it. False (and `also` undone) when the claim
        is no longer this worker's."""
        with self._sessions.begin() as session:
            video = self._locked(session, attempt)
            if video is None:
                return False
            video.stage = LATER_STAGE
            video.heartbeat_at = utcnow()
            if also is not None:
                also(session)
            return True

    def extend(
        self, attempt: Attempt, *, number: int, also: AlsoInTransaction | None = None
    ) -> bool | None:
        """Count attempt `number` on a video whose result comes later (its request goes
        again), with `also` in the same transaction. False when the video has used its
        attempts, None when the claim is lost (nothing done either way)."""
        with self._sessions.begin() as session:
            video = self._locked(session, attempt)
            if video is None:
                return None
            if not states.attempts_left(video):
                return False
            video.attempts = number
            video.heartbeat_at = utcnow()
            if also is not None:
                also(session)
            return True

    def _locked(self, session: Session, attempt: Attempt) -> Video | None:
        return session.scalars(
            select(Video).where(*held_by(attempt)).with_for_update()
        ).one_or_none()

    # --- lost workers ---------------------------------------------------------------

    def recover_stalled(self, *, timeout_s: float, dead_workers: Iterable[str] = ()) -> list[str]:
        """Requeue the videos of lost workers; returns their ids.

        A worker found dead on its own host (`dead_workers`: its service was stopped or
        killed, and this one started since) had nothing wrong with its video: the run is
        counted in `interruptions`, not charged as an attempt (failing the video only
        after MAX_INTERRUPTIONS of them). A worker that went silent for `timeout_s` while the service
        went on elsewhere is charged the attempt (failing the video once out of them)."""
        cutoff = utcnow() - dt.timedelta(seconds=timeout_s)
        dead = set(dead_workers)
        stalled = (Video.heartbeat_at < cutoff) | Video.heartbeat_at.is_(None)
        if dead:
            stalled = stalled | Video.claimed_by.in_(dead)
        # A video whose result comes later has no worker to be silent.
        waiting = Video.stage.is_not(None) & (Video.stage == LATER_STAGE)
        stmt = select(Video).where(Video.status == VideoStatus.PROCESSING, stalled, ~waiting)
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        recovered: list[str] = []
        with self._sessions.begin() as session:
            for video in session.scalars(stmt):
                if video.claimed_by in dead:
                    states.interrupted(video)
                else:
                    states.stalled(video)
                session.flush()
                if video.status == VideoStatus.FAILED:
                    fanout.video_ended(session, video.batch_id, video.id, failed=True)
                crud.settle_batch(session.connection(), batch_id=video.batch_id)
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

    # --- the workers' registry ------------------------------------------------------

    def register(
        self, worker_id: str, *, kind: WorkerKind, concurrency: int, pid: int | None = None
    ) -> None:
        """Enter this engine in the `worker` table (host and process from its id)."""
        host, _, rest = worker_id.partition(":")
        now = utcnow()
        with self._sessions.begin() as session:
            # Engines gone for a week are forgotten (killed ones never signed off).
            forgotten = now - WORKERS_KEPT
            session.execute(
                delete(WorkerRecord).where(
                    (WorkerRecord.stopped_at < forgotten) | (WorkerRecord.heartbeat_at < forgotten)
                )
            )
            session.execute(
                insert(WorkerRecord).values(
                    id=worker_id,
                    host=host,
                    pid=pid if pid is not None else int(rest.partition(":")[0] or 0),
                    kind=kind,
                    concurrency=concurrency,
                    queues=[priority.value for priority in Priority if priority in self.priorities],
                    started_at=now,
                    heartbeat_at=now,
                    videos_done=0,
                    current=[],
                    draining=False,
                    stop_requested=False,
                )
            )

    def report(
        self,
        worker_id: str,
        *,
        current: list[str],
        videos_done: int,
        timings: Iterable[Timing] = (),
    ) -> Orders:
        """Say this engine is alive, what it runs and has done, and keep the stage timings
        it saw; the admin's orders for it come back."""
        timings = list(timings)
        with self._sessions.begin() as session:
            if self._postgres:  # as a heartbeat: the next one comes within a second
                session.execute(text("SET LOCAL synchronous_commit = off"))
            row = session.execute(
                update(WorkerRecord)
                .where(WorkerRecord.id == worker_id)
                .values(heartbeat_at=utcnow(), current=current, videos_done=videos_done)
                .returning(WorkerRecord.draining, WorkerRecord.stop_requested)
            ).first()
            if timings:
                # Only of videos still there (a batch deleted meanwhile took its own).
                present = set(
                    session.scalars(
                        select(Video.id).where(Video.id.in_({t.video_id for t in timings}))
                    )
                )
                rows = [
                    {
                        "video_id": t.video_id,
                        "stage": t.stage[:32],
                        "seconds": t.seconds,
                        "ended_at": t.ended_at,
                    }
                    for t in timings
                    if t.video_id in present
                ]
                if rows:
                    session.execute(insert(StageTiming), rows)
        if row is None:
            return Orders()
        return Orders(draining=bool(row.draining), stop=bool(row.stop_requested))

    def sign_off(self, worker_id: str) -> None:
        """This engine stopped: it stays listed (stopped) for the admin to see."""
        with self._sessions.begin() as session:
            session.execute(
                update(WorkerRecord)
                .where(WorkerRecord.id == worker_id)
                .values(stopped_at=utcnow(), current=[])
            )
