"""Batches as a list: newest first, a page at a time, each with how many videos are in
each state, its first file names, the videos that have a picture and its first story's
title; searched by file name or story title."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from storyteller.db.models import Batch, Story, Video, VideoStatus

NAMES_SHOWN = 3
THUMBNAILS_SHOWN = 4
# The escape character of the LIKE patterns: a typed `%` or `_` is searched for as is.
LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class BatchSummary:
    batch: Batch
    counts: dict[VideoStatus, int]  # every status, zeros included
    names: list[str] = field(default_factory=list)  # the first few, in upload order
    thumbnails: list[str] = field(default_factory=list)  # ids of videos with a picture
    title: str | None = None  # the current story of its first video that has one

    @property
    def video_count(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class BatchPage:
    batches: list[BatchSummary]
    total: int  # batches in all (that match the search, if any)


def like_pattern(text: str) -> str:
    """A LIKE pattern finding `text` anywhere, its wildcards taken literally."""
    escaped = (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


def matching_batches(session: Session, search: str, owner_id: str | None) -> set[str]:
    """Ids of the batches (of `owner_id`, when given) with a file name or a story title
    (any version) containing `search`, case aside: found once, then paged and counted.
    A pattern found anywhere in a name can use no index: each is one scan of the
    videos, and of the stories, of the owner's batches."""
    pattern = like_pattern(search)
    by_name = select(Video.batch_id).where(Video.original_name.ilike(pattern, escape=LIKE_ESCAPE))
    by_title = (
        select(Video.batch_id)
        .join(Story, Story.video_id == Video.id)
        .where(Story.title.ilike(pattern, escape=LIKE_ESCAPE))
    )
    if owner_id is not None:
        mine = select(Batch.id).where(Batch.owner_id == owner_id)
        by_name = by_name.where(Video.batch_id.in_(mine))
        by_title = by_title.where(Video.batch_id.in_(mine))
    return set(session.scalars(union(by_name, by_title)))


def list_batches(
    session: Session,
    *,
    offset: int,
    limit: int,
    owner_id: str | None = None,
    search: str | None = None,
) -> BatchPage:
    """A page of batches (of `owner_id` only, when given; containing `search` in a file
    name or a story title, when given), each summed up in four queries for the page."""
    if offset < 0 or limit < 1:
        raise ValueError("offset must be 0 or more and limit 1 or more")
    page = select(Batch)
    counted = select(func.count()).select_from(Batch)
    if owner_id is not None:
        page, counted = (
            page.where(Batch.owner_id == owner_id),
            counted.where(Batch.owner_id == owner_id),
        )
    found: set[str] | None = None
    if search:
        found = matching_batches(session, search, owner_id)
        page = page.where(Batch.id.in_(found))
    batches = list(
        session.scalars(
            page.order_by(Batch.created_at.desc(), Batch.id).offset(offset).limit(limit)
        )
    )
    total = len(found) if found is not None else session.scalar(counted)
    ids = [batch.id for batch in batches]
    counts = {batch_id: dict.fromkeys(VideoStatus, 0) for batch_id in ids}
    names: dict[str, list[str]] = {batch_id: [] for batch_id in ids}
    thumbnails: dict[str, list[str]] = {batch_id: [] for batch_id in ids}
    titles: dict[str, str] = {}
    if ids:
        for batch_id, status, count in session.execute(
            select(Video.batch_id, Video.status, func.count())
            .where(Video.batch_id.in_(ids))
            .group_by(Video.batch_id, Video.status)
        ).tuples():
            counts[batch_id][VideoStatus(status)] = count
        # Positions count from 0 in every batch: the first names through the unique index.
        for batch_id, name in session.execute(
            select(Video.batch_id, Video.original_name)
            .where(Video.batch_id.in_(ids), Video.position < NAMES_SHOWN)
            .order_by(Video.batch_id, Video.position)
        ).tuples():
            names[batch_id].append(name)
        # A video with evidence has its picture (the first shot's, made while it ran).
        pictured = (
            select(
                Video.batch_id,
                Video.id,
                func.row_number()
                .over(partition_by=Video.batch_id, order_by=Video.position)
                .label("rank"),
            )
            .where(Video.batch_id.in_(ids), Video.evidence_id.is_not(None))
            .subquery()
        )
        for batch_id, video_id in session.execute(
            select(pictured.c.batch_id, pictured.c.id)
            .where(pictured.c.rank <= THUMBNAILS_SHOWN)
            .order_by(pictured.c.batch_id, pictured.c.rank)
        ).tuples():
            thumbnails[batch_id].append(video_id)
        told = (
            select(
                Video.batch_id,
                Story.title,
                func.row_number()
                .over(
                    partition_by=Video.batch_id,
                    order_by=(Video.position, Story.version.desc()),
                )
                .label("rank"),
            )
            .join(Story, Story.video_id == Video.id)
            .where(Video.batch_id.in_(ids))
            .subquery()
        )
        rows = session.execute(select(told.c.batch_id, told.c.title).where(told.c.rank == 1))
        titles = {batch_id: title for batch_id, title in rows.tuples()}
    return BatchPage(
        batches=[
            BatchSummary(
                batch,
                counts[batch.id],
                names=names[batch.id],
                thumbnails=thumbnails[batch.id],
                title=titles.get(batch.id),
            )
            for batch in batches
        ],
        total=total or 0,
    )


def batch_exists(session: Session, batch_id: str) -> bool:
    return session.scalar(select(Batch.id).where(Batch.id == batch_id)) is not None
