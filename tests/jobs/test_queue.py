"""The job queue's operations on SQLite and PostgreSQL: claiming order, exactly-once
completion, retries, recovery of silent workers, and what users may do to a video."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from storyteller.db import crud
from storyteller.db.models import BatchStatus, ErrorCause, Priority, Video, VideoStatus
from storyteller.db.types import utcnow
from storyteller.jobs.actions import NotFound, UserActions, WrongState
from storyteller.jobs.attempt import Result
from storyteller.jobs.priorities import parse_priority, parse_queues
from storyteller.jobs.queue import JobQueue, retry_delay
from storyteller.jobs.states import STALLED_REASON
from tests.jobs.conftest import MakeBatch, batch_status, fresh
from tests.jobs.scripted import a_story


def test_claims_follow_priority_then_upload_order(queue: JobQueue, make_batch: MakeBatch) -> None:
    make_batch(["low-1.mp4"], priority="low")
    make_batch(["n-1.mp4", "n-2.mp4"])
    make_batch(["high-1.mp4"], priority="high")
    claimed = [c.name for c in queue.claim("w", limit=10)]
    assert claimed == ["high-1.mp4", "n-1.mp4", "n-2.mp4", "low-1.mp4"]
    assert queue.claim("w") == []


def test_low_priority_waits_while_anything_else_waits(
    queue: JobQueue, make_batch: MakeBatch
) -> None:
    make_batch(["low.mp4"], priority="low")
    make_batch([f"n{i}.mp4" for i in range(3)])
    first_three = [c.name for c in queue.claim("w", limit=3)]
    assert "low.mp4" not in first_three
    assert [c.name for c in queue.claim("w")] == ["low.mp4"]


def test_a_queue_of_some_priorities_claims_only_those(
    queue: JobQueue, make_batch: MakeBatch
) -> None:
    make_batch(["n-1.mp4", "n-2.mp4"])
    make_batch(["low-1.mp4"], priority="low")
    make_batch(["high-1.mp4"], priority="high")
    urgent = JobQueue(queue.engine, priorities=[Priority.HIGH])
    assert [c.name for c in urgent.claim("urgent", limit=5)] == ["high-1.mp4"]
    assert urgent.claim("urgent") == []  # normal and low wait for other workers
    background = JobQueue(queue.engine, priorities=parse_queues(["low"]))
    assert [c.name for c in background.claim("bg", limit=5)] == ["low-1.mp4"]
    assert [c.name for c in queue.claim("any", limit=5)] == ["n-1.mp4", "n-2.mp4"]


def test_worker_queues_are_priorities() -> None:
    assert parse_queues([]) == []
    assert parse_queues(["high,normal", " HIGH ", "low"]) == [
        Priority.HIGH,
        Priority.NORMAL,
        Priority.LOW,
    ]
    with pytest.raises(ValueError, match="unknown priority 'urgent'; choose one of: high"):
        parse_queues(["high,urgent"])


def test_a_new_batch_shares_the_workers_with_a_backlog(
    queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    backlog = make_batch([f"old-{i}.mp4" for i in range(50)])
    first = queue.claim("w", limit=2)
    assert {c.batch_id for c in first} == {backlog.id}
    newcomer = make_batch([f"new-{i}.mp4" for i in range(3)])
    # One of the backlog's two finishes: the free worker goes to the new batch, not to
    # the 48 videos that were waiting before it.
    assert queue.complete(first[0], Result(story=a_story("old-0")))
    [next_claim] = queue.claim("w")
    assert next_claim.batch_id == newcomer.id
    # With one running each, the older batch goes first: they alternate.
    assert queue.complete(first[1], Result(story=a_story("old-1")))
    assert queue.claim("w")[0].batch_id == backlog.id


def test_a_video_waits_for_its_retry_time(
    queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    batch = make_batch(["later.mp4"])
    session.execute(
        update(Video)
        .where(Video.batch_id == batch.id)
        .values(run_after=utcnow() + dt.timedelta(hours=1))
    )
    session.commit()
    assert queue.claim("w") == []


def test_claims_by_many_threads_never_share_a_video(queue: JobQueue, make_batch: MakeBatch) -> None:
    make_batch([f"v{i}.mp4" for i in range(40)])
    got: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while claims := queue.claim(name):
            with lock:
                got.extend(c.video_id for c in claims)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 40
    assert len(set(got)) == 40


def test_complete_keeps_the_story_once(
    queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    batch = make_batch(["a.mp4"])
    [claim] = queue.claim("w")
    assert claim.number == 1
    assert queue.complete(claim, Result(story=a_story("a")))
    assert not queue.complete(claim, Result(story=a_story("a")))
    video = fresh(session, claim.video_id)
    assert video.status == VideoStatus.COMPLETED
    assert video.progress == 1.0
    assert len(crud.story_versions(session, video_id=video.id)) == 1
    assert batch_status(session, batch.id) == BatchStatus.COMPLETED


def test_complete_many_keeps_every_story_in_one_go_but_a_lost_claim(
    actions: UserActions, queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    first = make_batch(["a.mp4", "b.mp4", "c.mp4"])
    second = make_batch(["d.mp4"])
    claims = {c.name: c for c in queue.claim("w", limit=4)}
    actions.cancel_video(claims["b.mp4"].video_id)  # its worker has not heard yet

    kept = queue.complete_many(
        [(claim, Result(story=a_story(name))) for name, claim in claims.items()]
    )

    assert kept == {claims[name].video_id for name in ("a.mp4", "c.mp4", "d.mp4")}
    assert fresh(session, claims["b.mp4"].video_id).status == VideoStatus.CANCELLED
    assert crud.story_versions(session, video_id=claims["b.mp4"].video_id) == []
    for name in ("a.mp4", "c.mp4", "d.mp4"):
        [story] = crud.story_versions(session, video_id=claims[name].video_id)
        assert (story.version, story.title) == (1, f"Story of {name}")
    # Every video of both batches has ended: both are settled by the same call.
    assert batch_status(session, first.id) == BatchStatus.COMPLETED
    assert batch_status(session, second.id) == BatchStatus.COMPLETED
    assert queue.complete_many([]) == set()


def test_complete_and_claim_hands_in_and_takes_the_next_in_one_go(
    queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    first = make_batch(["a-1.mp4", "a-2.mp4"])
    [running] = queue.claim("w")
    second = make_batch(["b-1.mp4"])

    # The finishing video does not count as running: its older batch goes on first.
    kept, [claim] = queue.complete_and_claim(
        [(running, Result(story=a_story("a-1")))], "w", limit=1
    )
    assert kept == {running.video_id}
    assert claim.name == "a-2.mp4"
    assert batch_status(session, first.id) == BatchStatus.PROCESSING

    kept, [claim_b] = queue.complete_and_claim(
        [(claim, Result(story=a_story("a-2")))], "w", limit=1
    )
    assert kept == {claim.video_id}
    assert claim_b.name == "b-1.mp4"
    # Its last video ended while the claim went to another batch: settled at once.
    assert batch_status(session, first.id) == BatchStatus.COMPLETED
    assert batch_status(session, second.id) == BatchStatus.PROCESSING

    kept, claims = queue.complete_and_claim([(claim_b, Result(story=a_story("b-1")))], "w", limit=1)
    assert (kept, claims) == ({claim_b.video_id}, [])
    assert batch_status(session, second.id) == BatchStatus.COMPLETED


def test_a_batch_whose_claimed_video_is_cancelled_still_ends(
    actions: UserActions, queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    # The completion skipped settling the batch because it took the batch's next video
    # in the same transaction; whoever ends that video settles it.
    batch = make_batch(["a.mp4", "b.mp4"])
    [claim_a] = queue.claim("w")
    kept, [claim_b] = queue.complete_and_claim(
        [(claim_a, Result(story=a_story("a")))], "w", limit=1
    )
    assert kept == {claim_a.video_id}
    assert batch_status(session, batch.id) == BatchStatus.PROCESSING
    actions.cancel_video(claim_b.video_id)
    assert batch_status(session, batch.id) == BatchStatus.COMPLETED


def test_a_claim_taken_over_cannot_complete(
    queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    make_batch(["slow.mp4"])
    [stale] = queue.claim("w1")
    assert queue.recover_stalled(timeout_s=60, dead_workers=["w1"]) == [stale.video_id]
    [again] = queue.claim("w2")
    assert again.video_id == stale.video_id
    assert again.number == 2
    assert not queue.heartbeat(stale)
    assert not queue.complete(stale, Result(story=a_story("late")))
    assert queue.complete(again, Result(story=a_story("on time")))
    [story] = crud.story_versions(session, video_id=again.video_id)
    assert story.title == "Story of on time"


def test_heartbeat_records_stage_and_progress(
    queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    make_batch(["a.mp4"])
    [claim] = queue.claim("w")
    assert queue.heartbeat(claim, stage="speech", progress=0.4)
    video = fresh(session, claim.video_id)
    assert (video.stage, video.progress) == ("speech", 0.4)


def test_a_retryable_failure_goes_back_to_the_queue_until_attempts_run_out(
    queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    batch = make_batch(["flaky.mp4"], max_attempts=2)
    [claim] = queue.claim("w")
    status = queue.fail(
        claim,
        Result.failed(
            "the speech stage failed",
            "stage_error",
            cause=ErrorCause.SERVICE,
            retryable=True,
        ),
    )
    assert status == VideoStatus.PENDING
    video = fresh(session, claim.video_id)
    assert video.error == "the speech stage failed"
    assert batch_status(session, batch.id) == BatchStatus.PROCESSING
    [claim] = queue.claim("w")
    assert claim.number == 2
    status = queue.fail(
        claim,
        Result.failed(
            "the speech stage failed again",
            "stage_error",
            cause=ErrorCause.SERVICE,
            retryable=True,
        ),
    )
    assert status == VideoStatus.FAILED
    video = fresh(session, claim.video_id)
    assert (video.status, video.error, video.attempts) == (
        VideoStatus.FAILED,
        "the speech stage failed again",
        2,
    )
    assert video.completed_at is not None
    assert batch_status(session, batch.id) == BatchStatus.COMPLETED


def test_a_bad_video_fails_at_once(
    queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    make_batch(["image.mp4"])
    [claim] = queue.claim("w")
    status = queue.fail(
        claim,
        Result.failed(
            "image.mp4 is a picture",
            "not_a_video",
            cause=ErrorCause.VIDEO,
            retryable=False,
        ),
    )
    assert status == VideoStatus.FAILED
    video = fresh(session, claim.video_id)
    assert (video.error_code, video.error_cause, video.attempts) == (
        "not_a_video",
        ErrorCause.VIDEO,
        1,
    )


def test_backoff_grows_and_stays_within_bounds() -> None:
    delays = [retry_delay(n, base_s=2, max_s=20) for n in range(1, 8)]
    assert 1.0 <= delays[0] <= 2.0
    assert 4.0 <= delays[2] <= 8.0
    assert all(d <= 20 for d in delays)


def test_release_gives_a_video_back_without_charging_it(
    queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    make_batch(["a.mp4"])
    [claim] = queue.claim("w")
    assert queue.release(claim)
    video = fresh(session, claim.video_id)
    assert (video.status, video.attempts, video.claimed_by) == (VideoStatus.PENDING, 0, None)
    assert not queue.release(claim)


def test_silent_workers_lose_their_videos(
    queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    make_batch(["a.mp4", "b.mp4"], max_attempts=1)
    make_batch(["c.mp4"])
    claims = queue.claim("w", limit=3)
    assert queue.recover_stalled(timeout_s=60) == []  # all heartbeated just now
    session.execute(update(Video).values(heartbeat_at=utcnow() - dt.timedelta(seconds=120)))
    session.commit()
    assert sorted(queue.recover_stalled(timeout_s=60)) == sorted(c.video_id for c in claims)
    by_name = {c.name: fresh(session, c.video_id) for c in claims}
    # Out of attempts: failed with the reason; the other goes back to the queue.
    assert by_name["a.mp4"].status == VideoStatus.FAILED
    assert STALLED_REASON in (by_name["a.mp4"].error or "")
    assert by_name["c.mp4"].status == VideoStatus.PENDING


def test_cancel_stops_a_waiting_or_running_video(
    actions: UserActions, queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    batch = make_batch(["running.mp4", "waiting.mp4"])
    [running] = queue.claim("w")
    waiting = next(v for v in batch.videos if v.original_name == "waiting.mp4")
    actions.cancel_video(waiting.id, batch_id=batch.id)
    actions.cancel_video(running.video_id)
    assert not queue.heartbeat(running)
    assert not queue.complete(running, Result(story=a_story("x")))
    for video_id in (waiting.id, running.video_id):
        assert fresh(session, video_id).status == VideoStatus.CANCELLED
    assert batch_status(session, batch.id) == BatchStatus.COMPLETED
    with pytest.raises(WrongState, match="cancelled"):
        actions.cancel_video(waiting.id)
    assert queue.claim("w") == []


def test_cancel_batch_and_retry_failed(
    actions: UserActions, queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    batch = make_batch(["a.mp4", "b.mp4", "c.mp4"])
    [done] = queue.claim("w")
    queue.complete(done, Result(story=a_story("a")))
    cancelled = actions.cancel_batch(batch.id)
    assert len(cancelled) == 2
    assert sorted(actions.retry_failed(batch.id)) == sorted(cancelled)
    assert batch_status(session, batch.id) == BatchStatus.PROCESSING
    assert fresh(session, done.video_id).status == VideoStatus.COMPLETED
    again = queue.claim("w", limit=5)
    assert sorted(c.video_id for c in again) == sorted(cancelled)
    assert all(c.number == 1 for c in again)


def test_retry_needs_a_failed_video(
    actions: UserActions, queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    batch = make_batch(["a.mp4"])
    video_id = batch.videos[0].id
    with pytest.raises(WrongState, match="only a failed or cancelled video"):
        actions.retry_video(video_id)
    [claim] = queue.claim("w")
    queue.fail(claim, Result.failed("broke", "x", cause=ErrorCause.SERVICE, retryable=False))
    video = actions.retry_video(video_id, batch_id=batch.id)
    assert (video.status, video.error, video.attempts) == (VideoStatus.PENDING, None, 0)


def test_regenerate_queues_a_new_version(
    actions: UserActions, queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    batch = make_batch(["a.mp4"])
    video_id = batch.videos[0].id
    with pytest.raises(WrongState, match="only a completed video"):
        actions.regenerate(video_id)
    [claim] = queue.claim("w")
    queue.complete(claim, Result(story=a_story("first")))
    video = actions.regenerate(video_id, seed=7)
    assert (video.status, video.seed) == (VideoStatus.PENDING, 7)
    # The first story stays readable while the new one is written.
    assert crud.current_story(session, video_id=video_id).title == "Story of first"  # type: ignore[union-attr]
    [claim] = queue.claim("w")
    assert claim.seed == 7
    queue.complete(claim, Result(story=a_story("second")))
    session.rollback()  # see what the queue committed
    versions = crud.story_versions(session, video_id=video_id)
    assert [(s.version, s.seed, s.title) for s in versions] == [
        (1, 0, "Story of first"),
        (2, 7, "Story of second"),
    ]


def test_unknown_ids_are_not_found(
    actions: UserActions, queue: JobQueue, make_batch: MakeBatch
) -> None:
    batch = make_batch(["a.mp4"])
    with pytest.raises(NotFound):
        actions.cancel_video("no-such-video")
    with pytest.raises(NotFound):
        actions.retry_video(batch.videos[0].id, batch_id="another-batch")
    with pytest.raises(NotFound):
        actions.cancel_batch("no-such-batch")


def test_priority_from_user_input() -> None:
    assert parse_priority(None) == "normal"
    assert parse_priority(" HIGH ") == "high"
    with pytest.raises(ValueError, match="choose one of: high, normal, low"):
        parse_priority("urgent")


def test_a_regeneration_that_fails_keeps_the_story(
    actions: UserActions, queue: JobQueue, make_batch: MakeBatch, session: Session
) -> None:
    batch = make_batch(["a.mp4"], max_attempts=1)
    [claim] = queue.claim("w")
    queue.complete(claim, Result(story=a_story("first")))
    actions.regenerate(batch.videos[0].id)
    [claim] = queue.claim("w")
    status = queue.fail(
        claim, Result.failed("API key rejected", "auth", cause=ErrorCause.SERVICE, retryable=False)
    )
    assert status == VideoStatus.COMPLETED
    video = fresh(session, claim.video_id)
    assert (video.status, video.error) == (VideoStatus.COMPLETED, "API key rejected")
    assert crud.current_story(session, video_id=video.id).title == "Story of first"  # type: ignore[union-attr]
    assert batch_status(session, batch.id) == BatchStatus.COMPLETED
