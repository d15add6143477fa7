"""The embedded engine with real worker processes, on SQLite and PostgreSQL: videos run
side by side, crashes and exceptions are retried then fail with their reason, cancels
stop a running video, a graceful stop gives unfinished videos back, and a new engine
takes over what a dead server left running."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from storyteller.config import Settings
from storyteller.db import crud
from storyteller.db.models import ErrorCause, Video, VideoStatus
from storyteller.db.types import utcnow
from storyteller.jobs.actions import UserActions
from storyteller.jobs.engine import EmbeddedEngine
from storyteller.jobs.queue import JobQueue
from tests.jobs.conftest import MakeBatch, fresh
from tests.jobs.scripted import SCRIPTED, runs

pytestmark = pytest.mark.timeout(120)

StartEngine = Callable[..., EmbeddedEngine]


@pytest.fixture
def start_engine(settings: Settings, engine: Engine, queue: JobQueue) -> Iterator[StartEngine]:
    """start_engine(concurrency=2): a running engine on the scripted jobs, stopped after."""
    started: list[EmbeddedEngine] = []

    def start(concurrency: int = 2, **overrides: object) -> EmbeddedEngine:
        engine_settings = settings.model_copy(update=overrides)
        job_engine = EmbeddedEngine(
            engine_settings, engine, job=SCRIPTED, concurrency=concurrency, queue=queue
        )
        job_engine.start()
        started.append(job_engine)
        return job_engine

    yield start
    for job_engine in started:
        job_engine.stop(grace_s=0)


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.05)


def statuses(session: Session, batch_id: str) -> dict[str, VideoStatus]:
    session.rollback()
    session.expire_all()
    batch = crud.get_batch(session, batch_id)
    assert batch is not None
    return {video.original_name: video.status for video in batch.videos}


def all_ended(session: Session, batch_id: str) -> Callable[[], bool]:
    return lambda: all(status.ended for status in statuses(session, batch_id).values())


def test_runs_a_batch_to_the_end(
    start_engine: StartEngine, make_batch: MakeBatch, session: Session, settings: Settings
) -> None:
    batch = make_batch([f"ok-{i}.mp4" for i in range(12)])
    start_engine(concurrency=2)
    wait_for(all_ended(session, batch.id))
    assert set(statuses(session, batch.id).values()) == {VideoStatus.COMPLETED}
    assert sorted(runs(settings)) == sorted(v.id for v in batch.videos)
    stories = crud.current_stories(session, video_ids=[v.id for v in batch.videos])
    assert {s.title for s in stories.values()} == {f"Story of ok-{i}.mp4" for i in range(12)}


def test_two_videos_run_at_once_with_their_progress(
    start_engine: StartEngine, make_batch: MakeBatch, session: Session
) -> None:
    batch = make_batch(["sleep-3.mp4", "sleep-3.mp4"])
    start_engine(concurrency=2)

    def both_running_with_progress() -> bool:
        session.rollback()
        session.expire_all()
        videos = crud.get_batch(session, batch.id).videos  # type: ignore[union-attr]
        return all(
            v.status == VideoStatus.PROCESSING and v.stage == "scenes" and v.progress > 0
            for v in videos
        )

    wait_for(both_running_with_progress, timeout=20)
    wait_for(all_ended(session, batch.id))


def test_a_crashing_worker_is_replaced_and_the_video_fails_after_its_attempts(
    start_engine: StartEngine, make_batch: MakeBatch, session: Session, settings: Settings
) -> None:
    batch = make_batch(["crash.mp4", "ok.mp4"], max_attempts=2)
    start_engine(concurrency=1)
    wait_for(all_ended(session, batch.id))
    crashed, ok = batch.videos
    video = fresh(session, crashed.id)
    assert video.status == VideoStatus.FAILED
    assert video.attempts == 2
    assert video.error_code == "worker_crashed"
    assert "stopped unexpectedly (exit code 3)" in (video.error or "")
    assert fresh(session, ok.id).status == VideoStatus.COMPLETED
    assert runs(settings).count(crashed.id) == 2


def test_an_exception_fails_the_video_not_the_worker(
    start_engine: StartEngine, make_batch: MakeBatch, session: Session
) -> None:
    batch = make_batch(["raise.mp4", "reject.mp4", "ok.mp4"], max_attempts=1)
    start_engine(concurrency=1)
    wait_for(all_ended(session, batch.id))
    raised, rejected, ok = (fresh(session, v.id) for v in batch.videos)
    assert raised.status == VideoStatus.FAILED
    assert raised.error == "raise.mp4: unexpected error: RuntimeError: the scripted job broke"
    assert (rejected.error, rejected.error_cause) == ("reject.mp4 is not a video", ErrorCause.VIDEO)
    assert ok.status == VideoStatus.COMPLETED


def test_cancel_stops_a_running_video_within_two_seconds(
    actions: UserActions,
    start_engine: StartEngine,
    make_batch: MakeBatch,
    session: Session,
    queue: JobQueue,
) -> None:
    batch = make_batch(["sleep-60.mp4", "ok.mp4"])
    job_engine = start_engine(concurrency=1)
    slow = batch.videos[0]
    wait_for(lambda: job_engine.running_videos() == [slow.id], timeout=30)
    cancelled_at = time.monotonic()
    actions.cancel_video(slow.id)
    job_engine.wake()
    wait_for(lambda: slow.id not in job_engine.running_videos(), timeout=5)
    assert time.monotonic() - cancelled_at < 2.0
    # The worker was replaced and goes on with the rest of the queue.
    wait_for(all_ended(session, batch.id))
    assert statuses(session, batch.id) == {
        "sleep-60.mp4": VideoStatus.CANCELLED,
        "ok.mp4": VideoStatus.COMPLETED,
    }


def test_graceful_stop_gives_unfinished_videos_back(
    start_engine: StartEngine, make_batch: MakeBatch, session: Session
) -> None:
    batch = make_batch(["sleep-1.mp4", "sleep-60.mp4"])
    job_engine = start_engine(concurrency=2)
    wait_for(lambda: len(job_engine.running_videos()) == 2, timeout=30)
    job_engine.stop(grace_s=3)
    short, long = (fresh(session, v.id) for v in batch.videos)
    assert short.status == VideoStatus.COMPLETED  # finished within the grace period
    assert (long.status, long.attempts, long.claimed_by) == (VideoStatus.PENDING, 0, None)


def test_a_new_engine_takes_over_what_a_dead_server_left_running(
    start_engine: StartEngine, make_batch: MakeBatch, session: Session, settings: Settings
) -> None:
    batch = make_batch(["ok-1.mp4", "ok-2.mp4"])
    # As a server killed mid-work leaves them: processing, claimed by a process that is gone.
    dead_pid = 2**22 + 12345  # above Linux's pid_max default, so no process has it
    assert dead_pid > int(Path("/proc/sys/kernel/pid_max").read_text())
    session.execute(
        update(Video)
        .where(Video.batch_id == batch.id)
        .values(
            status=VideoStatus.PROCESSING,
            claimed_by=f"{socket.gethostname()}:{dead_pid}:deadbeef",
            attempts=1,
            heartbeat_at=utcnow(),
        )
    )
    session.commit()
    started = time.monotonic()
    start_engine(concurrency=2)
    wait_for(all_ended(session, batch.id), timeout=30)
    # Well before the heartbeat timeout: the dead process was recognised at once.
    assert time.monotonic() - started < settings.heartbeat_timeout_s / 2
    for video in batch.videos:
        video = fresh(session, video.id)
        assert (video.status, video.attempts) == (VideoStatus.COMPLETED, 2)
        assert len(crud.story_versions(session, video_id=video.id)) == 1


def test_a_silent_worker_elsewhere_loses_its_video_after_the_timeout(
    start_engine: StartEngine, make_batch: MakeBatch, session: Session
) -> None:
    batch = make_batch(["ok.mp4"])
    session.execute(
        update(Video)
        .where(Video.batch_id == batch.id)
        .values(
            status=VideoStatus.PROCESSING,
            claimed_by="another-host:1:cafe",
            attempts=1,
            heartbeat_at=utcnow(),
        )
    )
    session.commit()
    start_engine(concurrency=1, heartbeat_timeout_s=2.0)
    time.sleep(0.5)
    assert statuses(session, batch.id) == {"ok.mp4": VideoStatus.PROCESSING}  # still trusted
    wait_for(all_ended(session, batch.id), timeout=20)
    assert statuses(session, batch.id) == {"ok.mp4": VideoStatus.COMPLETED}


def test_workers_exit_with_the_server(start_engine: StartEngine, make_batch: MakeBatch) -> None:
    job_engine = start_engine(concurrency=2)
    pids = [slot.process.pid for slot in job_engine._slots]
    job_engine.stop(grace_s=0)
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_video_cancelled_and_retried_at_once_runs_once(
    actions: UserActions, start_engine: StartEngine, make_batch: MakeBatch, queue: JobQueue
) -> None:
    batch = make_batch(["sleep-60.mp4"])
    video_id = batch.videos[0].id
    job_engine = start_engine(concurrency=2)
    wait_for(lambda: job_engine.running_videos() == [video_id], timeout=30)
    first_pid = next(s.process.pid for s in job_engine._slots if s.attempt)
    # Within one heartbeat, before the engine has seen the cancel.
    actions.cancel_video(video_id)
    actions.retry_video(video_id)
    job_engine.wake()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert job_engine.running_videos().count(video_id) <= 1
        time.sleep(0.05)
    assert job_engine.running_videos() == [video_id]
    running = [s.process.pid for s in job_engine._slots if s.attempt]
    assert running and first_pid not in running  # the cancelled run was stopped


def test_a_video_past_the_time_limit_is_stopped_and_fails_with_the_reason(
    start_engine: StartEngine, make_batch: MakeBatch, session: Session, settings: Settings
) -> None:
    batch = make_batch(["sleep-30.mp4", "ok.mp4"], max_attempts=3)
    job_engine = start_engine(concurrency=1, video_time_limit_s=2.0)
    wait_for(lambda: bool(job_engine.running_videos()), timeout=30)
    first_pid = next(s.process.pid for s in job_engine._slots if s.attempt)
    started = time.monotonic()
    wait_for(all_ended(session, batch.id), timeout=30)
    assert time.monotonic() - started < 10  # not the 30 s the job would take
    slow, ok = (fresh(session, v.id) for v in batch.videos)
    assert slow.status == VideoStatus.FAILED
    assert (slow.error_code, slow.error_cause) == ("time_limit", ErrorCause.VIDEO)
    assert slow.error == (
        "sleep-30.mp4 took longer than the 2 s a video may take (during scenes); it was stopped"
    )
    assert slow.attempts == 1  # not retried: another try would take as long
    assert runs(settings).count(slow.id) == 1
    # Its job process was ended, and a fresh one ran the next video.
    assert ok.status == VideoStatus.COMPLETED
    assert first_pid not in [s.process.pid for s in job_engine._slots]
    with pytest.raises(ProcessLookupError):
        os.kill(first_pid, 0)  # type: ignore[arg-type]
