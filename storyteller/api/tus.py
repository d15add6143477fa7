"""Resumable uploads: the tus 1.0.0 protocol at `/api/uploads/`, and the batch made of
finished uploads (`POST /api/uploads/batch`).

Core protocol plus the creation, expiration, termination and checksum (sha1, md5)
extensions (https://tus.io/protocols/resumable-upload). The uploads themselves are files
on disk (`storage/tus.py`), so they outlive the request that began them and a restart of
the server; a batch of them goes through the same intake as a form upload
(`batches/intake.py`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email.utils
import logging
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import AliasChoices, BaseModel, Field
from starlette.requests import ClientDisconnect

from storyteller.api.deps import IntakeDep, SettingsDep, TusStoreDep
from storyteller.api.errors import ApiError, answer
from storyteller.api.views import UploadAnswer, upload_answer
from storyteller.batches.choices import PRIORITY_SCHEMA, Choice
from storyteller.storage.tus import (
    CHECKSUMS,
    MAX_METADATA_BYTES,
    UNNAMED,
    UPLOAD_ID,
    ChunkWrite,
    NoSuchUpload,
    TusUpload,
    given_name,
    parse_metadata,
)
from storyteller.storage.uploads import TooLarge

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,expiration,termination,checksum"
PATCH_CONTENT_TYPE = "application/offset+octet-stream"
# Answered by a failed checksum (the extension's own status code).
CHECKSUM_MISMATCH = 460

# Headers a page on another origin must be allowed to read (CORS).
EXPOSED_HEADERS = (
    "Location, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, "
    "Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm"
)


class TusRoute(APIRoute):
    """Every answer of these routes, errors included (answered as everywhere else, by
    `api/errors.py`), carries `Tus-Resumable` and exposes the tus headers to pages on
    other origins."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def tus_answer(request: Request) -> Response:
            try:
                response = await handle(request)
            except Exception as exc:
                response = answer(request, exc)
            response.headers["Tus-Resumable"] = TUS_VERSION
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            return response

        return tus_answer


router = APIRouter(tags=["uploads"], route_class=TusRoute)


def _header(name: str, schema: dict[str, Any], description: str, *, required: bool = True) -> Any:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "schema": schema,
        "description": description,
    }


# The protocol's request headers, declared in the OpenAPI schema: they are read by hand
# (a missing Tus-Resumable is the protocol's 412, not a validation error).
TUS_RESUMABLE = _header("Tus-Resumable", {"type": "string", "enum": ["1.0.0"]}, "The tus version.")
BYTES = {"type": "integer", "minimum": 0}


def _tus_schema(*headers: Any, body: bool = False) -> dict[str, Any]:
    extra: dict[str, Any] = {"parameters": [TUS_RESUMABLE, *headers]}
    if body:
        extra["requestBody"] = {
            "required": True,
            "content": {PATCH_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    return extra


def http_date(moment: float) -> str:
    return email.utils.formatdate(moment, usegmt=True)


def _require_tus(request: Request) -> None:
    version = request.headers.get("tus-resumable")
    if version != TUS_VERSION:
        said = f"Tus-Resumable {version!r}" if version else "no Tus-Resumable header"
        raise ApiError(
            412, f"{said}: this server speaks tus {TUS_VERSION}", {"Tus-Version": TUS_VERSION}
        )


def _number(request: Request, header: str) -> int:
    value = request.headers.get(header)
    if value is None or not (value.isascii() and value.isdigit()):
        shown = "missing" if value is None else f"{value!r}"
        raise ApiError(400, f"{header}: {shown}; a whole number of bytes is needed")
    return int(value)


def _checksum(request: Request) -> tuple[str, bytes] | None:
    header = request.headers.get("upload-checksum")
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in CHECKSUMS:
        raise ApiError(
            400, f"Upload-Checksum: {algorithm!r} is not supported; use {', '.join(CHECKSUMS)}"
        )
    try:
        return algorithm, base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise ApiError(400, "Upload-Checksum: the checksum is not base64") from None


def _expires(upload: TusUpload) -> dict[str, str]:
    return {"Upload-Expires": http_date(upload.expires)}


@router.options(
    "/api/uploads/",
    status_code=204,
    response_class=Response,
    summary="What this tus server supports",
)
@router.options("/api/uploads", status_code=204, include_in_schema=False)
async def tus_options(settings: SettingsDep) -> Response:
    """The tus discovery answer: version, extensions, largest upload, checksums."""
    return Response(
        status_code=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(settings.video_max_size_mb * 1024 * 1024),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
        },
    )


@router.post(
    "/api/uploads/",
    status_code=201,
    response_class=Response,
    summary="Begin a resumable (tus) upload",
    openapi_extra=_tus_schema(
        _header("Upload-Length", BYTES, "The video's size in bytes."),
        _header(
            "Upload-Metadata",
            {"type": "string", "maxLength": MAX_METADATA_BYTES},
            "`filename` (base64) names the video.",
            required=False,
        ),
    ),
)
@router.post("/api/uploads", status_code=201, include_in_schema=False)
async def tus_create(
    request: Request, settings: SettingsDep, tus: TusStoreDep, intake: IntakeDep
) -> Response:
    """tus creation: `Upload-Length` and `Upload-Metadata` (`filename` names the video).
    Answers 201 with the upload's `Location`; 413 when it is over the size limit."""
    _require_tus(request)
    if "upload-defer-length" in request.headers:
        raise ApiError(400, "Upload-Defer-Length is not supported: send Upload-Length")
    length = _number(request, "upload-length")
    metadata = request.headers.get("upload-metadata", "")
    parse_metadata(metadata)
    max_bytes = settings.video_max_size_mb * 1024 * 1024
    if length > max_bytes:
        raise TooLarge(given_name(metadata) or UNNAMED, max_bytes)
    if intake.owner.id is not None:  # the uploader's quotas, before a byte is sent
        await anyio.to_thread.run_sync(partial(intake.check_quotas, videos=1, size=length))
    await anyio.to_thread.run_sync(tus.cleanup_now_and_then)
    upload = await anyio.to_thread.run_sync(
        lambda: tus.create(length=length, metadata=metadata, owner=intake.owner.id)
    )
    location = f"{request.scope.get('root_path', '')}/api/uploads/{upload.id}"
    return Response(status_code=201, headers={"Location": location, **_expires(upload)})


@router.head(
    "/api/uploads/{upload_id}",
    summary="How much of a resumable upload is in",
    response_class=Response,
    openapi_extra=_tus_schema(),
)
async def tus_offset(request: Request, upload_id: str, tus: TusStoreDep) -> Response:
    """`Upload-Offset` (bytes received), `Upload-Length` and `Upload-Metadata`."""
    _require_tus(request)
    async with tus.locked(upload_id):
        upload = await anyio.to_thread.run_sync(tus.load, upload_id)
    headers = {
        "Upload-Offset": str(upload.offset),
        "Upload-Length": str(upload.length),
        "Cache-Control": "no-store",
        **_expires(upload),
    }
    if upload.metadata:
        headers["Upload-Metadata"] = upload.metadata
    return Response(status_code=200, headers=headers)


@router.patch(
    "/api/uploads/{upload_id}",
    status_code=204,
    summary="Send bytes of an upload",
    response_class=Response,
    openapi_extra=_tus_schema(
        _header("Upload-Offset", BYTES, "Where these bytes go: the upload's offset."),
        _header(
            "Upload-Checksum",
            {"type": "string"},
            "`sha1 <base64>` or `md5 <base64>` of the body.",
            required=False,
        ),
        body=True,
    ),
)
async def tus_patch(request: Request, upload_id: str, tus: TusStoreDep) -> Response:
    """The next bytes of the upload, from `Upload-Offset` on. The body is written to disk
    a buffer at a time as it arrives. With `Upload-Checksum` the bytes are kept only if
    they match (else 460); without it, what arrived before a dropped connection is kept."""
    _require_tus(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != PATCH_CONTENT_TYPE:
        raise ApiError(415, f"Content-Type must be {PATCH_CONTENT_TYPE}")
    offset = _number(request, "upload-offset")
    checksum = _checksum(request)
    declared = request.headers.get("content-length")
    async with tus.locked(upload_id):
        upload = await anyio.to_thread.run_sync(tus.load, upload_id)
        if offset != upload.offset:
            raise ApiError(
                409,
                f"Upload-Offset {offset} is not where the upload is ({upload.offset}): "
                "ask with HEAD and continue from there",
            )
        if (
            declared is not None
            and declared.isascii()
            and declared.isdigit()
            and offset + int(declared) > upload.length
        ):
            raise ApiError(413, f"the body would pass Upload-Length ({upload.length} bytes)")
        expected = int(declared) if declared is not None and declared.isdigit() else None
        chunk = await anyio.to_thread.run_sync(
            tus.begin_chunk, upload, checksum[0] if checksum else None, expected
        )
        cut = False
        try:
            cut = await _receive(
                request, chunk, room=upload.length - offset, buffer=tus.store.write_buffer_bytes
            )
        except BaseException:
            chunk.discard()
            raise
        if checksum is not None:
            assert chunk.digest is not None
            if cut or chunk.digest.digest() != checksum[1]:
                await anyio.to_thread.run_sync(chunk.discard)
                if cut:
                    raise ApiError(400, "the connection was cut; the chunk is discarded")
                raise ApiError(
                    CHECKSUM_MISMATCH,
                    f"Upload-Checksum does not match the {checksum[0]} of the bytes received; "
                    "they are discarded: send them again",
                )
        await anyio.to_thread.run_sync(chunk.keep)
        await anyio.to_thread.run_sync(tus.commit, upload, offset + chunk.written)
        if cut:
            log.info("upload %s cut off at %d bytes; it can resume", upload_id, upload.offset)
    return Response(
        status_code=204, headers={"Upload-Offset": str(upload.offset), **_expires(upload)}
    )


# Seconds without a byte after which a PATCH's client is taken to be gone.
BODY_IDLE_S = 30.0


async def _receive(request: Request, chunk: ChunkWrite, *, room: int, buffer: int) -> bool:
    """Write the body into `chunk`, a buffer at a time in a worker thread; True when the
    client went away before the end. Refuses (413) a body longer than `room`."""
    pending = bytearray()
    received = 0
    cut = False
    stream = request.stream().__aiter__()
    try:
        while True:
            try:
                # A client that vanished without closing (a laptop asleep, a network
                # switched) sends nothing and no end: after BODY_IDLE_S, treat it as cut,
                # keep what arrived and free the upload for the client's next try.
                piece = await asyncio.wait_for(stream.__anext__(), timeout=BODY_IDLE_S)
            except StopAsyncIteration:
                break
            except TimeoutError:
                cut = True
                break
            received += len(piece)
            if received > room:
                raise ApiError(413, f"the body goes past Upload-Length by {received - room} bytes")
            pending += piece
            if len(pending) >= buffer:
                full, pending = pending, bytearray()
                await anyio.to_thread.run_sync(chunk.write, full)
    except ClientDisconnect:
        cut = True
    if pending:
        await anyio.to_thread.run_sync(chunk.write, pending)
    return cut


@router.delete(
    "/api/uploads/{upload_id}",
    status_code=204,
    summary="Cancel a resumable upload",
    response_class=Response,
    openapi_extra=_tus_schema(),
)
async def tus_terminate(request: Request, upload_id: str, tus: TusStoreDep) -> Response:
    """tus termination: the upload and its bytes are deleted."""
    _require_tus(request)
    async with tus.locked(upload_id):
        await anyio.to_thread.run_sync(tus.load, upload_id)
        await anyio.to_thread.run_sync(tus.delete, upload_id)
    return Response(status_code=204)


# --- from finished uploads to a batch -------------------------------------------------


class TusBatch(BaseModel):
    """Finished resumable uploads to process together."""

    uploads: list[str] = Field(
        min_length=1, description="Upload ids, or the URLs the creation answered (Location)."
    )
    priority: str | None = Field(
        default=None, description="high, normal or low", json_schema_extra=PRIORITY_SCHEMA
    )
    teller: str | None = Field(default=None, description="Who writes the stories")
    model: str | None = Field(
        default=None, description="The AI teller's model (default: its configured one)"
    )
    notifyEmail: str | None = Field(
        default=None,
        validation_alias=AliasChoices("notifyEmail", "notify_email"),
        description="An address told when the batch ends (batch.completed)",
    )


def _upload_id(given: str) -> str:
    upload_id = given.rstrip("/").rsplit("/", 1)[-1]
    if not UPLOAD_ID.match(upload_id):
        raise NoSuchUpload(given)
    return upload_id


@router.post(
    "/api/uploads/batch", response_model=UploadAnswer, summary="Queue finished tus uploads"
)
async def tus_batch(
    body: TusBatch, settings: SettingsDep, tus: TusStoreDep, intake: IntakeDep
) -> UploadAnswer:
    """Turns finished resumable uploads into one batch and answers as `POST /api/upload`
    does. An upload that is not a video becomes a failed video with its reason; if all
    are refused, nothing is created (415). An unfinished upload is refused with 409.
    The uploads are used up: their ids mean nothing afterwards."""
    choice = Choice.of(
        settings,
        priority=body.priority,
        teller=body.teller,
        model=body.model,
        highest=intake.owner.priority_cap,
        notify_email=body.notifyEmail,
    )
    ids = [_upload_id(given) for given in body.uploads]
    if len(set(ids)) != len(ids):
        raise ApiError(400, "uploads: an upload is listed twice")
    if len(ids) > settings.max_batch_videos:
        raise ApiError(400, f"uploads: at most {settings.max_batch_videos} videos in a batch")
    async with contextlib.AsyncExitStack() as held:
        for upload_id in sorted(ids):
            await held.enter_async_context(tus.locked(upload_id))
        listed = [
            await anyio.to_thread.run_sync(intake.own_finished, tus, upload_id) for upload_id in ids
        ]
        # A StorageError (503) keeps the uploads: asked again, the batch finds what was
        # published already in the video store and publishes the rest from here.
        admitted = await anyio.to_thread.run_sync(
            partial(intake.admit_resumable, tus, listed, choice)
        )
    return upload_answer(admitted, choice, settings)
