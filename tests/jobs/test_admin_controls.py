"""The admin's controls in the queue and the engine, on SQLite and PostgreSQL: a paused
service or batch has nothing claimed, a priority change moves the waiting videos, every
failure of one cause is retried at once, and engines register, report their stages and
obey drain and stop."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storyteller.db.models import (
    Priority,
    StageTiming,
    Video,
    VideoStatus,
    WorkerKind,
    WorkerRecord,
)
from storyteller.jobs.actions import NotFound, UserActions
from storyteller.jobs.queue import JobQueue
from tests.jobs.conftest import MakeBatch
from tests.jobs.test_engine import StartEngine, all_ended, start_engine, statuses, wait_for

pytestmark = pytest.mark.timeout(120)
__all__ = ["start_engine"]  # the fixture, shared with the engine's tests


def test_nothing_is_claimed_while_paused(
    queue: JobQueue, actions: UserActions, make_batch: MakeBatch
) -> None:
    make_batch(["a.mp4", "b.mp4"])
    actions.set_paused(True)
    assert actions.is_paused()
    assert queue.claim("w", limit=2) == []
    actions.set_paused(False)
    assert len(queue.claim("w", limit=2)) == 2


def test_a_paused_batch_is_passed_over(
    queue: JobQueue, actions: UserActions, make_batch: MakeBatch
) -> None:
    held = make_batch(["held.mp4"], priority="high")
    other = make_batch(["other.mp4"], priority="low")
    assert sorted(actions.set_batch_paused(held.id, True)) == [held.videos[0].id]
    claims = queue.claim("w", limit=2)
    assert [claim.batch_id for claim in claims] == [other.id]
    actions.set_batch_paused(held.id, False)
    assert [claim.batch_id for claim in queue.claim("w", limit=2)] == [held.id]
    with pytest.raises(NotFound):
        actions.set_batch_paused("nope", True)


def test_a_priority_change_moves_the_waiting_videos(
    queue: JobQueue, actions: UserActions, make_batch: MakeBatch, session: Session
) -> None:
    first = make_batch(["first.mp4"])
    later = make_batch(["later-1.mp4", "later-2.mp4"], priority="low")
    assert len(actions.set_batch_priority(later.id, Priority.HIGH)) == 2
    claims = queue.claim("w", limit=2)
    assert {claim.batch_id for claim in claims} == {later.id}
    assert queue.claim("w")[0].batch_id == first.id


def test_every_failure_of_one_cause_is_retried(
    queue: JobQueue, actions: UserActions, make_batch: MakeBatch, session: Session
) -> None:
    one = make_batch(["x.mp4", "y.mp4"])
    two = make_batch(["z.mp4"])
    ids = [v.id for v in one.videos + two.videos]
    session.execute(
        update(Video)
        .where(Video.id.in_(ids))
        .values(status=VideoStatus.FAILED, error_code="timeout", error="it took too long")
    )
    session.execute(update(Video).where(Video.id == ids[0]).values(error_code="not_a_video"))
    session.commit()
    assert sorted(actions.retry_failures("timeout")) == sorted(ids[1:])
    session.expire_all()
    counted = dict(
        session.execute(select(Video.id, Video.status).where(Video.id.in_(ids))).tuples().all()
    )
    assert counted == {
        ids[0]: VideoStatus.FAILED,
        ids[1]: VideoStatus.PENDING,
        ids[2]: VideoStatus.PENDING,
    }


def test_a_paused_engine_runs_nothing_until_resumed(
    start_engine: StartEngine, actions: UserActions, make_batch: MakeBatch, session: Session
) -> None:
    actions.set_paused(True)
    engine = start_engine(concurrency=1)
    batch = make_batch(["ok-1.mp4", "ok-2.mp4"])
    engine.wake()
    time.sleep(1.5)
    assert set(statuses(session, batch.id).values()) == {VideoStatus.PENDING}
    actions.set_paused(False)
    engine.wake()
    wait_for(all_ended(session, batch.id), timeout=30)


def test_an_engine_registers_reports_and_drains(
    start_engine: StartEngine, actions: UserActions, make_batch: MakeBatch, session: Session
) -> None:
    engine = start_engine(concurrency=1)
    batch = make_batch(["sleep-1.5.mp4", "ok.mp4"])
    engine.wake()
    wait_for(lambda: statuses(session, batch.id)["sleep-1.5.mp4"] == VideoStatus.PROCESSING)
    actions.order_worker(engine.worker_id, draining=True)
    # It finishes what it holds and takes nothing new.
    wait_for(lambda: statuses(session, batch.id)["sleep-1.5.mp4"] == VideoStatus.COMPLETED)
    time.sleep(1.5)
    assert statuses(session, batch.id)["ok.mp4"] == VideoStatus.PENDING
    row = session.get(WorkerRecord, engine.worker_id)
    assert row is not None and row.kind == WorkerKind.EMBEDDED and row.draining
    assert row.videos_done == 1 and row.current == []
    timings = session.scalars(select(StageTiming)).all()
    assert [t.stage for t in timings] == ["scenes"] and 1.0 < timings[0].seconds < 5.0
    actions.order_worker(engine.worker_id, draining=False)
    wait_for(all_ended(session, batch.id), timeout=30)


def test_an_admin_stop_stops_the_engine(
    start_engine: StartEngine, actions: UserActions, session: Session
) -> None:
    engine = start_engine(concurrency=1)
    actions.order_worker(engine.worker_id, stop=True)
    wait_for(lambda: not engine.supervising(), timeout=15)
    session.expire_all()
    wait_for(lambda: _stopped(session, engine.worker_id), timeout=15)
    with pytest.raises(NotFound):
        actions.order_worker("nobody", draining=True)


def _stopped(session: Session, worker_id: str) -> bool:
    session.rollback()  # a new snapshot
    session.expire_all()
    row = session.get(WorkerRecord, worker_id)
    return row is not None and row.stopped_at is not None
