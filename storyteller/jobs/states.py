"""Every change of a video's state, each one named: the worker's calls and the user's
actions both move videos only through these.

They change a locked video row (an ORM object in the caller's transaction); the caller
settles the batch afterwards (`crud.settle_batch`). The hot path of completion, which
updates plain rows, takes its values from `completed_values`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from storyteller.db.models import ErrorCause, Video, VideoStatus
from storyteller.db.types import utcnow
from storyteller.jobs.attempt import Failure

CANCELLED_REASON = "cancelled by a user"
STALLED_REASON = "the worker processing this video stopped answering"
INTERRUPTED_REASON = "the service stopped while this video ran"
# A video whose runs were lost this many times to a stopped service fails all the same:
# something in it may be what stops the service.
MAX_INTERRUPTIONS = 10


def attempts_left(video: Video) -> bool:
    """Whether another attempt may be charged: `attempts` counts every run (it is the
    claim.s number), `interruptions` those lost to a stopped service."""
    return video.attempts - video.interruptions < video.max_attempts


def completed_values() -> dict[str, Any]:
    """The columns of a video whose story has just been kept."""
    return {
        "status": VideoStatus.COMPLETED,
        "stage": None,
        "progress": 1.0,
        "completed_at": utcnow(),
        "error": None,
        "error_code": None,
        "error_cause": None,
        # The version just written becomes current: writing it again was asked for.
        "current_story_id": None,
    }


def back_to_queue(video: Video, *, delay_s: float = 0.0) -> None:
    """Pending again, to be claimed after `delay_s` (the attempt stays counted)."""
    video.status = VideoStatus.PENDING
    video.claimed_by = None
    video.heartbeat_at = None
    video.stage = None
    video.progress = 0.0
    video.run_after = utcnow() + dt.timedelta(seconds=delay_s)


def given_back(
    video: Video, *, until: dt.datetime | None = None, reason: str | None = None
) -> None:
    """Pending again without charging the attempt (a worker stopping, a budget hold, a
    service that was restarted under it); held until `until` with `reason` shown."""
    video.attempts = max(0, video.attempts - 1)
    back_to_queue(video)
    if until is not None:
        video.run_after = until
    video.wait_reason = reason


def attempt_failed(video: Video, failure: Failure, *, retry_in_s: float, has_story: bool) -> None:
    """An attempt that wrote no story: queued again after `retry_in_s` when trying again
    may help and attempts are left; else failed, or back to the story it had."""
    if failure.retryable and attempts_left(video):
        record_error(video, failure)
        back_to_queue(video, delay_s=retry_in_s)
    elif has_story:
        earlier_story_kept(video, failure)
    else:
        failed(video, failure)


def failed(video: Video, failure: Failure) -> None:
    """Ended without a story."""
    record_error(video, failure)
    video.status = VideoStatus.FAILED
    video.completed_at = utcnow()
    video.claimed_by = None


def earlier_story_kept(video: Video, failure: Failure) -> None:
    """A new version that could not be written: the story it had stays, and so does
    its state; the error says what went wrong."""
    record_error(video, failure)
    video.status = VideoStatus.COMPLETED
    video.completed_at = utcnow()
    video.claimed_by = None
    video.stage = None
    video.progress = 1.0


def cancelled(video: Video) -> None:
    """Stopped by a user (a running video's worker notices at its next heartbeat)."""
    record_error(video, Failure(CANCELLED_REASON, "cancelled", ErrorCause.SERVICE))
    video.status = VideoStatus.CANCELLED
    video.claimed_by = None
    video.completed_at = utcnow()
    video.stage = None


def fresh_start(video: Video) -> None:
    """Queued again with a fresh set of attempts (a retry, a new story version)."""
    video.attempts = 0
    video.interruptions = 0
    video.completed_at = None
    video.error = video.error_code = video.error_cause = None
    back_to_queue(video)


def record_error(video: Video, failure: Failure) -> None:
    video.error = failure.reason
    video.error_code = failure.code
    video.error_cause = failure.cause


def interrupted(video: Video) -> None:
    """Its run was lost to a stopped service: queued again, not charged as an attempt."""
    video.interruptions += 1
    if video.interruptions <= MAX_INTERRUPTIONS:
        record_error(video, Failure(INTERRUPTED_REASON, "interrupted"))
        back_to_queue(video)
        return
    failed(
        video,
        Failure(f"{INTERRUPTED_REASON} ({video.interruptions} times)", "worker_lost"),
    )


def stalled(video: Video) -> None:
    """Its worker went silent while the service went on: the attempt is charged."""
    if attempts_left(video):
        record_error(video, Failure(STALLED_REASON, "worker_lost"))
        back_to_queue(video)
        return
    failed(video, Failure(f"{STALLED_REASON} (tried {video.attempts} times)", "worker_lost"))
