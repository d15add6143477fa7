"""Uploaded videos on local disk: streamed in, hashed on the way, stored once per content.

A file is written to `<root>/.partial/<random>-<pid>@<host>.part` as its bytes arrive
(never held whole in memory), then renamed to `<root>/ab/abcdef...` (its SHA-256). The
partial file names the process writing it, so a server starting again deletes what a
killed one left at once, while several web processes share the folder. The same bytes
uploaded again end up at the same place and share one file. What the database keeps
is the `key` (`ab/abcdef...`), relative to the root, so the data folder can move.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import socket
import time
import uuid
from collections.abc import AsyncIterable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import anyio.to_thread

from storyteller.config import Settings
from storyteller.errors import StorytellerError

MB = 1024 * 1024

# Kept free on the disk: an upload that would eat into it is refused.
DEFAULT_RESERVE_BYTES = 512 * MB
# Bytes gathered from the stream before one write (one hop to a worker thread).
WRITE_BUFFER_BYTES = 4 * MB
# Free space is checked again after this many bytes are written.
ROOM_CHECK_EVERY_BYTES = 32 * MB
# Bytes of the start of the file kept for sniffing (see `storyteller.storage.sniff`).
FIRST_BYTES = 512

# Buffers at least this large are hashed on another thread while they are written.
PARALLEL_HASH_BYTES = 256 * 1024
_HASHER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="upload-hash")

PARTIAL_DIR = ".partial"
PARTIAL_SUFFIX = ".part"


def megabytes(n: int) -> str:
    """`n` bytes in MB, as people read it: 500, 2.5, 0.001."""
    value = n / MB
    return f"{value:.0f}" if value >= 10 else f"{value:.3g}"


class UploadRefused(StorytellerError):
    """An upload that is not kept; `reason` says why in words a user can act on and
    `code` names the kind of refusal for programs."""

    code = "refused"


class TooLarge(UploadRefused):
    """The file is over the per-file size limit (HTTP 413)."""

    code = "too_large"

    def __init__(self, name: str, max_bytes: int) -> None:
        super().__init__(f"{name} is too large: a video may be at most {megabytes(max_bytes)} MB")
        self.max_bytes = max_bytes


class NoRoom(UploadRefused):
    """The disk is too full to keep the file (HTTP 507)."""

    code = "no_room"

    def __init__(
        self, name: str, free_bytes: int, reserve_bytes: int, *, promised_bytes: int = 0
    ) -> None:
        promised = (
            f" ({megabytes(promised_bytes)} MB of it promised to uploads in progress)"
            if promised_bytes
            else ""
        )
        super().__init__(
            f"not enough free disk space to store {name}: {megabytes(free_bytes)} MB free"
            f"{promised}, and {megabytes(reserve_bytes)} MB must stay free"
        )
        self.free_bytes = free_bytes
        self.reserve_bytes = reserve_bytes
        self.promised_bytes = promised_bytes


@dataclass(frozen=True)
class StoredFile:
    """An upload safely on disk."""

    path: Path
    key: str  # `ab/abcdef...`: what the database stores (`Video.storage_path`)
    size: int
    sha256: str
    first_bytes: bytes  # the start of the file, for `storyteller.storage.sniff`
    original_name: str
    duplicate: bool = False  # the same bytes were already stored; this is that file


class UploadStore:
    """Where uploaded videos are kept: a folder on local disk."""

    def __init__(
        self,
        root: Path,
        *,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
        write_buffer_bytes: int = WRITE_BUFFER_BYTES,
    ) -> None:
        self.root = Path(root)
        self.reserve_bytes = reserve_bytes
        self.write_buffer_bytes = write_buffer_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadStore:
        """With the `local` storage, uploads are written into its folder, so publishing
        them is free; with `s3`, `uploads/` of the data folder is where they wait."""
        if settings.storage == "local" and settings.storage_dir is not None:
            return cls(settings.storage_dir)
        return cls(settings.data_dir / "uploads")

    @property
    def partial_dir(self) -> Path:
        return self.root / PARTIAL_DIR

    @staticmethod
    def key_for(sha256: str) -> str:
        return f"{sha256[:2]}/{sha256}"

    def path_of(self, key: str) -> Path:
        """The file of a stored key; refuses keys that lead outside the store."""
        path = (self.root / key).resolve()
        root = self.root.resolve()
        if path.parent.parent != root or path.parent.name == PARTIAL_DIR:
            raise ValueError(f"{key!r} is not a key of this upload store")
        return path

    def free_bytes(self) -> int:
        """Free space on the disk that holds the store."""
        self.root.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.root).free

    # --- saving ------------------------------------------------------------

    async def save_stream(
        self,
        chunks: AsyncIterable[bytes],
        *,
        original_name: str,
        max_bytes: int,
        expected_size: int | None = None,
    ) -> StoredFile:
        """Store the bytes of `chunks` as they arrive. Disk work runs in a worker thread,
        a buffer at a time, so the event loop keeps serving.

        Raises `TooLarge` as soon as more than `max_bytes` arrive (or at once when
        `expected_size`, e.g. a Content-Length, says so) and `NoRoom` when the disk
        is too full; in every failure, cancellation included, the partial file is
        deleted. The caller decides what to do with the rest of the stream.
        """
        upload = PartialUpload(self, original_name, max_bytes, expected_size)
        try:
            buffer = bytearray()
            async for chunk in chunks:
                upload.accept(len(buffer) + len(chunk))
                buffer += chunk
                if len(buffer) >= self.write_buffer_bytes:
                    full, buffer = buffer, bytearray()
                    await anyio.to_thread.run_sync(upload.write, full)
            if buffer:
                await anyio.to_thread.run_sync(upload.write, buffer)
            return await anyio.to_thread.run_sync(upload.finish)
        except BaseException:
            upload.abort()
            raise

    def begin(
        self, *, original_name: str, max_bytes: int, expected_size: int | None = None
    ) -> PartialUpload:
        """A file to write piece by piece, for a caller that is pushed the bytes (the
        streaming multipart parser). Raises `TooLarge` or `NoRoom` at once when it can."""
        return PartialUpload(self, original_name, max_bytes, expected_size)

    def save_chunks(
        self,
        chunks: Iterable[bytes],
        *,
        original_name: str,
        max_bytes: int,
        expected_size: int | None = None,
    ) -> StoredFile:
        """`save_stream` for synchronous callers (the command line)."""
        upload = PartialUpload(self, original_name, max_bytes, expected_size)
        try:
            for chunk in chunks:
                upload.accept(len(chunk))
                upload.write(chunk)
            return upload.finish()
        except BaseException:
            upload.abort()
            raise

    def save_file(self, source: BinaryIO, *, original_name: str, max_bytes: int) -> StoredFile:
        """Store what an open binary file holds, read a buffer at a time."""
        chunks = iter(lambda: source.read(self.write_buffer_bytes), b"")
        return self.save_chunks(chunks, original_name=original_name, max_bytes=max_bytes)

    def inspect(self, path: Path, *, original_name: str, sha256: str | None = None) -> StoredFile:
        """A finished file where it is, as a `StoredFile` of its content hash (not moved).
        `sha256` is the hash its writer computed; without it the file is read once to hash
        it. Blocking: call it from a worker thread."""
        size = path.stat().st_size
        with path.open("rb") as source:
            head = source.read(FIRST_BYTES)
            if sha256 is None:
                source.seek(0)
                sha256 = hashlib.file_digest(source, "sha256").hexdigest()
        return StoredFile(
            path=path,
            key=self.key_for(sha256),
            size=size,
            sha256=sha256,
            first_bytes=head,
            original_name=original_name,
        )

    def adopt(self, path: Path, *, original_name: str, sha256: str | None = None) -> StoredFile:
        """Move a finished file that is already on the store's disk (a resumable upload)
        into the store under its content hash (see `inspect`)."""
        found = self.inspect(path, original_name=original_name, sha256=sha256)
        key, size, sha256, head = found.key, found.size, found.sha256, found.first_bytes
        final = self.root / key
        duplicate = final.exists() and final.stat().st_size == size
        if duplicate:
            path.unlink()
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, final)
        return StoredFile(
            path=final,
            key=key,
            size=size,
            sha256=sha256,
            first_bytes=head,
            original_name=original_name,
            duplicate=duplicate,
        )

    # --- removing ----------------------------------------------------------

    def delete(self, key: str) -> bool:
        """Delete a stored file (once no video uses it); False when it was not there."""
        path = self.path_of(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when empty
        return True

    def discard(self, stored: StoredFile) -> None:
        """Delete a file an upload stored, unless it was there before (a duplicate, which
        another video uses)."""
        if not stored.duplicate:
            self.delete(stored.key)

    def cleanup_partials(self, older_than_s: float) -> int:
        """Delete the partial files of uploads killed midway: at once those of a process
        of this host that is gone (a killed server), and any other one untouched for
        `older_than_s` seconds (an upload in progress touches its file with every write;
        a process of another host sharing the folder cannot be looked for from here).
        Returns how many were deleted."""
        cutoff = time.time() - older_than_s
        removed = 0
        if not self.partial_dir.is_dir():
            return 0
        for part in self.partial_dir.glob(f"*{PARTIAL_SUFFIX}"):
            try:
                if _writer_gone(part.name) or part.stat().st_mtime < cutoff:
                    part.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # finished or removed meanwhile
        return removed


# Tells this process from an earlier one that had the same id (a restarted container).
_PROCESS_TOKEN = uuid.uuid4().hex[:8]


def _partial_name() -> str:
    """`<random>-<pid>.<token>@<host>.part`: whose upload a partial file is."""
    writer = f"{os.getpid()}.{_PROCESS_TOKEN}@{socket.gethostname()}"
    return f"{uuid.uuid4().hex}-{writer}{PARTIAL_SUFFIX}"


def _writer_gone(name: str) -> bool:
    """Whether the process a partial file names ran on this host and is gone."""
    writer = name.removesuffix(PARTIAL_SUFFIX).partition("-")[2]
    process, _, host = writer.partition("@")
    pid, _, token = process.partition(".")
    if not pid.isdigit() or host != socket.gethostname():
        return False
    if int(pid) == os.getpid():
        return token != _PROCESS_TOKEN
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: it runs
        return False
    return False


def _update(digest: Any, pieces: Sequence[bytes | bytearray | memoryview]) -> None:
    for piece in pieces:
        digest.update(piece)


class PartialUpload:
    """One file on its way into the store: `accept` the size of what comes next, `write`
    it, then `finish` (or `abort`). Blocking disk work: call it from a worker thread."""

    def __init__(
        self, store: UploadStore, name: str, max_bytes: int, expected_size: int | None
    ) -> None:
        self.store = store
        self.name = name
        self.max_bytes = max_bytes
        if expected_size is not None and expected_size > max_bytes:
            raise TooLarge(name, max_bytes)
        self._check_room(expected_size or 0)
        store.partial_dir.mkdir(parents=True, exist_ok=True)
        self.part = store.partial_dir / _partial_name()
        self.file: BinaryIO | None = self.part.open("xb")
        self.digest = hashlib.sha256()
        self.written = 0
        self.head = bytearray()
        self.next_room_check = ROOM_CHECK_EVERY_BYTES

    def accept(self, pending: int) -> None:
        """Refuse before writing when `pending` more bytes would pass the limit."""
        if self.written + pending > self.max_bytes:
            raise TooLarge(self.name, self.max_bytes)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.write_pieces([data])

    def write_pieces(self, pieces: Sequence[bytes | bytearray | memoryview]) -> None:
        """Write the pieces in order, as they are: a streaming reader hands over slices
        of what it received, and they are never joined into one buffer (a copy)."""
        assert self.file is not None
        size = sum(len(piece) for piece in pieces)
        for piece in pieces:
            if len(self.head) >= FIRST_BYTES:
                break
            self.head += piece[: FIRST_BYTES - len(self.head)]
        # Hashing and writing both release the GIL: run them side by side, so a large
        # upload goes at the pace of the slower of the two, not of their sum.
        hashing = (
            _HASHER.submit(_update, self.digest, pieces) if size >= PARALLEL_HASH_BYTES else None
        )
        if hashing is None:
            _update(self.digest, pieces)
        try:
            self.file.writelines(pieces)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise NoRoom(self.name, 0, self.store.reserve_bytes) from exc
            raise
        finally:
            if hashing is not None:
                hashing.result()
        self.written += size
        if self.written >= self.next_room_check:
            self.next_room_check = self.written + ROOM_CHECK_EVERY_BYTES
            self._check_room(0)

    def finish(self) -> StoredFile:
        assert self.file is not None
        # No fsync: a killed process loses nothing already written; only a power cut
        # could, and that costs every upload a full flush to the disk.
        self.file.close()
        self.file = None
        sha256 = self.digest.hexdigest()
        key = self.store.key_for(sha256)
        final = self.store.root / key
        duplicate = final.exists() and final.stat().st_size == self.written
        if duplicate:
            self.part.unlink()
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.part, final)
        return StoredFile(
            path=final,
            key=key,
            size=self.written,
            sha256=sha256,
            first_bytes=bytes(self.head),
            original_name=self.name,
            duplicate=duplicate,
        )

    def abort(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.part.unlink(missing_ok=True)

    def _check_room(self, needed: int) -> None:
        check_room(self.store, self.name, needed)


def check_room(store: UploadStore, name: str, needed: int) -> None:
    """`NoRoom` unless `needed` more bytes leave the store's reserve free on its disk."""
    free = store.free_bytes()
    if free - needed < store.reserve_bytes:
        raise NoRoom(name, free, store.reserve_bytes)
