"""Fixtures for the job queue and engine: batches of videos with made-up files."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from storyteller.db import crud
from storyteller.db.models import Batch, BatchStatus, Priority, Video
from storyteller.jobs.actions import UserActions
from storyteller.jobs.queue import JobQueue

MakeBatch = Callable[..., Batch]


@pytest.fixture
def queue(engine: Engine, session: Session) -> JobQueue:
    """A queue on the test database (emptied after the test by `session`), retrying at once."""
    return JobQueue(engine, retry_base_s=0.0, retry_max_s=0.0)


@pytest.fixture
def actions(engine: Engine, session: Session) -> UserActions:
    """What users do to videos, on the test database."""
    return UserActions(engine)


@pytest.fixture
def make_batch(session: Session) -> MakeBatch:
    """make_batch(["ok.mp4", ...], priority="normal", max_attempts=3): a committed batch."""

    def make(
        names: list[str], *, priority: str = "normal", max_attempts: int = 3, teller: str = "local"
    ) -> Batch:
        videos = []
        for name in names:
            digest = hashlib.sha256(name.encode()).hexdigest()
            videos.append(
                crud.VideoCreate(
                    original_name=name,
                    size_bytes=1000,
                    content_hash=digest,
                    storage_path=f"{digest[:2]}/{digest}",
                )
            )
        batch = crud.create_batch(
            session,
            videos=videos,
            teller=teller,
            priority=Priority(priority),
            max_attempts=max_attempts,
        )
        session.commit()
        return batch

    return make


def fresh(session: Session, video_id: str) -> Video:
    """The video as the database has it now (ending the session's transaction, whose
    snapshot may be older)."""
    session.rollback()
    session.expire_all()
    video = session.get(Video, video_id)
    assert video is not None
    return video


def batch_status(session: Session, batch_id: str) -> BatchStatus:
    session.rollback()
    session.expire_all()
    batch = session.get(Batch, batch_id)
    assert batch is not None
    return batch.status
