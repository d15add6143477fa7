"""A batch as JSON: the whole record (every story version, the evidence, the costs), in
the shape `record.schema.json` beside this module describes (docs/api.md shows it)."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from importlib import resources
from typing import Any

from storyteller.export.document import BatchDocument, FailedAttempt, StoryVersion, VideoDocument

RECORD_FORMAT = "storyteller-export"
RECORD_VERSION = 1


def _time(moment: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and `Z`, as the API writes times."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _story(story: StoryVersion) -> dict[str, Any]:
    return {
        "version": story.version,
        "teller": story.teller,
        "model": story.model,
        "seed": story.seed,
        "title": story.title,
        "place": story.place,
        "region": story.region,
        "date": story.date.isoformat(),
        "dateline": story.dateline,
        "paragraphs": list(story.paragraphs),
        "disclaimer": story.disclaimer,
        "text": story.text,
        "createdAt": _time(story.created_at),
        "tokensIn": story.tokens_in,
        "tokensOut": story.tokens_out,
        "costUsd": story.cost_usd,
        "sentences": [
            sentence.model_dump(mode="json", by_alias=True) for sentence in story.sentences
        ],
    }


def _attempt(attempt: FailedAttempt) -> dict[str, Any]:
    return {
        "attempt": attempt.attempt,
        "teller": attempt.teller,
        "model": attempt.model,
        "tokensIn": attempt.tokens_in,
        "tokensOut": attempt.tokens_out,
        "costUsd": attempt.cost_usd,
        "createdAt": _time(attempt.created_at),
    }


def _video(video: VideoDocument) -> dict[str, Any]:
    return {
        "id": video.id,
        "position": video.position,
        "name": video.name,
        "status": video.status,
        "reason": video.reason,
        "errorCode": video.error_code,
        "teller": video.teller,
        "model": video.model,
        "sizeBytes": video.size_bytes,
        "contentHash": video.content_hash,
        "createdAt": _time(video.created_at),
        "completedAt": _time(video.completed_at),
        "story": _story(video.story) if video.story else None,  # the current version
        "currentVersion": video.story.version if video.story else None,
        "stories": [_story(story) for story in video.stories],
        "failedAttempts": [_attempt(attempt) for attempt in video.failed_attempts],
        "costUsd": video.cost_usd,
        "evidence": video.evidence,
    }


def record(batch: BatchDocument) -> dict[str, Any]:
    """The batch as JSON-ready data."""
    return {
        "format": RECORD_FORMAT,
        "version": RECORD_VERSION,
        "exportedAt": _time(batch.exported_at),
        "batch": {
            "id": batch.id,
            "status": batch.status,
            "priority": batch.priority,
            "teller": batch.teller,
            "model": batch.model,
            "createdAt": _time(batch.created_at),
            "completedAt": _time(batch.completed_at),
        },
        "videos": [_video(video) for video in batch.videos],
    }


def render(batch: BatchDocument) -> bytes:
    return json.dumps(record(batch), indent=2, ensure_ascii=False).encode()


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of what `render` writes."""
    text = resources.files(__package__).joinpath("record.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded
