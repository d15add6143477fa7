"""Resumable uploads: a tus 1.0.0 server at `/api/uploads/`, and the batch made from them.

Core protocol plus the creation, expiration, termination and checksum (sha1, md5)
extensions (https://tus.io/protocols/resumable-upload). Each upload is a file and a small
JSON info file in `<data_dir>/uploads/.tus/`, so an upload outlives the request that
began it and a restart of the server. The info file holds the committed offset: bytes
past it belong to a request that died and are cut off by the next PATCH. A finished
upload is hashed once and stays there until `POST /api/uploads/batch` moves it into the
upload store and queues it, or until it expires.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email.utils
import errno
import hashlib
import json
import logging
import os
import re
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, BinaryIO

import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from storyteller.api.errors import ApiError, error_response, refusal_status
from storyteller.api.multipart import (
    FileResult,
    forget_stored,
    publish_stored,
    written_in_place,
)
from storyteller.api.services import Services, services
from storyteller.api.uploads import (
    all_refused,
    create_upload_batch,
    model_field,
    priority_field,
    sniffed,
    teller_field,
)
from storyteller.api.views import UploadAnswer
from storyteller.config import Settings
from storyteller.storage.objects import VideoStore
from storyteller.storage.uploads import (
    FIRST_BYTES,
    NoRoom,
    StoredFile,
    TooLarge,
    UploadRefused,
    UploadStore,
)

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,expiration,termination,checksum"
CHECKSUMS: dict[str, Callable[[], Any]] = {"sha1": hashlib.sha1, "md5": hashlib.md5}
PATCH_CONTENT_TYPE = "application/offset+octet-stream"
# Answered by a failed checksum (the extension's own status code).
CHECKSUM_MISMATCH = 460

TUS_DIR = ".tus"
INFO_SUFFIX = ".json"
_ID = re.compile(r"^[0-9a-f]{32}$")

# A request waits this long for another one on the same upload (a PATCH whose client
# went away and that is still writing what it received) before it is answered 423.
LOCK_WAIT_S = 10.0
# Expired uploads are looked for at most this often while the service runs.
CLEANUP_EVERY_S = 3600.0

# Headers a page on another origin must be allowed to read (CORS).
EXPOSED_HEADERS = (
    "Location, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, "
    "Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm"
)


class TusError(ApiError):
    """An `ApiError` with headers the tus client needs to read (`Tus-Version` on 412)."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, reason)
        self.headers = headers or {}


class TusRoute(APIRoute):
    """Every answer of these routes, errors included, carries `Tus-Resumable` and exposes
    the tus headers to pages on other origins."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                response = await handle(request)
            except TusError as exc:
                response = error_response(exc.status, exc.reason)
                response.headers.update(exc.headers)
            except ApiError as exc:
                response = error_response(exc.status, exc.reason)
            except UploadRefused as exc:
                response = error_response(refusal_status(exc), exc.reason)
            response.headers["Tus-Resumable"] = TUS_VERSION
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            return response

        return answer


router = APIRouter(tags=["uploads"], route_class=TusRoute)


# --- uploads on disk ---------------------------------------------------------


@dataclass
class TusUpload:
    """One resumable upload, as its info file keeps it."""

    id: str
    length: int
    offset: int
    metadata: str  # the Upload-Metadata header as the client sent it
    expires: float  # Unix time
    sha256: str | None = None  # set once every byte is in

    @property
    def complete(self) -> bool:
        return self.offset == self.length

    @property
    def name(self) -> str:
        """The file's name from the metadata (`filename`, or `name` as Uppy sends it)."""
        fields = parse_metadata(self.metadata)
        raw = fields.get("filename") or fields.get("name") or ""
        name = PurePosixPath(raw.replace("\\", "/")).name.strip()
        return name[:255] or f"upload-{self.id[:8]}"


def parse_metadata(header: str | None) -> dict[str, str]:
    """`key base64,key2 base64` (a key may stand alone) into a dict; 400 when malformed."""
    fields: dict[str, str] = {}
    if not header or not header.strip():
        return fields
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not key or len(parts) > 2:
            raise TusError(400, f"Upload-Metadata: {pair.strip()!r} is not `key base64-value`")
        value = ""
        if len(parts) == 2:
            try:
                value = base64.b64decode(parts[1], validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise TusError(
                    400, f"Upload-Metadata: the value of {key!r} is not base64 of UTF-8 text"
                ) from None
        if key in fields:
            raise TusError(400, f"Upload-Metadata: {key!r} is given twice")
        fields[key] = value
    return fields


def http_date(moment: float) -> str:
    return email.utils.formatdate(moment, usegmt=True)


class ChunkWrite:
    """The body of one PATCH on its way to the end of an upload's file; hashed as it goes
    when the client sent a checksum. Blocking disk work: call it from a worker thread."""

    def __init__(self, path: Path, upload: TusUpload, algorithm: str | None) -> None:
        self.start = upload.offset
        self.name = upload.name
        self.file: BinaryIO = path.open("r+b")
        # Bytes past the committed offset are what a request that died had written.
        self.file.truncate(self.start)
        self.file.seek(self.start)
        self.digest = CHECKSUMS[algorithm]() if algorithm else None
        self.written = 0

    def write(self, data: bytes | bytearray) -> None:
        if self.digest is not None:
            self.digest.update(data)
        try:
            self.file.write(data)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise NoRoom(self.name, 0, 0) from exc
            raise
        self.written += len(data)

    def keep(self) -> None:
        self.file.close()

    def discard(self) -> None:
        """Forget every byte of this request: the upload stays where it was."""
        with contextlib.suppress(OSError):
            self.file.truncate(self.start)
        self.file.close()


class TusUploads:
    """The resumable uploads of one upload store: `<root>/.tus/<id>` and `<id>.json`.
    Its methods do blocking disk work (call them from a worker thread), except `locked`."""

    def __init__(self, store: UploadStore, *, expiry_s: float) -> None:
        self.store = store
        self.folder = store.root / TUS_DIR
        self.expiry_s = expiry_s
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._last_cleanup = 0.0

    def data_path(self, upload_id: str) -> Path:
        return self.folder / upload_id

    def info_path(self, upload_id: str) -> Path:
        return self.folder / f"{upload_id}{INFO_SUFFIX}"

    @asynccontextmanager
    async def locked(self, upload_id: str) -> AsyncIterator[None]:
        """One request at a time on an upload (in this process)."""
        lock = self._locks.get(upload_id)
        if lock is None:
            lock = self._locks[upload_id] = asyncio.Lock()
        try:
            await asyncio.wait_for(lock.acquire(), LOCK_WAIT_S)
        except TimeoutError:
            raise TusError(423, "another request is writing to this upload; try again") from None
        try:
            yield
        finally:
            lock.release()

    def create(self, *, length: int, metadata: str) -> TusUpload:
        self.folder.mkdir(parents=True, exist_ok=True)
        upload = TusUpload(
            id=uuid.uuid4().hex,
            length=length,
            offset=0,
            metadata=metadata,
            expires=time.time() + self.expiry_s,
        )
        free = self.store.free_bytes()
        if free - length < self.store.reserve_bytes:
            raise NoRoom(upload.name, free, self.store.reserve_bytes)
        self.data_path(upload.id).touch(exist_ok=False)
        self.save(upload)
        if upload.complete:  # nothing to send: an empty file
            self.finish(upload)
        return upload

    def save(self, upload: TusUpload) -> None:
        """Write the info file whole or not at all."""
        info = self.info_path(upload.id)
        temporary = info.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(upload)))
        os.replace(temporary, info)

    def load(self, upload_id: str) -> TusUpload:
        """The upload, or 404 (never was, or was deleted) or 410 (expired: deleted now)."""
        if not _ID.match(upload_id):
            raise TusError(404, f"no such upload: {upload_id}")
        try:
            upload = TusUpload(**json.loads(self.info_path(upload_id).read_text()))
            size = self.data_path(upload_id).stat().st_size
        except FileNotFoundError:
            raise TusError(404, f"no such upload: {upload_id}") from None
        if upload.expires < time.time():
            self.delete(upload_id)
            raise TusError(410, f"the upload {upload_id} expired; start it again")
        # After a power cut the disk may hold less than was committed: trust the disk.
        upload.offset = min(upload.offset, size)
        return upload

    def begin_chunk(self, upload: TusUpload, algorithm: str | None) -> ChunkWrite:
        return ChunkWrite(self.data_path(upload.id), upload, algorithm)

    def commit(self, upload: TusUpload, offset: int) -> None:
        """The bytes up to `offset` are in; a finished upload is hashed now, once."""
        hashed = upload.complete and upload.sha256 is not None
        upload.offset = offset
        upload.expires = time.time() + self.expiry_s
        if upload.complete and not hashed:
            self.finish(upload)
        else:
            self.save(upload)

    def finish(self, upload: TusUpload) -> None:
        with self.data_path(upload.id).open("rb") as data:
            upload.sha256 = hashlib.file_digest(data, "sha256").hexdigest()
        self.save(upload)

    def delete(self, upload_id: str) -> None:
        self.data_path(upload_id).unlink(missing_ok=True)
        self.info_path(upload_id).unlink(missing_ok=True)

    def cleanup_expired(self, now: float | None = None) -> int:
        """Delete expired uploads, and data files whose info file never got written;
        returns how many uploads were deleted."""
        now = time.time() if now is None else now
        self._last_cleanup = now
        if not self.folder.is_dir():
            return 0
        removed = 0
        for path in self.folder.iterdir():
            try:
                if path.suffix == INFO_SUFFIX:
                    expires = float(json.loads(path.read_text())["expires"])
                    data = self.data_path(path.stem)
                    written = data.stat().st_mtime if data.exists() else 0.0
                    # A PATCH still writing keeps touching its file.
                    if expires < now and written < now - self.expiry_s:
                        self.delete(path.stem)
                        removed += 1
                elif _ID.match(path.name) and not self.info_path(path.name).exists():
                    if path.stat().st_mtime < now - self.expiry_s:
                        path.unlink()
                        removed += 1
                elif path.suffix == ".tmp" and path.stat().st_mtime < now - self.expiry_s:
                    path.unlink()
            except (FileNotFoundError, ValueError, KeyError):
                continue  # removed meanwhile, or an info file half-written by hand
        return removed

    def cleanup_now_and_then(self) -> None:
        """`cleanup_expired`, when it has not run for a while (called on creation)."""
        if time.time() - self._last_cleanup >= CLEANUP_EVERY_S:
            removed = self.cleanup_expired()
            if removed:
                log.info("deleted %d expired resumable uploads", removed)


def cleanup_expired(store: UploadStore, settings: Settings) -> int:
    """Delete the expired resumable uploads of a store (at the start of the service)."""
    return TusUploads(store, expiry_s=settings.tus_expiry_hours * 3600).cleanup_expired()


async def tus_uploads(
    found: Annotated[Services, Depends(services)], request: Request
) -> TusUploads:
    """The app's resumable uploads (a FastAPI dependency), made on first use."""
    state = request.app.state
    uploads: TusUploads | None = getattr(state, "tus_uploads", None)
    if uploads is None or uploads.store is not found.store:
        uploads = TusUploads(found.store, expiry_s=found.settings.tus_expiry_hours * 3600)
        state.tus_uploads = uploads
    return uploads


UploadsDep = Annotated[TusUploads, Depends(tus_uploads)]
ServicesDep = Annotated[Services, Depends(services)]


# --- the protocol --------------------------------------------------------------


def _require_tus(request: Request) -> None:
    version = request.headers.get("tus-resumable")
    if version != TUS_VERSION:
        said = f"Tus-Resumable {version!r}" if version else "no Tus-Resumable header"
        raise TusError(
            412, f"{said}: this server speaks tus {TUS_VERSION}", {"Tus-Version": TUS_VERSION}
        )


def _number(request: Request, header: str) -> int:
    value = request.headers.get(header)
    if value is None or not (value.isascii() and value.isdigit()):
        shown = "missing" if value is None else f"{value!r}"
        raise TusError(400, f"{header}: {shown}; a whole number of bytes is needed")
    return int(value)


def _checksum(request: Request) -> tuple[str, bytes] | None:
    header = request.headers.get("upload-checksum")
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in CHECKSUMS:
        raise TusError(
            400, f"Upload-Checksum: {algorithm!r} is not supported; use {', '.join(CHECKSUMS)}"
        )
    try:
        return algorithm, base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise TusError(400, "Upload-Checksum: the checksum is not base64") from None


def _expires(upload: TusUpload) -> dict[str, str]:
    return {"Upload-Expires": http_date(upload.expires)}


@router.options("/api/uploads/", status_code=204, summary="What this tus server supports")
@router.options("/api/uploads", status_code=204, include_in_schema=False)
async def tus_options(found: ServicesDep) -> Response:
    """The tus discovery answer: version, extensions, largest upload, checksums."""
    return Response(
        status_code=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(found.settings.video_max_size_mb * 1024 * 1024),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
        },
    )


@router.post("/api/uploads/", status_code=201, summary="Begin a resumable (tus) upload")
@router.post("/api/uploads", status_code=201, include_in_schema=False)
async def tus_create(request: Request, found: ServicesDep, uploads: UploadsDep) -> Response:
    """tus creation: `Upload-Length` and `Upload-Metadata` (`filename` names the video).
    Answers 201 with the upload's `Location`; 413 when it is over the size limit."""
    _require_tus(request)
    if "upload-defer-length" in request.headers:
        raise TusError(400, "Upload-Defer-Length is not supported: send Upload-Length")
    length = _number(request, "upload-length")
    metadata = request.headers.get("upload-metadata", "")
    parse_metadata(metadata)
    max_bytes = found.settings.video_max_size_mb * 1024 * 1024
    if length > max_bytes:
        name = TusUpload("", 0, 0, metadata, 0).name
        raise TooLarge(name, max_bytes)
    await anyio.to_thread.run_sync(uploads.cleanup_now_and_then)
    upload = await anyio.to_thread.run_sync(
        lambda: uploads.create(length=length, metadata=metadata)
    )
    location = f"{request.scope.get('root_path', '')}/api/uploads/{upload.id}"
    return Response(status_code=201, headers={"Location": location, **_expires(upload)})


@router.head("/api/uploads/{upload_id}", summary="How much of a resumable upload is in")
async def tus_offset(request: Request, upload_id: str, uploads: UploadsDep) -> Response:
    """`Upload-Offset` (bytes received), `Upload-Length` and `Upload-Metadata`."""
    _require_tus(request)
    async with uploads.locked(upload_id):
        upload = await anyio.to_thread.run_sync(uploads.load, upload_id)
    headers = {
        "Upload-Offset": str(upload.offset),
        "Upload-Length": str(upload.length),
        "Cache-Control": "no-store",
        **_expires(upload),
    }
    if upload.metadata:
        headers["Upload-Metadata"] = upload.metadata
    return Response(status_code=200, headers=headers)


@router.patch("/api/uploads/{upload_id}", status_code=204, summary="Send bytes of an upload")
async def tus_patch(request: Request, upload_id: str, uploads: UploadsDep) -> Response:
    """The next bytes of the upload, from `Upload-Offset` on. The body is written to disk
    a buffer at a time as it arrives. With `Upload-Checksum` the bytes are kept only if
    they match (else 460); without it, what arrived before a dropped connection is kept."""
    _require_tus(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != PATCH_CONTENT_TYPE:
        raise TusError(415, f"Content-Type must be {PATCH_CONTENT_TYPE}")
    offset = _number(request, "upload-offset")
    checksum = _checksum(request)
    declared = request.headers.get("content-length")
    async with uploads.locked(upload_id):
        upload = await anyio.to_thread.run_sync(uploads.load, upload_id)
        if offset != upload.offset:
            raise TusError(
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
            raise TusError(413, f"the body would pass Upload-Length ({upload.length} bytes)")
        chunk = await anyio.to_thread.run_sync(
            uploads.begin_chunk, upload, checksum[0] if checksum else None
        )
        cut = False
        try:
            cut = await _receive(
                request, chunk, room=upload.length - offset, buffer=uploads.store.write_buffer_bytes
            )
        except BaseException:
            chunk.discard()
            raise
        if checksum is not None:
            assert chunk.digest is not None
            if cut or chunk.digest.digest() != checksum[1]:
                await anyio.to_thread.run_sync(chunk.discard)
                if cut:
                    raise TusError(400, "the connection was cut; the chunk is discarded")
                raise TusError(
                    CHECKSUM_MISMATCH,
                    f"Upload-Checksum does not match the {checksum[0]} of the bytes received; "
                    "they are discarded: send them again",
                )
        await anyio.to_thread.run_sync(chunk.keep)
        await anyio.to_thread.run_sync(uploads.commit, upload, offset + chunk.written)
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
                raise TusError(413, f"the body goes past Upload-Length by {received - room} bytes")
            pending += piece
            if len(pending) >= buffer:
                full, pending = pending, bytearray()
                await anyio.to_thread.run_sync(chunk.write, full)
    except ClientDisconnect:
        cut = True
    if pending:
        await anyio.to_thread.run_sync(chunk.write, pending)
    return cut


@router.delete("/api/uploads/{upload_id}", status_code=204, summary="Cancel a resumable upload")
async def tus_terminate(request: Request, upload_id: str, uploads: UploadsDep) -> Response:
    """tus termination: the upload and its bytes are deleted."""
    _require_tus(request)
    async with uploads.locked(upload_id):
        await anyio.to_thread.run_sync(uploads.load, upload_id)
        await anyio.to_thread.run_sync(uploads.delete, upload_id)
    return Response(status_code=204)


# --- from finished uploads to a batch -------------------------------------------------


class TusBatch(BaseModel):
    """Finished resumable uploads to process together."""

    uploads: list[str] = Field(
        min_length=1, description="Upload ids, or the URLs the creation answered (Location)."
    )
    priority: str | None = Field(default=None, description="high, normal or low")
    teller: str | None = Field(default=None, description="Who writes the stories")
    model: str | None = Field(
        default=None, description="The AI teller's model (default: its configured one)"
    )


def _upload_id(given: str) -> str:
    upload_id = given.rstrip("/").rsplit("/", 1)[-1]
    if not _ID.match(upload_id):
        raise ApiError(404, f"no such upload: {given}")
    return upload_id


@router.post(
    "/api/uploads/batch", response_model=UploadAnswer, summary="Queue finished tus uploads"
)
async def tus_batch(body: TusBatch, found: ServicesDep, uploads: UploadsDep) -> UploadAnswer:
    """Turns finished resumable uploads into one batch and answers as `POST /api/upload`
    does. An upload that is not a video becomes a failed video with its reason; if all
    are refused, nothing is created (415). An unfinished upload is refused with 409.
    The uploads are used up: their ids mean nothing afterwards."""
    settings = found.settings
    chosen_priority = priority_field(body.priority)
    chosen_teller = teller_field(body.teller, settings.default_teller)
    chosen_model = model_field(body.model, chosen_teller)
    ids = [_upload_id(given) for given in body.uploads]
    if len(set(ids)) != len(ids):
        raise ApiError(400, "uploads: an upload is listed twice")
    if len(ids) > settings.max_batch_videos:
        raise ApiError(400, f"uploads: at most {settings.max_batch_videos} videos in a batch")
    async with contextlib.AsyncExitStack() as held:
        for upload_id in sorted(ids):
            await held.enter_async_context(uploads.locked(upload_id))
        listed = [await anyio.to_thread.run_sync(uploads.load, upload_id) for upload_id in ids]
        for upload in listed:
            if not upload.complete:
                raise ApiError(
                    409,
                    f"{upload.name} is not fully uploaded yet ({upload.offset} of "
                    f"{upload.length} bytes); finish it, then make the batch",
                )
        files = await anyio.to_thread.run_sync(_adopt, uploads, found.videos, listed)
        everything_refused = all_refused(files)
        if everything_refused is not None:
            await anyio.to_thread.run_sync(forget_stored, found.store, files)
            for upload in listed:
                await anyio.to_thread.run_sync(uploads.delete, upload.id)
            raise everything_refused
        await anyio.to_thread.run_sync(
            forget_stored, found.store, [result for result in files if result.refused is not None]
        )
        # A StorageError (503) keeps the uploads: asked again, the batch finds what was
        # published already in the video store and publishes the rest from here.
        await anyio.to_thread.run_sync(publish_stored, found.videos, found.store, files)
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
        for upload in listed:
            await anyio.to_thread.run_sync(uploads.delete, upload.id)
    await anyio.to_thread.run_sync(found.changed, [video.id for video in answer.videos])
    return answer


def _adopt(uploads: TusUploads, videos: VideoStore, listed: list[TusUpload]) -> list[FileResult]:
    """Move each finished upload into the store (with `s3` it stays where it is until it
    is published) and look at its first bytes. An upload stored by an earlier try whose
    batch was not made is found in the video store."""
    store = uploads.store
    in_place = written_in_place(videos, store)
    files = []
    for upload in listed:
        result = FileResult(field="uploads", name=upload.name)
        data = uploads.data_path(upload.id)
        sha256 = upload.sha256
        key = store.key_for(sha256) if sha256 else None
        if not data.exists() and sha256 and key is not None and videos.exists(key):
            with videos.local_file(key) as moved, moved.open("rb") as opened:
                head = opened.read(FIRST_BYTES)
            result.stored = StoredFile(
                path=moved,
                key=key,
                size=upload.length,
                sha256=sha256,
                first_bytes=head,
                original_name=upload.name,
                duplicate=True,
            )
            result.published = True
        elif in_place:
            result.stored = store.adopt(data, original_name=upload.name, sha256=sha256)
        else:
            result.stored = store.inspect(data, original_name=upload.name, sha256=sha256)
        files.append(sniffed(result))
    return files
