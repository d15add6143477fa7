"""`POST /api/upload`: a batch of videos, streamed to disk, queued at once."""

from __future__ import annotations

import logging
from functools import partial
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from starlette.requests import ClientDisconnect

from storyteller.api.deps import IntakeDep, SettingsDep, UploadStoreDep
from storyteller.api.errors import ApiError
from storyteller.api.multipart import read_form
from storyteller.api.views import UploadAnswer, upload_answer
from storyteller.batches.choices import PRIORITIES, Choice, InvalidChoice
from storyteller.batches.intake import sniffed

log = logging.getLogger(__name__)

router = APIRouter(tags=["uploads"])

FILE_FIELD = "videos"


@router.post(
    "/api/upload",
    response_model=UploadAnswer,
    summary="Upload a batch of videos",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            FILE_FIELD: {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            },
                            "priority": {"type": "string", "enum": PRIORITIES},
                            "teller": {"type": "string"},
                            "model": {"type": "string"},
                            "notify_email": {
                                "type": "string",
                                "description": "An address told when the batch ends",
                            },
                        },
                        "required": [FILE_FIELD],
                    }
                }
            },
        }
    },
)
async def upload(
    request: Request,
    settings: SettingsDep,
    uploads: UploadStoreDep,
    intake: IntakeDep,
    priority: Annotated[
        str | None,
        Query(description="high, normal or low", json_schema_extra={"enum": PRIORITIES}),
    ] = None,
    teller: Annotated[str | None, Query(description="Who writes the stories")] = None,
    model: Annotated[
        str | None, Query(description="The AI teller's model (default: its configured one)")
    ] = None,
) -> UploadAnswer:
    """Multipart form with the videos in the field `videos` (up to the batch limit).
    Answers at once with the job id and every video's id; processing runs in the
    background. A file that is too large or not a video becomes a failed video of the
    batch with its reason, and the rest carry on; if every file is refused, nothing is
    created and the answer is 413 or 415."""
    # Check what can be checked before reading a byte of the body.
    Choice.of(settings, priority=priority, teller=teller, model=model if teller else None)
    if intake.owner.id is not None:
        await anyio.to_thread.run_sync(partial(intake.check_quotas, videos=1, size=0))
    try:
        form = await read_form(
            request.stream(),
            request.headers.get("content-type"),
            store=uploads,
            file_field=FILE_FIELD,
            max_bytes=settings.video_max_size_mb * 1024 * 1024,
            max_files=settings.max_batch_videos,
        )
    except ClientDisconnect:
        # Nobody reads this answer; what matters is that nothing of it was kept.
        log.info("an upload was cut off by the client; its partial files are deleted")
        raise ApiError(400, "the upload was cut off before it was complete") from None
    files = [sniffed(result) for result in form.files]
    if not files:
        raise ApiError(400, f"no videos in the upload (send them in the field `{FILE_FIELD}`)")
    try:
        choice = Choice.of(
            settings,
            priority=form.fields.get("priority") or priority,
            teller=form.fields.get("teller") or teller,
            model=form.fields.get("model") or model,
            highest=intake.owner.priority_cap,
            notify_email=form.fields.get("notify_email"),
        )
    except InvalidChoice:
        await anyio.to_thread.run_sync(intake.forget, files)
        raise
    admitted = await anyio.to_thread.run_sync(partial(intake.admit, files, choice, resumable=False))
    return upload_answer(admitted, choice, settings)
