"""A user's quotas, checked when an upload becomes a batch: videos a day, bytes stored,
AI dollars a day. Refused with 429 and what resets when."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storyteller.accounts.signin import Viewer
from storyteller.db.models import Batch, Video
from storyteller.db.types import utcnow
from storyteller.errors import StorytellerError
from storyteller.jobs.budget import day_start, dollars, next_day, owner_spent_today


class QuotaExceeded(StorytellerError):
    """An upload past one of its user's quotas (HTTP 429)."""

    code = "quota_exceeded"


def _resets(now: dt.datetime) -> str:
    hours = (next_day(now) - now).total_seconds() / 3600
    return f"it resets at midnight UTC (in {hours:.1f} hours)"


def check_upload(session: Session, viewer: Viewer, *, videos: int, size: int, spends: bool) -> None:
    """Refuse `videos` more videos of `size` bytes in all (`spends`: told by an AI
    teller) when they would pass one of the viewer's quotas."""
    if viewer.id is None:
        return
    now = utcnow()
    owned = Batch.owner_id == viewer.id
    if viewer.videos_per_day is not None:
        today = (
            session.scalar(
                select(func.count(Video.id))
                .join(Batch, Batch.id == Video.batch_id)
                .where(owned, Video.created_at >= day_start(now), Video.storage_path != "")
            )
            or 0
        )
        if today + videos > viewer.videos_per_day:
            raise QuotaExceeded(
                f"daily quota: {viewer.videos_per_day} videos a day, {today} uploaded today, "
                f"{videos} more would pass it; {_resets(now)}"
            )
    if viewer.bytes_stored is not None:
        stored = (
            session.scalar(
                select(func.sum(Video.size_bytes))
                .join(Batch, Batch.id == Video.batch_id)
                .where(owned)
            )
            or 0
        )
        if stored + size > viewer.bytes_stored:
            raise QuotaExceeded(
                f"storage quota: {_mb(viewer.bytes_stored)} stored at most, {_mb(stored)} "
                f"stored, this upload is {_mb(size)}; delete jobs to make room (it does not "
                "reset by itself)"
            )
    if spends and viewer.ai_usd_per_day is not None:
        spent = owner_spent_today(session, owner_id=viewer.id, now=now)
        if spent >= viewer.ai_usd_per_day:
            raise QuotaExceeded(
                f"AI spending quota: {dollars(viewer.ai_usd_per_day)} a day, "
                f"{dollars(spent)} spent today; {_resets(now)}, or use the local teller"
            )


def _mb(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB"
