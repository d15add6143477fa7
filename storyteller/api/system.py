"""Health, queue figures and what the service offers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from storyteller.api.deps import DatabaseDep, EngineDep, SettingsDep, SignedInDep
from storyteller.api.views import timestamp
from storyteller.db import crud
from storyteller.db.models import VideoStatus
from storyteller.tellers.registry import models_of, needs, teller_names

router = APIRouter(tags=["service"])
# The /api routes: behind the sign-in (see app.py); /health stays open.
gated = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str
    timestamp: str


class QueueCounts(BaseModel):
    waiting: int
    active: int
    completed: int
    failed: int
    cancelled: int


class Stats(BaseModel):
    queue: QueueCounts
    totalJobs: int
    engine: dict[str, Any] | None


@router.get("/health", response_model=Health, summary="Is the service up")
def health() -> Health:
    return Health(status="healthy", timestamp=timestamp(dt.datetime.now(dt.UTC)) or "")


@gated.get("/api/stats", response_model=Stats, summary="Videos in each state, and jobs")
def stats(database: DatabaseDep, engine: EngineDep, user: SignedInDep) -> Stats:
    """`failed` counts cancelled videos too, as the original front end shows them;
    `cancelled` says how many of those were cancelled. A member counts their own videos
    and jobs; an admin every one."""
    with database.read() as session:
        counts = crud.video_counts(session, owner_id=user.owner_filter)
        total = crud.count_batches(session, owner_id=user.owner_filter)
    return Stats(
        queue=QueueCounts(
            waiting=counts[VideoStatus.PENDING],
            active=counts[VideoStatus.PROCESSING],
            completed=counts[VideoStatus.COMPLETED],
            failed=counts[VideoStatus.FAILED] + counts[VideoStatus.CANCELLED],
            cancelled=counts[VideoStatus.CANCELLED],
        ),
        totalJobs=total,
        engine=_public(engine.describe()) if engine else None,
    )


# What names this machine or process (its worker id is `host:pid:...`): for the logs only.
PRIVATE_ENGINE_FIELDS = frozenset({"worker_id"})


def _public(description: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in description.items() if key not in PRIVATE_ENGINE_FIELDS}


class TellerDetail(BaseModel):
    name: str
    ready: bool = Field(description="Whether it can write a story as the service is set up.")
    needs: str | None = Field(description="What to set before it can, when it cannot.")
    models: list[str] = Field(
        description="Models to choose from: the configured one first (empty for local)."
    )


class Tellers(BaseModel):
    tellers: list[str]
    default: str
    details: list[TellerDetail] = Field(
        description="Each teller of `tellers`, in order: whether it is ready, and its models."
    )


@gated.get("/api/tellers", response_model=Tellers, summary="Who can write the stories")
def tellers(settings: SettingsDep) -> Tellers:
    """Every teller, with whether it can be used now: an upload or a Write again that
    asks for one that is not ready is refused with 422 and the same words."""
    details = []
    for name in teller_names():
        missing = needs(name, settings)
        details.append(
            TellerDetail(
                name=name,
                ready=missing is None,
                needs=missing,
                models=models_of(name, settings),
            )
        )
    return Tellers(tellers=teller_names(), default=settings.default_teller, details=details)


class Limits(BaseModel):
    videoMaxSizeMb: int
    maxBatchVideos: int
    tellers: list[str]
    defaultTeller: str


@gated.get("/api/limits", response_model=Limits, summary="What an upload may hold")
def limits(settings: SettingsDep) -> Limits:
    """For a client to check files before sending them."""
    return Limits(
        videoMaxSizeMb=settings.video_max_size_mb,
        maxBatchVideos=settings.max_batch_videos,
        tellers=teller_names(),
        defaultTeller=settings.default_teller,
    )
