"""The events people are told of, and the one payload every channel carries.

The shape follows Standard Webhooks (`{"type", "timestamp", "data"}`). A payload is
built in the transaction that ends a video or a batch (so it tells the state at that
moment) with links relative to the service; `finished` gives it the public address and
keeps it under the size limit just before it leaves. The e-mail is written from the same
dict (`batch_completed_event`).
"""

from __future__ import annotations

import copy
import json
from enum import StrEnum
from typing import Any, NotRequired, TypedDict, cast

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.orm import Session

from storyteller.config import Settings
from storyteller.db.models import CURRENT_STORY_VERSION, Batch, Story, Video, VideoStatus
from storyteller.db.types import utcnow


class Event(StrEnum):
    BATCH_COMPLETED = "batch.completed"  # every video of a batch ended
    VIDEO_COMPLETED = "video.completed"  # a video has its story
    VIDEO_FAILED = "video.failed"  # a video ended without one (its reason says why)
    TEST = "webhook.test"  # asked for on an endpoint, to check the receiver


# What a person may choose to be told of (the test event is sent only when asked for).
CHOSEN = (Event.BATCH_COMPLETED, Event.VIDEO_COMPLETED, Event.VIDEO_FAILED)
EVENT_NAMES = [event.value for event in CHOSEN]


class Counts(TypedDict):
    completed: int
    failed: int
    cancelled: int


class BatchPart(TypedDict):
    id: str
    createdAt: str
    endedAt: str | None
    status: str
    teller: str
    counts: Counts
    url: str


class VideoPart(TypedDict):
    id: str
    name: str
    status: str
    title: str | None
    story: str | None
    error: str | None
    errorCode: str | None
    url: str
    storyUrl: NotRequired[str]  # set when the story was left out for the size limit


class EventData(TypedDict):
    batch: BatchPart
    videos: NotRequired[list[VideoPart]]  # batch.completed
    video: NotRequired[VideoPart]  # video.*


class EventPayload(TypedDict):
    type: str
    timestamp: str
    data: EventData


def iso(moment: Any) -> str | None:
    """ISO 8601 in UTC with a `Z`, as Standard Webhooks' examples write it."""
    if moment is None:
        return None
    return str(moment.isoformat().replace("+00:00", "Z"))


# --- building (in the transaction of the change) ------------------------------------

_VIDEO_TABLE = cast(Table, Video.__table__)
_STORY_TABLE = cast(Table, Story.__table__)
_BATCH = cast(Table, Batch.__table__).c
_VIDEO = _VIDEO_TABLE.c
_STORY = _STORY_TABLE.c


def _batch_part(db: Connection | Session, batch_id: str) -> BatchPart | None:
    row = db.execute(
        select(
            _BATCH.id, _BATCH.created_at, _BATCH.completed_at, _BATCH.status, _BATCH.teller
        ).where(_BATCH.id == batch_id)
    ).first()
    if row is None:
        return None
    counts = Counts(completed=0, failed=0, cancelled=0)
    for status, count in db.execute(
        select(_VIDEO.status, func.count())
        .where(_VIDEO.batch_id == batch_id)
        .group_by(_VIDEO.status)
    ).tuples():
        if status in counts:
            counts[status] = count  # type: ignore[literal-required]
    return BatchPart(
        id=row.id,
        createdAt=iso(row.created_at) or "",
        endedAt=iso(row.completed_at),
        status=str(row.status),
        teller=row.teller,
        counts=counts,
        url=f"/?job={row.id}",
    )


def _video_parts(
    db: Connection | Session, batch_id: str, video_id: str | None = None
) -> list[VideoPart]:
    stmt = (
        select(
            _VIDEO.id,
            _VIDEO.original_name,
            _VIDEO.status,
            _VIDEO.error,
            _VIDEO.error_code,
            _STORY.title,
            _STORY.text,
        )
        .select_from(
            _VIDEO_TABLE.outerjoin(  # the current story: the one chosen, else the newest
                _STORY_TABLE,
                (_STORY.video_id == _VIDEO.id) & (_STORY.version == CURRENT_STORY_VERSION),
            )
        )
        .where(_VIDEO.batch_id == batch_id)
        .order_by(_VIDEO.position)
    )
    if video_id is not None:
        stmt = stmt.where(_VIDEO.id == video_id)
    parts: list[VideoPart] = []
    for row in db.execute(stmt):
        completed = row.status == VideoStatus.COMPLETED
        parts.append(
            VideoPart(
                id=row.id,
                name=row.original_name,
                status=str(row.status),
                title=row.title if completed else None,
                story=row.text if completed else None,
                error=None if completed else row.error,
                errorCode=None if completed else row.error_code,
                url=f"/?job={batch_id}&video={row.id}",
            )
        )
    return parts


def batch_payload(db: Connection | Session, batch_id: str) -> EventPayload | None:
    """batch.completed for `batch_id` as it stands (links relative); None: no such batch."""
    batch = _batch_part(db, batch_id)
    if batch is None:
        return None
    return EventPayload(
        type=Event.BATCH_COMPLETED,
        timestamp=iso(utcnow()) or "",
        data=EventData(batch=batch, videos=_video_parts(db, batch_id)),
    )


def video_payload(
    db: Connection | Session, event: Event, batch_id: str, video_id: str
) -> EventPayload | None:
    """video.completed or video.failed for one video (links relative)."""
    batch = _batch_part(db, batch_id)
    videos = _video_parts(db, batch_id, video_id)
    if batch is None or not videos:
        return None
    return EventPayload(
        type=event, timestamp=iso(utcnow()) or "", data=EventData(batch=batch, video=videos[0])
    )


def probe_payload(endpoint_id: str) -> dict[str, Any]:
    """What `POST /api/webhooks/{id}/test` sends."""
    return {
        "type": Event.TEST.value,
        "timestamp": iso(utcnow()),
        "data": {"webhook": {"id": endpoint_id}, "message": "a test event, as asked for"},
    }


# --- leaving (at delivery) -----------------------------------------------------------


def base_url(settings: Settings) -> str:
    return (settings.public_url or f"http://127.0.0.1:{settings.port}").rstrip("/")


def finished(payload: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The payload as it leaves: links made absolute with `STORYTELLER_PUBLIC_URL`, and,
    when the body would pass `STORYTELLER_NOTIFICATION_STORY_LIMIT_KB`, stories left out
    (the longest first) with a `storyUrl` to fetch each from. The same input gives the
    same output, so every attempt of a message sends the same body."""
    event = copy.deepcopy(payload)
    base = base_url(settings)
    data = event.get("data", {})
    videos: list[dict[str, Any]] = list(data.get("videos", []))
    if "video" in data:
        videos.append(data["video"])
    if "batch" in data:
        data["batch"]["url"] = base + data["batch"]["url"]
    for video in videos:
        video["url"] = base + video["url"]
    limit = settings.notification_story_limit_kb * 1024
    size = len(body(event))
    for video in sorted(videos, key=lambda v: -len(v.get("story") or "")):
        if size <= limit or not video.get("story"):
            break
        size -= len(json.dumps(video["story"], ensure_ascii=False).encode())
        video["story"] = None
        video["storyUrl"] = f"{base}/api/videos/{video['id']}"
    return event


def body(event: dict[str, Any]) -> bytes:
    """The bytes sent (and signed): compact JSON, UTF-8."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def batch_completed_event(session: Session, settings: Settings, batch_id: str) -> dict[str, Any]:
    """batch.completed for `batch_id` as a channel sends it (the e-mail renders it);
    raises LookupError when there is no such batch."""
    payload = batch_payload(session, batch_id)
    if payload is None:
        raise LookupError(f"no batch {batch_id}")
    return finished(cast(dict[str, Any], payload), settings)
