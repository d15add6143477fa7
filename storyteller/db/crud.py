"""Reading and writing batches, videos, story versions and evidence.

Helpers take the session first and everything else by keyword. They flush but never
commit: the caller owns the transaction (and enqueues work only after it commits).
The job queue's own operations (claim, heartbeat, finish, retry) live with the job
engine, on the same tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Row, Table, and_, bindparam, exists, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from storyteller.db.models import (
    CURRENT_STORY_VERSION,
    ENDED,
    AttemptCost,
    Batch,
    BatchStatus,
    ErrorCause,
    EvidenceRecord,
    Priority,
    Spend,
    Story,
    Video,
    VideoStatus,
)
from storyteller.db.types import utcnow
from storyteller.notifications import fanout
from storyteller.pipeline.evidence import Evidence
from storyteller.story import model as story_model

if TYPE_CHECKING:  # the engine's record of what a provider counted
    from storyteller.jobs.attempt import Usage

DEFAULT_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class VideoCreate:
    """A stored upload to add to a new batch (see `storyteller.storage.uploads.StoredFile`)."""

    original_name: str
    size_bytes: int
    content_hash: str
    storage_path: str
    seed: int = 0
    # A file refused at upload (too large, not a video) still belongs to its batch, as a
    # failed video with this reason, so the rest of the batch carries on beside it.
    error: str | None = None
    error_code: str | None = None


# --- batches ---------------------------------------------------------------


def create_batch(
    session: Session,
    *,
    videos: Sequence[VideoCreate],
    teller: str,
    model: str | None = None,
    priority: Priority | str = Priority.NORMAL,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    owner_id: str | None = None,
    notify_email: str | None = None,
) -> Batch:
    """A new batch whose videos wait in the queue, in the order given; `notify_email`
    is told when it ends."""
    if not videos:
        raise ValueError("a batch needs at least one video")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    now = utcnow()
    priority = Priority(priority)
    batch = Batch(
        created_at=now,
        status=BatchStatus.PROCESSING,
        priority=priority,
        teller=teller,
        model=model,
        owner_id=owner_id,
        notify_email=notify_email,
    )
    batch.videos = [
        Video(
            position=position,
            original_name=video.original_name,
            size_bytes=video.size_bytes,
            content_hash=video.content_hash,
            storage_path=video.storage_path,
            progress=0.0,
            attempts=0,
            max_attempts=max_attempts,
            priority=priority,
            teller=teller,
            model=model,
            seed=video.seed,
            created_at=now,
            run_after=now,
            **_refused(video, now),
        )
        for position, video in enumerate(videos)
    ]
    if all(video.error for video in videos):  # nothing to run: ended as it is made
        batch.status, batch.completed_at = BatchStatus.COMPLETED, now
    session.add(batch)
    session.flush()
    if batch.status == BatchStatus.COMPLETED:
        fanout.batch_ended(session, batch.id)
    return batch


def _refused(video: VideoCreate, now: dt.datetime) -> dict[str, object]:
    if video.error is None:
        return {"status": VideoStatus.PENDING}
    return {
        "status": VideoStatus.FAILED,
        "error": video.error,
        "error_code": video.error_code or "refused",
        "error_cause": ErrorCause.VIDEO,
        "completed_at": now,
    }


def get_batch(session: Session, batch_id: str) -> Batch | None:
    """The batch with its videos (in upload order), or None."""
    stmt = select(Batch).where(Batch.id == batch_id).options(selectinload(Batch.videos))
    return session.scalars(stmt).one_or_none()


def count_batches(session: Session, *, owner_id: str | None = None) -> int:
    stmt = select(func.count()).select_from(Batch)
    if owner_id is not None:
        stmt = stmt.where(Batch.owner_id == owner_id)
    return session.scalar(stmt) or 0


_BATCH_TABLE = cast(Table, Batch.__table__)
_STORY_TABLE = cast(Table, Story.__table__)

# `settle_batch`'s statements, built once: the job queue runs them for every video.
_LOCK_BATCH = (
    select(Batch.__table__.c.status)
    .where(Batch.__table__.c.id == bindparam("batch_id"))
    .with_for_update()
)
_BATCH_UNFINISHED = select(
    exists().where(Video.batch_id == bindparam("batch_id"), Video.status.not_in(ENDED))
)
_SET_BATCH_STATUS = (
    _BATCH_TABLE.update()
    .where(Batch.__table__.c.id == bindparam("p_batch_id"))
    .values(status=bindparam("p_status"), completed_at=bindparam("p_completed_at"))
)


def settle_batch(connection: Connection, *, batch_id: str) -> None:
    """Set the batch `completed` once every video has ended (writing its batch.completed
    notifications), or back to `processing` when one is queued again. Call it after
    changing a video's status, in the same transaction: the batch row is locked first (on
    PostgreSQL), so two videos ending at once cannot both miss that the other has ended,
    nor both see it end. Plain statements (the job queue's hot path): a batch object
    loaded in the session is not updated by it."""
    status = connection.execute(_LOCK_BATCH, {"batch_id": batch_id}).scalar_one()
    running = connection.execute(_BATCH_UNFINISHED, {"batch_id": batch_id}).scalar()
    if not running and status != BatchStatus.COMPLETED:
        values = {"p_status": BatchStatus.COMPLETED, "p_completed_at": utcnow()}
    elif running and status != BatchStatus.PROCESSING:
        values = {"p_status": BatchStatus.PROCESSING, "p_completed_at": None}
    else:
        return
    connection.execute(_SET_BATCH_STATUS, {"p_batch_id": batch_id, **values})
    if not running:
        fanout.batch_ended(connection, batch_id)


def delete_batch(session: Session, *, batch_id: str) -> list[str] | None:
    """Delete a batch with its videos and stories (evidence stays: other uploads of the
    same bytes share it). Returns the storage paths no other video uses any more, to
    delete from the upload store once the transaction has committed; None when there
    is no such batch."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        return None
    paths = set(session.scalars(select(Video.storage_path).where(Video.batch_id == batch_id)))
    # The ORM deletes what it has loaded; the database's ON DELETE CASCADE the rest.
    session.delete(batch)
    session.flush()
    still_used = set(
        session.scalars(select(Video.storage_path).where(Video.storage_path.in_(paths)))
    )
    return sorted(paths - still_used)


# The polled status page's two queries, built once (building a statement costs more
# than running it on SQLite).
_BATCH_STATUS = select(
    Batch.id,
    Batch.status,
    Batch.created_at,
    Batch.completed_at,
    Batch.priority,
    Batch.teller,
    Batch.model,
).where(Batch.id == bindparam("batch_id"))
_VIDEO_STATUS_COLUMNS = (
    select(
        Video.id, Video.batch_id, Video.original_name, Video.status, Video.error,
        Video.error_code, Video.created_at, Video.completed_at, Video.stage, Video.progress,
        Video.attempts, Video.priority, Video.teller, Video.model, Video.wait_reason,
        Video.size_bytes, Video.error_cause, Video.run_after, Video.evidence_id,
        Story.text.label("story_text"), Story.version.label("story_version"),
    )
    .outerjoin(Story, and_(Story.video_id == Video.id, Story.version == CURRENT_STORY_VERSION))
)  # fmt: skip
_VIDEOS_STATUS = _VIDEO_STATUS_COLUMNS.where(Video.batch_id == bindparam("batch_id")).order_by(
    Video.position
)
_SOME_VIDEOS_STATUS = _VIDEO_STATUS_COLUMNS.add_columns(
    select(Batch.status)
    .where(Batch.id == Video.batch_id)
    .correlate(Video)
    .scalar_subquery()
    .label("batch_status")
).where(Video.id.in_(bindparam("video_ids", expanding=True)))


def batch_status_rows(session: Session, batch_id: str) -> tuple[Row[Any], list[Row[Any]]] | None:
    """A batch and its videos (in upload order), each with its current story's text and
    version: the page clients poll every few seconds, read in two indexed queries into
    plain rows (building ORM objects would cost ten times the queries). None when there
    is no such batch."""
    connection = session.connection()
    batch = connection.execute(_BATCH_STATUS, {"batch_id": batch_id}).one_or_none()
    if batch is None:
        return None
    return batch, list(connection.execute(_VIDEOS_STATUS, {"batch_id": batch_id}))


def video_status_rows(session: Session, video_ids: Iterable[str]) -> list[Row[Any]]:
    """The rows of `batch_status_rows` for some videos, with their batch's status
    (`batch_status`): what live updates send when those videos change."""
    ids = list(video_ids)
    if not ids:
        return []
    return list(session.connection().execute(_SOME_VIDEOS_STATUS, {"video_ids": ids}))


# --- videos ----------------------------------------------------------------


def get_video(session: Session, video_id: str, *, batch_id: str | None = None) -> Video | None:
    """The video, or None (also when it is not in `batch_id`, if given)."""
    video = session.get(Video, video_id)
    if video is None or (batch_id is not None and video.batch_id != batch_id):
        return None
    return video


def video_counts(
    session: Session, *, batch_id: str | None = None, owner_id: str | None = None
) -> dict[VideoStatus, int]:
    """How many videos are in each status (every status present, zeros included), in
    one batch, in the batches of one owner, or in all."""
    stmt = select(Video.status, func.count()).group_by(Video.status)
    if batch_id is not None:
        stmt = stmt.where(Video.batch_id == batch_id)
    if owner_id is not None:
        stmt = stmt.join(Batch, Batch.id == Video.batch_id).where(Batch.owner_id == owner_id)
    counts = dict.fromkeys(VideoStatus, 0)
    for status, count in session.execute(stmt).tuples():
        counts[VideoStatus(status)] = count
    return counts


# --- stories ---------------------------------------------------------------


# The next version number is found by the insert itself: one round trip.
_INSERT_STORY = (
    _STORY_TABLE.insert()
    .values(
        version=select(func.coalesce(func.max(_STORY_TABLE.c.version), 0) + 1)
        .where(_STORY_TABLE.c.video_id == bindparam("p_video_id"))
        .scalar_subquery()
    )
    .returning(_STORY_TABLE.c.version)
)


def insert_story_version(
    connection: Connection,
    *,
    video_id: str,
    story: story_model.Story,
    teller: str,
    seed: int,
    usage: Usage | None = None,
    evidence_id: int | None = None,
) -> int:
    """Keep `story` as the video's newest version (1 for the first; returned), with what writing
    it cost (`usage`; None for a teller that spends nothing). The caller holds the
    video's row lock in this transaction (the job queue has just updated the row): that
    lock is what keeps two versions from taking the same number."""
    return connection.execute(
        _INSERT_STORY,
        {
            "p_video_id": video_id,
            "video_id": video_id,
            "teller": teller,
            "model": usage.model if usage else None,
            "seed": seed,
            "title": story.title,
            "place": story.place,
            "region": story.region,
            "date": story.date,
            "paragraphs": list(story.paragraphs),
            "disclaimer": story.disclaimer,
            "text": story.text,
            "sentences": [
                sentence.model_dump(mode="json", by_alias=True) for sentence in story.sentences
            ],
            "created_at": utcnow(),
            "tokens_in": usage.tokens_in if usage else None,
            "tokens_out": usage.tokens_out if usage else None,
            "cost_usd": usage.cost_usd if usage else None,
            "evidence_id": evidence_id,
        },
    ).scalar_one()


def record_spend(
    connection: Connection,
    *,
    batch_id: str,
    video_id: str,
    attempt: int,
    usage: Usage | None,
    wrote_story: bool,
) -> None:
    """Add what one attempt spent at a provider to the ledger (`Spend`), under the batch's
    owner of now; an attempt that spent no tokens adds nothing. Called in the transaction
    that ends the attempt, so a story and its cost are kept together or not at all."""
    if usage is None or not usage.spent:
        return
    connection.execute(
        insert(Spend).values(
            created_at=utcnow(),
            owner_id=select(Batch.owner_id).where(Batch.id == batch_id).scalar_subquery(),
            batch_id=batch_id,
            video_id=video_id,
            attempt=attempt,
            teller=usage.teller,
            model=usage.model,
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            cost_usd=usage.cost_usd,
            wrote_story=wrote_story,
        )
    )


def current_story(session: Session, *, video_id: str) -> Story | None:
    """The video's current story: the version its owner chose, else the newest; None
    while it has none. What is shown as its story, copied, exported and sent."""
    stmt = (
        select(Story)
        .join(Video, Video.id == Story.video_id)
        .where(Story.video_id == video_id, Story.version == CURRENT_STORY_VERSION)
    )
    return session.scalars(stmt).first()


def current_stories(session: Session, *, video_ids: Iterable[str]) -> dict[str, Story]:
    """The current story of each video that has one, by video id, in one query (for a
    batch's status page)."""
    ids = list(video_ids)
    if not ids:
        return {}
    stmt = (
        select(Story)
        .join(Video, Video.id == Story.video_id)
        .where(Story.video_id.in_(ids), Story.version == CURRENT_STORY_VERSION)
    )
    return {story.video_id: story for story in session.scalars(stmt)}


def story_versions(session: Session, *, video_id: str) -> list[Story]:
    """Every story of the video, oldest first."""
    stmt = select(Story).where(Story.video_id == video_id).order_by(Story.version)
    return list(session.scalars(stmt))


def attempt_costs(session: Session, *, video_id: str) -> list[AttemptCost]:
    """What the video's attempts that wrote no story spent, oldest first."""
    stmt = select(AttemptCost).where(AttemptCost.video_id == video_id).order_by(AttemptCost.id)
    return list(session.scalars(stmt))


# --- evidence --------------------------------------------------------------


def save_evidence(session: Session, *, evidence: Evidence, fingerprint: str) -> EvidenceRecord:
    """Keep the analysis of `evidence.content_hash` under `fingerprint`, replacing an
    earlier one of the same bytes and settings. Safe when two workers save at once."""
    values = {
        "content_hash": evidence.content_hash,
        "fingerprint": fingerprint,
        "json": evidence.model_dump(mode="json"),
        "created_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    stmt: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        pg = postgresql.insert(EvidenceRecord).values(**values)
        stmt = pg.on_conflict_do_update(
            index_elements=["content_hash", "fingerprint"],
            set_={"json": pg.excluded.json, "created_at": pg.excluded.created_at},
        )
    elif dialect == "sqlite":
        lite = sqlite.insert(EvidenceRecord).values(**values)
        stmt = lite.on_conflict_do_update(
            index_elements=["content_hash", "fingerprint"],
            set_={"json": lite.excluded.json, "created_at": lite.excluded.created_at},
        )
    else:
        raise NotImplementedError(f"evidence upsert on {dialect}")
    session.execute(stmt)
    record = find_evidence(
        session, content_hash=evidence.content_hash, fingerprint=fingerprint, refresh=True
    )
    assert record is not None
    return record


def find_evidence(
    session: Session, *, content_hash: str, fingerprint: str, refresh: bool = False
) -> EvidenceRecord | None:
    """The stored analysis of these bytes under these settings, or None. Its
    `to_evidence()` gives the `Evidence` back."""
    stmt = select(EvidenceRecord).where(
        EvidenceRecord.content_hash == content_hash, EvidenceRecord.fingerprint == fingerprint
    )
    if refresh:
        stmt = stmt.execution_options(populate_existing=True)
    return session.scalars(stmt).one_or_none()
