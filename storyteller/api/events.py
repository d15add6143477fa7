"""`GET /api/events`: live updates, every change of a video pushed to browsers as a
Server-Sent Event (from this process's `EventHub`, `api/live.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from storyteller.api.deps import DatabaseDep, EventHubDep, SignedInDep
from storyteller.api.errors import ApiError
from storyteller.api.live import PING_EVERY_S, Event
from storyteller.batches.listing import batch_exists
from storyteller.batches.ownership import owners_of

router = APIRouter(tags=["events"])


@router.get(
    "/api/events",
    summary="Live updates (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    hub: EventHubDep,
    database: DatabaseDep,
    user: SignedInDep,
    job: Annotated[str | None, Query(description="Only this job's videos.")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """A `video` event (`{"jobId", "jobStatus", "video"}`, the video as in the job view)
    each time a video changes: queued, started, a stage or progress step, ended. Events
    are numbered: reconnecting with `Last-Event-ID` (browsers do it by themselves)
    replays what was missed, or sends `reset` when that is too old to replay. 404 for a
    `job` that does not exist. A member hears of their own jobs only."""
    if job is not None and not await database.quick_read(batch_exists, job):
        raise ApiError(404, "no job with that id")
    queue, missed = hub.subscribe(last_event_id)

    # Whose each job is, as this stream has learnt (a job's owner never changes).
    owners: dict[str, str | None] = {}

    async def wanted(event: Event) -> bool:
        if job is not None and event.job_id not in (None, job):
            return False
        if event.job_id is None or user.is_admin:
            return True
        if event.job_id not in owners:
            found = await database.quick_read(owners_of, [event.job_id])
            owners[event.job_id] = found.get(event.job_id)
        return user.sees(owners[event.job_id])

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n\n"
            if missed is None:
                yield b"event: reset\ndata: {}\n\n"
            else:
                for event in missed:
                    if await wanted(event):
                        yield event.encode(hub.epoch)
            while True:
                try:
                    arrived = await asyncio.wait_for(queue.get(), timeout=PING_EVERY_S)
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
                if arrived is None:
                    return
                if await wanted(arrived):
                    yield arrived.encode(hub.epoch)
        finally:
            hub.unsubscribe(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
