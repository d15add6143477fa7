"""Whose a batch, a video or a resumable upload is: the one check every route with such
an id in its path goes through (`api/deps.py`), so a member never reaches another's.
Someone else's id reads as one that does not exist (404), never as forbidden."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from storyteller.accounts.signin import Viewer
from storyteller.db.models import Batch, Video

# Built once: the gate runs them on every request of a member.
_BATCH_OWNER = select(Batch.owner_id).where(Batch.id == bindparam("id"))
_VIDEO_OWNER = (
    select(Batch.owner_id)
    .join(Video, Video.batch_id == Batch.id)
    .where(Video.id == bindparam("id"))
)


def may_see_batch(session: Session, viewer: Viewer, batch_id: str) -> bool:
    """Whether the viewer may see this batch (True too when there is no such batch: the
    route answers its own 404)."""
    if viewer.is_admin:
        return True
    found = session.execute(_BATCH_OWNER, {"id": batch_id}).first()
    return found is None or viewer.sees(found[0])


def may_see_video(session: Session, viewer: Viewer, video_id: str) -> bool:
    if viewer.is_admin:
        return True
    found = session.execute(_VIDEO_OWNER, {"id": video_id}).first()
    return found is None or viewer.sees(found[0])


def owners_of(session: Session, batch_ids: list[str]) -> dict[str, str | None]:
    """The owner of each of these batches (those that exist)."""
    rows = session.execute(select(Batch.id, Batch.owner_id).where(Batch.id.in_(batch_ids)))
    return {batch_id: owner for batch_id, owner in rows.tuples()}
