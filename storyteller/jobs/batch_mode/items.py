"""The requests waiting for, or inside, a Gemini Batch Mode job: the `gemini_batch_item` rows.

An item holds its video under the claim it was made with (worker id and attempt): the
video stays `processing` in the queue's "result comes later" stage while the item lives,
and an item whose video is no longer held (cancelled, deleted, running elsewhere) is
stale and dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, and_, delete, exists, func, select, update
from sqlalchemy.orm import Session

from storyteller.db import crud
from storyteller.db.models import (
    BatchItemState,
    EvidenceRecord,
    GeminiBatchItem,
    Video,
    VideoStatus,
)
from storyteller.db.session import make_session_factory, write_engine
from storyteller.db.types import utcnow
from storyteller.jobs.attempt import Attempt, Result
from storyteller.jobs.queue import JobQueue
from storyteller.pipeline.evidence import Evidence


@dataclass(frozen=True)
class BatchItem:
    """A video's request waiting for, or inside, a Batch Mode job, with the attempt its
    video is held under."""

    id: int
    attempt: Attempt
    model: str
    request: str
    file_name: str | None
    evidence_id: int | None
    state: BatchItemState
    remote_name: str | None
    sent: int
    tokens_in: int
    tokens_out: int
    created_at: dt.datetime
    submitted_at: dt.datetime | None


class BatchItems:
    """The Batch Mode items of one database, beside the queue whose videos they hold."""

    def __init__(self, engine: Engine, queue: JobQueue) -> None:
        self.queue = queue
        self._sessions = make_session_factory(write_engine(engine))

    def add(self, attempt: Attempt, result: Result) -> bool:
        """Keep a worker's request (`result.later`) for a Batch Mode job, with the
        evidence it was written from; the video waits for it under this attempt. False
        (and nothing kept) when the claim is no longer this worker's."""
        request = result.later or {}

        def keep(session: Session) -> None:
            evidence_id = None
            if result.evidence is not None and result.evidence_fingerprint:
                record = crud.save_evidence(
                    session, evidence=result.evidence, fingerprint=result.evidence_fingerprint
                )
                evidence_id = record.id
            session.add(
                GeminiBatchItem(
                    video_id=attempt.video_id,
                    claimed_by=attempt.worker_id,
                    attempt=attempt.number,
                    model=request["model"],
                    request=request["request"],
                    file_name=request.get("file_name"),
                    evidence_id=evidence_id,
                    state=BatchItemState.WAITING,
                    sent=0,
                    tokens_in=0,
                    tokens_out=0,
                )
            )

        return self.queue.defer(attempt, also=keep)

    def listed(
        self, *, state: BatchItemState | None = None, remote_name: str | None = None
    ) -> list[BatchItem]:
        """Items whose video is still held for them, oldest first."""
        stmt = (
            select(GeminiBatchItem, Video).join(Video, _holds_video()).order_by(GeminiBatchItem.id)
        )
        if state is not None:
            stmt = stmt.where(GeminiBatchItem.state == state)
        if remote_name is not None:
            stmt = stmt.where(GeminiBatchItem.remote_name == remote_name)
        with self._sessions() as session:
            return [_batch_item(item, video) for item, video in session.execute(stmt).tuples()]

    def any(self) -> bool:
        with self._sessions() as session:
            return session.scalar(select(exists().where(GeminiBatchItem.id.is_not(None)))) or False

    def drop_stale(self) -> list[tuple[str, str | None]]:
        """Delete the items whose video is no longer held for them (cancelled, deleted, or
        running again elsewhere); returns their video ids and uploaded files."""
        find = select(GeminiBatchItem.id, GeminiBatchItem.video_id, GeminiBatchItem.file_name)
        find = find.where(~exists().where(_holds_video())).order_by(GeminiBatchItem.id)
        with self._sessions() as session:  # a read first: most rounds find nothing
            if not session.execute(find.limit(1)).first():
                return []
        with self._sessions.begin() as session:
            stale = session.execute(find).all()
            ids = [row.id for row in stale]
            session.execute(delete(GeminiBatchItem).where(GeminiBatchItem.id.in_(ids)))
            return [(row.video_id, row.file_name) for row in stale]

    def mark_submitted(self, item_ids: Iterable[int], remote_name: str) -> None:
        """These items were sent as the Batch Mode job `remote_name`."""
        with self._sessions.begin() as session:
            session.execute(
                update(GeminiBatchItem)
                .where(GeminiBatchItem.id.in_(list(item_ids)))
                .values(
                    state=BatchItemState.SUBMITTED,
                    remote_name=remote_name,
                    submitted_at=utcnow(),
                    sent=GeminiBatchItem.sent + 1,
                )
            )

    def submitted_jobs(self) -> list[tuple[str, dt.datetime]]:
        """Batch Mode jobs with items waiting for their answers, and when each was sent."""
        with self._sessions() as session:
            rows = session.execute(
                select(GeminiBatchItem.remote_name, func.min(GeminiBatchItem.submitted_at))
                .where(
                    GeminiBatchItem.state == BatchItemState.SUBMITTED,
                    GeminiBatchItem.remote_name.is_not(None),
                )
                .group_by(GeminiBatchItem.remote_name)
            ).tuples()
            return [(name, sent or utcnow()) for name, sent in rows if name]

    def evidence(self, item: BatchItem) -> tuple[Evidence, str] | None:
        """The evidence an item's prompt was written from, with its fingerprint."""
        if item.evidence_id is None:
            return None
        with self._sessions() as session:
            record = session.get(EvidenceRecord, item.evidence_id)
            return (record.to_evidence(), record.fingerprint) if record is not None else None

    def resubmit(
        self,
        item: BatchItem,
        *,
        reason: str,
        request: str | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> bool | None:
        """Send an item again in a later Batch Mode job, as its video's next attempt (with
        a new request, when given), keeping what this try spent with the item. False when the video has used its attempts (the item
        is left for the caller to fail), None when the video is no longer held for it."""
        number = item.attempt.number + 1

        def again(session: Session) -> None:
            values: dict[str, object] = {
                "attempt": number,
                "last_error": reason,
                "state": BatchItemState.WAITING,
                "remote_name": None,
                "submitted_at": None,
                "tokens_in": GeminiBatchItem.tokens_in + tokens_in,
                "tokens_out": GeminiBatchItem.tokens_out + tokens_out,
            }
            if request is not None:
                values["request"] = request
            session.execute(
                update(GeminiBatchItem).where(GeminiBatchItem.id == item.id).values(**values)
            )

        return self.queue.extend(item.attempt, number=number, also=again)

    def drop(self, item_id: int) -> None:
        with self._sessions.begin() as session:
            dropper(item_id)(session)


def dropper(item_id: int) -> Callable[[Session], None]:
    """Drops the item in the transaction it is given (`JobQueue.complete`'s `also`)."""

    def drop(session: Session) -> None:
        session.execute(delete(GeminiBatchItem).where(GeminiBatchItem.id == item_id))

    return drop


def _holds_video() -> ColumnElement[bool]:
    """An item whose video is still processing under the item's claim."""
    return and_(
        GeminiBatchItem.video_id == Video.id,
        Video.status == VideoStatus.PROCESSING,
        Video.claimed_by == GeminiBatchItem.claimed_by,
        Video.attempts == GeminiBatchItem.attempt,
    )


def _batch_item(item: GeminiBatchItem, video: Video) -> BatchItem:
    return BatchItem(
        id=item.id,
        attempt=Attempt(
            video_id=video.id,
            batch_id=video.batch_id,
            worker_id=item.claimed_by,
            number=item.attempt,
            key=video.storage_path,
            name=video.original_name,
            content_hash=video.content_hash,
            teller=video.teller,
            seed=video.seed,
            model=video.model,
            priority=video.priority,
        ),
        model=item.model,
        request=item.request,
        file_name=item.file_name,
        evidence_id=item.evidence_id,
        state=item.state,
        remote_name=item.remote_name,
        sent=item.sent,
        tokens_in=item.tokens_in,
        tokens_out=item.tokens_out,
        created_at=item.created_at,
        submitted_at=item.submitted_at,
    )
