"""What users do to videos in the queue: cancel, retry, write a story again. The API and
the command line both call these; each is one transaction that moves videos through
the named state changes of `states.py` and settles their batch."""

from __future__ import annotations

import random

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from storyteller.db import crud
from storyteller.db.models import ENDED, Video, VideoStatus
from storyteller.db.session import make_session_factory, write_engine
from storyteller.errors import StorytellerError
from storyteller.jobs import states


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
