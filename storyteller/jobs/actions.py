"""What users do to videos in the queue: cancel, retry, write a story again, choose the
current story version; and what an admin does to the queue: pause and resume all
processing or one batch, change a batch's priority, retry every failure of one cause,
drain and stop workers. The API and the command line both call these; each is one
transaction that moves videos through the named state changes of `states.py` and settles
their batch."""

from __future__ import annotations

import random

from sqlalchemy import Engine, func, insert, select, text, update
from sqlalchemy.orm import Session

from storyteller.db import crud
from storyteller.db.models import (
    ENDED,
    Batch,
    Priority,
    ServiceState,
    Story,
    Video,
    VideoStatus,
    WorkerRecord,
)
from storyteller.db.session import make_session_factory, write_engine
from storyteller.db.types import utcnow
from storyteller.errors import StorytellerError
from storyteller.jobs import states
from storyteller.jobs.queue import PAUSE_LOCK_KEY


class JobError(StorytellerError):
    """A user's action on the queue that cannot be done; `reason` says why."""


class NotFound(JobError):
    """No such video or batch (HTTP 404)."""


class WrongState(JobError):
    """The video is not in a state that allows this (HTTP 409)."""


_ENDED_WORDS = {
    VideoStatus.COMPLETED: "completed",
    VideoStatus.FAILED: "failed",
    VideoStatus.CANCELLED: "been cancelled",
}


class UserActions:
    """Users' actions on the videos of one database. Thread-safe: each is a transaction."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = make_session_factory(write_engine(engine))

    def cancel_video(self, video_id: str, *, batch_id: str | None = None) -> Video:
        """Stop a waiting or running video (its worker notices at its next heartbeat)."""
        with self._sessions.begin() as session:
            video = _locked_video(session, video_id, batch_id)
            if video.status.ended:
                raise WrongState(f"the video has already {_ENDED_WORDS[video.status]}")
            states.cancelled(video)
            _settle(session, video.batch_id)
            return video

    def cancel_batch(self, batch_id: str) -> list[str]:
        """Cancel every video of the batch that has not ended; returns their ids."""
        with self._sessions.begin() as session:
            _require_batch(session, batch_id)
            videos = session.scalars(
                select(Video)
                .where(Video.batch_id == batch_id, Video.status.not_in(ENDED))
                .order_by(Video.id)
                .with_for_update()
            ).all()
            for video in videos:
                states.cancelled(video)
            _settle(session, batch_id)
            return [video.id for video in videos]

    def retry_video(self, video_id: str, *, batch_id: str | None = None) -> Video:
        """Queue a failed or cancelled video again, with a fresh set of attempts."""
        with self._sessions.begin() as session:
            video = _locked_video(session, video_id, batch_id)
            if video.status not in (VideoStatus.FAILED, VideoStatus.CANCELLED):
                raise WrongState(
                    f"only a failed or cancelled video can be retried; this one is {video.status}"
                )
            if not video.storage_path:
                raise WrongState(
                    f"{video.original_name} was refused at upload ({video.error}); "
                    "upload the file again"
                )
            states.fresh_start(video)
            _settle(session, video.batch_id)
            return video

    def retry_failed(self, batch_id: str) -> list[str]:
        """Queue every failed or cancelled video of the batch again (not those refused at
        upload, which have no file to run); returns their ids."""
        with self._sessions.begin() as session:
            _require_batch(session, batch_id)
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
                states.fresh_start(video)
            if videos:
                _settle(session, batch_id)
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
            video = _locked_video(session, video_id, batch_id)
            if video.status != VideoStatus.COMPLETED:
                raise WrongState(
                    "only a completed video can have its story written again; "
                    f"this one is {video.status}"
                )
            video.seed = seed if seed is not None else random.randrange(1, 2**31)
            if teller and teller != video.teller:
                video.teller, video.model = teller, None
            if model:
                video.model = model
            states.fresh_start(video)
            _settle(session, video.batch_id)
            return video

    def choose_story(self, video_id: str, version: int) -> Video:
        """Make story version `version` the video's current one: the one shown, copied,
        exported and sent. Writing the story again later makes the new version current."""
        with self._sessions.begin() as session:
            video = _locked_video(session, video_id, None)
            story = session.scalars(
                select(Story).where(Story.video_id == video_id, Story.version == version)
            ).one_or_none()
            if story is None:
                newest = session.scalar(
                    select(func.max(Story.version)).where(Story.video_id == video_id)
                )
                writing = video.status in (VideoStatus.PENDING, VideoStatus.PROCESSING)
                if newest is None or (writing and version == newest + 1):
                    raise WrongState(_not_written(video, version, newest))
                raise NotFound(
                    f"{video.original_name} has no story version {version}: "
                    f"its versions are 1 to {newest}"
                )
            video.current_story_id = story.id
            return video

    # --- the admin's controls ---------------------------------------------------------

    def set_paused(self, paused: bool) -> None:
        """Pause or resume all processing: while paused no engine claims a video (running
        ones finish). Once this returns, no claim anywhere takes a video."""
        with self._sessions.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                # Waits for the claims under way (see `queue.PAUSE_LOCK_KEY`).
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PAUSE_LOCK_KEY})
            changed = session.execute(
                update(ServiceState)
                .where(ServiceState.id == 1)
                .values(paused=paused, changed_at=utcnow())
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                session.execute(
                    insert(ServiceState).values(id=1, paused=paused, changed_at=utcnow())
                )

    def is_paused(self) -> bool:
        with self._sessions() as session:
            return bool(session.scalar(select(ServiceState.paused).where(ServiceState.id == 1)))

    def set_batch_paused(self, batch_id: str, paused: bool) -> list[str]:
        """Pause or resume one batch (its waiting videos are not claimed; running ones
        finish); returns the ids of its waiting videos."""
        with self._sessions.begin() as session:
            batch = _locked_batch(session, batch_id)
            batch.paused = paused
            return list(
                session.scalars(
                    select(Video.id).where(
                        Video.batch_id == batch_id, Video.status == VideoStatus.PENDING
                    )
                )
            )

    def set_batch_priority(self, batch_id: str, priority: Priority) -> list[str]:
        """Change a batch's priority, and its waiting videos' (running ones keep theirs);
        returns the ids of the videos changed."""
        with self._sessions.begin() as session:
            batch = _locked_batch(session, batch_id)
            batch.priority = priority
            changed = session.scalars(
                update(Video)
                .where(Video.batch_id == batch_id, Video.status == VideoStatus.PENDING)
                .values(priority=priority)
                .returning(Video.id)
            )
            return sorted(changed)

    def retry_failures(self, code: str) -> list[str]:
        """Queue again every failed video whose reason is of kind `code` (not those refused
        at upload, which have no file to run); returns their ids."""
        with self._sessions.begin() as session:
            videos = session.scalars(
                select(Video)
                .where(
                    Video.status == VideoStatus.FAILED,
                    Video.error_code == code,
                    Video.storage_path != "",
                )
                .order_by(Video.id)
                .with_for_update()
            ).all()
            for video in videos:
                states.fresh_start(video)
            session.flush()
            for batch_id in sorted({video.batch_id for video in videos}):
                crud.settle_batch(session.connection(), batch_id=batch_id)
            return [video.id for video in videos]

    def order_worker(
        self, worker_id: str, *, draining: bool | None = None, stop: bool | None = None
    ) -> WorkerRecord:
        """Tell a worker to drain (finish what it holds, take nothing new), to take videos
        again, or to stop; it reads the order at its next report (within a second)."""
        with self._sessions.begin() as session:
            worker = session.get(WorkerRecord, worker_id, with_for_update=True)
            if worker is None:
                raise NotFound(f"no worker {worker_id}: see `storyteller admin workers`")
            if worker.stopped_at is not None:
                raise WrongState(f"worker {worker_id} has already stopped")
            if draining is not None:
                worker.draining = draining
            if stop is not None:
                worker.stop_requested = stop
            session.flush()
            session.expunge(worker)
            return worker


def _locked_batch(session: Session, batch_id: str) -> Batch:
    batch = session.get(Batch, batch_id, with_for_update=True)
    if batch is None:
        raise NotFound("no job with that id")
    return batch


def _not_written(video: Video, version: int, newest: int | None) -> str:
    """Why a version cannot be chosen while the video has it not (yet)."""
    if newest is None:
        return (
            f"{video.original_name} has no story yet: a version can be chosen once one "
            f"is written (it is {video.status})"
        )
    return (
        f"{video.original_name} has no story version {version} yet: its versions are 1 to "
        f"{newest}, and the next is still being written"
    )


def _locked_video(session: Session, video_id: str, batch_id: str | None) -> Video:
    stmt = select(Video).where(Video.id == video_id).with_for_update()
    if batch_id is not None:
        stmt = stmt.where(Video.batch_id == batch_id)
    video = session.scalars(stmt).one_or_none()
    if video is None:
        raise NotFound("no video with that id")
    return video


def _require_batch(session: Session, batch_id: str) -> None:
    if crud.get_batch(session, batch_id) is None:
        raise NotFound("no job with that id")


def _settle(session: Session, batch_id: str) -> None:
    session.flush()
    crud.settle_batch(session.connection(), batch_id=batch_id)
