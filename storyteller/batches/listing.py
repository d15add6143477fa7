"""Batches as a list: newest first, a page at a time, with how many videos are in each
state."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storyteller.db import crud
from storyteller.db.models import Batch, Video, VideoStatus


@dataclass(frozen=True)
class BatchSummary:
    batch: Batch
    counts: dict[VideoStatus, int]  # every status, zeros included

    @property
    def video_count(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class BatchPage:
    batches: list[BatchSummary]
    total: int  # batches in all


def list_batches(
    session: Session, *, offset: int, limit: int, owner_id: str | None = None
) -> BatchPage:
    """A page of batches (of `owner_id` only, when given), each with its videos counted
    by status in one query."""
    batches = crud.list_batches(session, offset=offset, limit=limit, owner_id=owner_id)
    counts = {batch.id: dict.fromkeys(VideoStatus, 0) for batch in batches}
    if batches:
        rows = session.execute(
            select(Video.batch_id, Video.status, func.count())
            .where(Video.batch_id.in_(list(counts)))
            .group_by(Video.batch_id, Video.status)
        ).tuples()
        for batch_id, status, count in rows:
            counts[batch_id][VideoStatus(status)] = count
    return BatchPage(
        batches=[BatchSummary(batch, counts[batch.id]) for batch in batches],
        total=crud.count_batches(session, owner_id=owner_id),
    )


def batch_exists(session: Session, batch_id: str) -> bool:
    return session.scalar(select(Batch.id).where(Batch.id == batch_id)) is not None
