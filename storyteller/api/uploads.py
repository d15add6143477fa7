"""`POST /api/upload`: a batch of videos, streamed to disk, queued at once."""

from __future__ import annotations

import logging
import re
from functools import partial
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from starlette.requests import ClientDisconnect

from storyteller.api.errors import ApiError, refusal_status
from storyteller.api.multipart import (
    BadForm,
    FileResult,
    forget_stored,
    publish_stored,
    read_form,
)
from storyteller.api.services import Services, services
from storyteller.api.views import UploadAnswer, UploadedVideo, seed_status
from storyteller.db import crud
from storyteller.db.models import Priority
from storyteller.jobs.priorities import parse_priority
from storyteller.storage.objects import StorageError
from storyteller.storage.sniff import NotAVideo, check_video
from storyteller.tellers.registry import configured_model, has_models, teller_names

log = logging.getLogger(__name__)

router = APIRouter(tags=["uploads"])

FILE_FIELD = "videos"


def _choose(name: str, query: str | None, form: dict[str, str]) -> str | None:
    value = form.get(name) or query
    return value or None


def teller_field(value: str | None, default: str) -> str:
    teller = value or default
    if teller not in teller_names():
        raise ApiError(
            422, f"teller: unknown teller {teller!r}; choose one of: {', '.join(teller_names())}"
        )
    return teller


# What a provider's model name looks like ("gemini-2.5-flash", "llama3.1:8b", "org/model").
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}")


def model_field(value: str | None, teller: str) -> str | None:
    """The model chosen for `teller`, or None for its configured one."""
    if not value:
        return None
    if not has_models(teller):
        raise ApiError(422, f"model: the {teller} teller has no models to choose from")
    if not MODEL_NAME.fullmatch(value):
        raise ApiError(422, f"model: {value[:140]!r} is not a model name")
    return value


def priority_field(value: str | None) -> Priority:
    try:
        return parse_priority(value)
    except ValueError as exc:
        raise ApiError(422, f"priority: {exc}") from None


def sniffed(result: FileResult) -> FileResult:
    """Refuse a stored file whose first bytes show it is not a video."""
    if result.stored is not None:
        try:
            check_video(result.stored.first_bytes, name=result.name)
        except NotAVideo as refusal:
            result.refused = refusal
    return result


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
                            "priority": {"type": "string", "enum": [p.value for p in Priority]},
                            "teller": {"type": "string"},
                            "model": {"type": "string"},
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
    found: Annotated[Services, Depends(services)],
    priority: Annotated[str | None, Query(description="high, normal or low")] = None,
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
    settings = found.settings
    # Check what can be checked before reading a byte of the body.
    if priority is not None:
        priority_field(priority)
    if teller is not None:
        model_field(model, teller_field(teller, settings.default_teller))
    max_bytes = settings.video_max_size_mb * 1024 * 1024
    try:
        form = await read_form(
            request.stream(),
            request.headers.get("content-type"),
            store=found.store,
            file_field=FILE_FIELD,
            max_bytes=max_bytes,
            max_files=settings.max_batch_videos,
        )
    except BadForm as exc:
        raise ApiError(400, exc.reason) from None
    except ClientDisconnect:
        # Nobody reads this answer; what matters is that nothing of it was kept.
        log.info("an upload was cut off by the client; its partial files are deleted")
        raise ApiError(400, "the upload was cut off before it was complete") from None
    files = [sniffed(result) for result in form.files]
    if not files:
        raise ApiError(400, f"no videos in the upload (send them in the field `{FILE_FIELD}`)")
    try:
        chosen_priority = priority_field(_choose("priority", priority, form.fields))
        chosen_teller = teller_field(
            _choose("teller", teller, form.fields), settings.default_teller
        )
        chosen_model = model_field(_choose("model", model, form.fields), chosen_teller)
    except ApiError:
        await anyio.to_thread.run_sync(forget_stored, found.store, files)
        raise
    everything_refused = all_refused(files)
    if everything_refused is not None:
        await anyio.to_thread.run_sync(forget_stored, found.store, files)
        raise everything_refused
    # The bytes of refused files are of no use.
    refused = [result for result in files if result.refused is not None]
    await anyio.to_thread.run_sync(forget_stored, found.store, refused)
    try:
        await anyio.to_thread.run_sync(publish_stored, found.videos, found.store, files)
    except StorageError:  # answered 503 with the reason; nothing of the upload is kept
        await anyio.to_thread.run_sync(forget_stored, found.store, files, found.videos)
        raise

    answer = await anyio.to_thread.run_sync(
        partial(
            create_upload_batch,
            found,
            files,
            priority=chosen_priority,
            teller=chosen_teller,
            model=chosen_model,
        )
    )
    await anyio.to_thread.run_sync(found.changed, [video.id for video in answer.videos])
    return answer


def all_refused(files: list[FileResult]) -> ApiError | None:
    """The error to answer when no file of an upload can be kept (413 or 415, with every
    reason), or None when some can."""
    reasons = [result.refused for result in files if result.refused is not None]
    if len(reasons) < len(files) or not reasons:
        return None
    return ApiError(refusal_status(reasons[0]), "; ".join(r.reason for r in reasons))


def create_upload_batch(
    found: Services,
    files: list[FileResult],
    *,
    priority: Priority,
    teller: str,
    model: str | None = None,
) -> UploadAnswer:
    """The batch of an upload's files (refused ones as failed videos with their reasons),
    answered as the original app answered an upload. Blocking: call it from a thread."""
    refused = sum(result.refused is not None for result in files)
    with found.write() as session:
        batch = crud.create_batch(
            session,
            videos=[video_create(result) for result in files],
            teller=teller,
            model=model,
            priority=priority,
            max_attempts=found.settings.max_attempts,
        )
        return UploadAnswer(
            jobId=batch.id,
            message=upload_message(len(files), refused),
            videos=[
                UploadedVideo(
                    id=video.id,
                    name=video.original_name,
                    status=seed_status(video.status),
                    error=video.error,
                )
                for video in batch.videos
            ],
            priority=priority.value,
            teller=teller,
            model=model or configured_model(teller, found.settings),
        )


def video_create(result: FileResult) -> crud.VideoCreate:
    if result.refused is not None or result.stored is None:
        reason = result.refused.reason if result.refused else "the file was not stored"
        code = result.refused.code if result.refused else "refused"
        return crud.VideoCreate(
            original_name=result.name, size_bytes=0, content_hash="", storage_path="",
            error=reason, error_code=code,
        )  # fmt: skip
    stored = result.stored
    return crud.VideoCreate(
        original_name=result.name,
        size_bytes=stored.size,
        content_hash=stored.sha256,
        storage_path=stored.key,
    )


def upload_message(total: int, refused: int) -> str:
    queued = total - refused
    text = f"{queued} video{'s' if queued != 1 else ''} uploaded, processing started"
    if refused:
        text += f"; {refused} refused (see each video's error)"
    return text
