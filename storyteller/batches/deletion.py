"""Deleting a batch: stop what runs, delete its rows, then the stored files no other
batch uses. Evidence stays: the same bytes uploaded again reuse it."""

from __future__ import annotations

import logging
from typing import Protocol

from sqlalchemy import select

from storyteller.batches.changes import LiveChanges
from storyteller.db import crud
from storyteller.db.database import Database
from storyteller.db.models import Video
from storyteller.errors import StorytellerError
from storyteller.storage.objects import StorageError, VideoStore

log = logging.getLogger(__name__)


class NoSuchBatch(StorytellerError):
    """No batch with that id (HTTP 404)."""

    code = "no_such_batch"

    def __init__(self) -> None:
        super().__init__("no job with that id")


class Cancels(Protocol):
    def cancel_batch(self, batch_id: str) -> list[str]: ...


def delete_batch(
    batch_id: str,
    *,
    database: Database,
    actions: Cancels,
    videos: VideoStore,
    changes: LiveChanges,
) -> list[str]:
    """Delete the batch with its videos and stories; the ids of the videos it had.
    Blocking: call it from a worker thread."""
    actions.cancel_batch(batch_id)
    with database.write() as session:
        batch = crud.get_batch(session, batch_id)
        if batch is None:
            raise NoSuchBatch()
        ids = [video.id for video in batch.videos]
        keys = crud.delete_batch(session, batch_id=batch_id) or []
    changes.wake()  # the engine stops any video of it still running
    changes.deleted(batch_id)
    # Look again just before deleting: an upload of the same bytes may have been
    # committed since, and its video now needs the file.
    with database.read() as session:
        still_used = set(
            session.scalars(select(Video.storage_path).where(Video.storage_path.in_(keys)))
        )
    for key in keys:
        if key and key not in still_used:
            try:
                videos.delete(key)
            except StorageError as exc:  # the batch is gone all the same; the bytes stay
                log.warning(
                    "%s of deleted job %s is left in storage: %s", key, batch_id, exc.reason
                )
    return ids
