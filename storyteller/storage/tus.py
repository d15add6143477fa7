"""Resumable uploads on disk: the files of the tus protocol (`api/tus.py`), one upload a
data file and a small JSON info file in `<uploads>/.tus/`, so an upload outlives the
request that began it and a restart of the server.

The info file holds the committed offset: bytes past it belong to a request that died and
are cut off by the next write. A finished upload is hashed once and stays until a batch
takes it (`batches/intake.py`) or it expires.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from storyteller.errors import StorytellerError
from storyteller.storage.names import clean_name
from storyteller.storage.uploads import ROOM_CHECK_EVERY_BYTES, NoRoom, UploadStore, check_room

log = logging.getLogger(__name__)

CHECKSUMS: dict[str, Callable[[], Any]] = {"sha1": hashlib.sha1, "md5": hashlib.md5}

TUS_DIR = ".tus"
INFO_SUFFIX = ".json"
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")

# A request waits this long for another one on the same upload (a PATCH whose client
# went away and that is still writing what it received) before it is refused.
LOCK_WAIT_S = 10.0
# Expired uploads are looked for at most this often while the service runs.
CLEANUP_EVERY_S = 3600.0
# What an upload that names no file is called before it has an id ("the video is too large").
UNNAMED = "the video"
# The longest Upload-Metadata kept: a file's name and type take a few hundred bytes.
MAX_METADATA_BYTES = 4096
# Resumable uploads open at once when no setting says otherwise.
DEFAULT_MAX_OPEN = 100


class TusUploadError(StorytellerError):
    """A resumable upload that cannot be used as asked; `reason` says what to do."""


class NoSuchUpload(TusUploadError):
    """Never was, or was deleted (HTTP 404)."""

    code = "no_such_upload"

    def __init__(self, upload_id: str) -> None:
        super().__init__(f"no such upload: {upload_id}")


class UploadExpired(TusUploadError):
    """It received nothing for too long and is deleted now (HTTP 410)."""

    code = "upload_expired"

    def __init__(self, upload_id: str) -> None:
        super().__init__(f"the upload {upload_id} expired; start it again")


class UploadBusy(TusUploadError):
    """Another request is writing to it (HTTP 423)."""

    code = "upload_busy"

    def __init__(self) -> None:
        super().__init__("another request is writing to this upload; try again")


class UploadUnfinished(TusUploadError):
    """A batch asked for an upload whose bytes are not all in (HTTP 409)."""

    code = "upload_unfinished"


class BadMetadata(TusUploadError):
    """The Upload-Metadata header cannot be read, or is too long (HTTP 400)."""

    code = "bad_metadata"


class TooManyUploads(TusUploadError):
    """As many resumable uploads are open as may be (HTTP 429)."""

    code = "too_many_uploads"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"{limit} resumable uploads are open already, the most there may be: finish "
            "them and make a batch of them, or cancel some (DELETE), then start again"
        )
        self.limit = limit


@dataclass
class TusUpload:
    """One resumable upload, as its info file keeps it."""

    id: str
    length: int
    offset: int
    metadata: str  # the Upload-Metadata header as the client sent it
    expires: float  # Unix time
    sha256: str | None = None  # set once every byte is in
    owner: str | None = None  # the id of the user who began it; None in the open mode

    @property
    def complete(self) -> bool:
        return self.offset == self.length

    @property
    def name(self) -> str:
        """The video's name: the one the client gave, or one made of the upload's id."""
        return given_name(self.metadata) or f"upload-{self.id[:8]}"


def given_name(metadata: str) -> str | None:
    """The file's name from the metadata (`filename`, or `name` as Uppy sends it)."""
    fields = parse_metadata(metadata)
    return clean_name(fields.get("filename") or fields.get("name"))


def parse_metadata(header: str | None) -> dict[str, str]:
    """`key base64,key2 base64` (a key may stand alone) into a dict; `BadMetadata` when
    malformed."""
    fields: dict[str, str] = {}
    if not header or not header.strip():
        return fields
    if len(header) > MAX_METADATA_BYTES:
        raise BadMetadata(
            f"Upload-Metadata is {len(header)} bytes long; at most {MAX_METADATA_BYTES} are "
            "kept (the file's name and type)"
        )
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not key or len(parts) > 2:
            raise BadMetadata(f"Upload-Metadata: {pair.strip()!r} is not `key base64-value`")
        value = ""
        if len(parts) == 2:
            try:
                value = base64.b64decode(parts[1], validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise BadMetadata(
                    f"Upload-Metadata: the value of {key!r} is not base64 of UTF-8 text"
                ) from None
        if key in fields:
            raise BadMetadata(f"Upload-Metadata: {key!r} is given twice")
        fields[key] = value
    return fields


class ChunkWrite:
    """The bytes of one request on their way to the end of an upload's file; hashed as
    they go when the client sent a checksum. Blocking: call it from a worker thread."""

    def __init__(
        self, path: Path, upload: TusUpload, algorithm: str | None, store: UploadStore
    ) -> None:
        self.start = upload.offset
        self.name = upload.name
        self.store = store
        self.next_room_check = ROOM_CHECK_EVERY_BYTES
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
        if self.written >= self.next_room_check:
            # As a form upload does: other uploads and the videos' work fill the disk too.
            self.next_room_check = self.written + ROOM_CHECK_EVERY_BYTES
            check_room(self.store, self.name, 0)

    def keep(self) -> None:
        self.file.close()

    def discard(self) -> None:
        """Forget every byte of this request: the upload stays where it was."""
        with contextlib.suppress(OSError):
            self.file.truncate(self.start)
        self.file.close()


class TusStore:
    """The resumable uploads of one upload store: `<root>/.tus/<id>` and `<id>.json`.
    Its methods do blocking disk work (call them from a worker thread), except `locked`."""

    def __init__(
        self, store: UploadStore, *, expiry_s: float, max_open: int = DEFAULT_MAX_OPEN
    ) -> None:
        self.store = store
        self.folder = store.root / TUS_DIR
        self.expiry_s = expiry_s
        self.max_open = max_open
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._last_cleanup = 0.0

    def data_path(self, upload_id: str) -> Path:
        return self.folder / upload_id

    def info_path(self, upload_id: str) -> Path:
        return self.folder / f"{upload_id}{INFO_SUFFIX}"

    @asynccontextmanager
    async def locked(self, upload_id: str) -> AsyncIterator[None]:
        """One request at a time on an upload (in this process); `UploadBusy` after
        `LOCK_WAIT_S`."""
        lock = self._locks.get(upload_id)
        if lock is None:
            lock = self._locks[upload_id] = asyncio.Lock()
        try:
            await asyncio.wait_for(lock.acquire(), LOCK_WAIT_S)
        except TimeoutError:
            raise UploadBusy() from None
        try:
            yield
        finally:
            lock.release()

    def create(self, *, length: int, metadata: str, owner: str | None = None) -> TusUpload:
        """A new upload of `length` bytes for `owner`. `TooManyUploads` when that owner
        has `max_open` open; `NoRoom` when the disk, less what every open upload has yet to
        send, cannot hold it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        upload = TusUpload(
            id=uuid.uuid4().hex,
            length=length,
            offset=0,
            metadata=metadata,
            expires=time.time() + self.expiry_s,
            owner=owner,
        )
        # The count and the ledger hold for every process writing into this folder.
        with self._ledger_locked():
            live = self.open_uploads()
            if sum(other.owner == owner for other in live) >= self.max_open:
                raise TooManyUploads(self.max_open)
            promised = sum(max(0, other.length - other.offset) for other in live)
            free = self.store.free_bytes()
            if free - promised - length < self.store.reserve_bytes:
                raise NoRoom(upload.name, free, self.store.reserve_bytes, promised_bytes=promised)
            self.data_path(upload.id).touch(exist_ok=False)
            self.save(upload)
        if upload.complete:  # nothing to send: an empty file
            self.finish(upload)
        return upload

    def open_uploads(self) -> list[TusUpload]:
        """Every upload that is not expired, finished ones not yet in a batch included:
        what the open-upload cap counts and whose bytes yet to come the ledger sums."""
        if not self.folder.is_dir():
            return []
        now = time.time()
        found = []
        for info in self.folder.glob(f"*{INFO_SUFFIX}"):
            try:
                upload = TusUpload(**json.loads(info.read_text()))
            except (OSError, ValueError, TypeError):
                continue  # removed meanwhile, or half-written by hand
            if upload.expires >= now:
                found.append(upload)
        return found

    @contextlib.contextmanager
    def _ledger_locked(self) -> Iterator[None]:
        # The folder itself is locked: no file of its own to leave behind.
        descriptor = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # which releases the lock

    def save(self, upload: TusUpload) -> None:
        """Write the info file whole or not at all."""
        info = self.info_path(upload.id)
        temporary = info.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(upload)))
        os.replace(temporary, info)

    def load(self, upload_id: str) -> TusUpload:
        """The upload; `NoSuchUpload`, or `UploadExpired` (deleted now)."""
        if not UPLOAD_ID.match(upload_id):
            raise NoSuchUpload(upload_id)
        try:
            upload = TusUpload(**json.loads(self.info_path(upload_id).read_text()))
            size = self.data_path(upload_id).stat().st_size
        except FileNotFoundError:
            raise NoSuchUpload(upload_id) from None
        if upload.expires < time.time():
            self.delete(upload_id)
            raise UploadExpired(upload_id)
        # After a power cut the disk may hold less than was committed: trust the disk.
        upload.offset = min(upload.offset, size)
        return upload

    def load_finished(self, upload_id: str) -> TusUpload:
        """The upload, once every byte is in; `UploadUnfinished` before."""
        upload = self.load(upload_id)
        if not upload.complete:
            raise UploadUnfinished(
                f"{upload.name} is not fully uploaded yet ({upload.offset} of "
                f"{upload.length} bytes); finish it, then make the batch"
            )
        return upload

    def begin_chunk(
        self, upload: TusUpload, algorithm: str | None, expected: int | None = None
    ) -> ChunkWrite:
        """The next bytes of `upload`; `NoRoom` at once when the disk cannot hold the
        `expected` bytes (the request's Content-Length), and as they come."""
        check_room(self.store, upload.name, expected or 0)
        return ChunkWrite(self.data_path(upload.id), upload, algorithm, self.store)

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
                elif UPLOAD_ID.match(path.name) and not self.info_path(path.name).exists():
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
