"""Where finished videos live so that every process reaches them: a folder or S3.

The upload path writes a video to local disk first (`storyteller.storage.uploads`), then
`publish`es it under its key (`ab/abcdef...`, its SHA-256). A worker asks for a local file
of that key (`local_file`) and reads it as it would any file:

- `FolderStore`: the folder is the storage (the data folder, or a shared filesystem that
  every machine mounts). Publishing is a rename, fetching is the path itself.
- `S3Store` (`storage/s3.py`): an S3-compatible bucket (AWS, MinIO, Ceph...). Publishing is a streamed
  multipart upload; fetching is a streamed download into a cache folder on this machine,
  kept under a size limit by evicting the least recently used videos. Keys name content,
  so a cached copy never goes stale. Credentials come from the standard AWS environment
  variables, config files or instance role: nothing secret is in our settings.

Every failure a person can fix is a `StorageError` whose `reason` says what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from storyteller.config import Settings
from storyteller.errors import StorytellerError

MB = 1024 * 1024
# What `read_range` reads at a time: large enough that a read's overhead is lost in the
# copying, small enough that a hundred players cost no memory to speak of.
READ_PIECE = 512 * 1024

PARTIAL_DIR = ".partial"


class StorageError(StorytellerError):
    """The storage could not do what was asked; `reason` says why in words a person can
    act on and `code` names the kind of failure for programs. `where` is the folder it
    happened in: it goes to the log and to the operator (`detail`), never into an answer."""

    def __init__(self, reason: str, code: str | None = None, *, where: Path | None = None) -> None:
        super().__init__(reason, code)
        self.where = where

    @property
    def detail(self) -> str:
        """The reason with the folder, for the log and the operator."""
        return f"{self.reason} (folder: {self.where})" if self.where else self.reason


class VideoMissing(StorageError):
    """No video is stored under the key."""

    code = "missing"


def check_key(key: str) -> str:
    """A key is a relative path of plain names (`ab/abcdef...`); anything that could lead
    outside the storage, or into its own working folders, is refused."""
    parts = PurePosixPath(key).parts
    if (
        not key
        or "\\" in key
        or key.startswith("/")
        or not parts
        or any(part in ("", ".", "..") or part.startswith(".") for part in parts)
    ):
        raise ValueError(f"{key!r} is not a storage key")
    return key


class VideoStore(ABC):
    """Where finished videos live. Blocking: call it from a worker thread in async code."""

    kind: str  # "local" or "s3", as the `STORYTELLER_STORAGE` setting names it

    @abstractmethod
    def describe(self) -> str:
        """Where the videos are, for messages: a folder or `s3://bucket/prefix`."""

    @abstractmethod
    def check(self) -> None:
        """Raise a `StorageError` unless the storage can be used (at start, in health)."""

    @abstractmethod
    def publish(self, path: Path, key: str) -> None:
        """Store the finished file `path` under `key`. The file is moved: afterwards it is
        in the storage (or in this machine's fetch cache), no longer at `path`."""

    @abstractmethod
    def fetch(self, key: str) -> Path:
        """A local file with the video of `key`. Raises `VideoMissing` when there is none.
        A fetched copy may be evicted later: a worker should use `local_file`."""

    @contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        """`fetch`, with the copy kept for as long as the block runs (a worker reads it
        several times: probe, scenes, frames...)."""
        yield self.fetch(key)

    @abstractmethod
    def local_path(self, key: str) -> Path | None:
        """A local file of `key` if this machine has one at hand, without any request and
        without keeping it (the supervisor reads a video's length from it); else None."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a video is stored under `key`."""

    @abstractmethod
    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes `start` to `end` (both included) of the video of `key`, in pieces of at
        most `READ_PIECE` bytes, for serving it (a player's range requests). Opens the
        video at once: raises `VideoMissing` here when there is none, not while reading."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete the video of `key`; nothing happens when there is none."""


def video_store(settings: Settings) -> VideoStore:
    """The storage the settings choose."""
    if settings.storage == "s3":
        from storyteller.storage.s3 import S3Store  # boto3 only when it is chosen

        assert settings.s3_bucket  # the settings refuse s3 without a bucket
        return S3Store(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            cache_dir=settings.cache_dir / "videos",
            cache_bytes=settings.fetch_cache_mb * MB,
        )
    return FolderStore(settings.storage_dir or settings.data_dir / "uploads")


# --- a folder ----------------------------------------------------------------


class FolderStore(VideoStore):
    """Videos as files of one folder, `<root>/ab/abcdef...`: the data folder's `uploads/`
    on one machine, or a folder of a filesystem every machine mounts (NFS, EFS, CephFS)."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def describe(self) -> str:
        return str(self.root)

    def path_of(self, key: str) -> Path:
        return self.root / check_key(key)

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _folder_error(self.root, exc) from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(
                "the storage folder cannot be written to by this process: "
                "give its user write access, or set STORYTELLER_STORAGE_DIR to another folder",
                "access_denied",
                where=self.root,
            )

    def publish(self, path: Path, key: str) -> None:
        target = self.path_of(key)
        with contextlib.suppress(FileNotFoundError):
            if path.samefile(target):
                return  # already in place: the upload was written into this folder
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _move(path, target, self.root / PARTIAL_DIR)
        except OSError as exc:
            raise _folder_error(self.root, exc) from None

    def fetch(self, key: str) -> Path:
        path = self.path_of(key)
        if path.is_file():
            return path
        if not self.root.is_dir():
            raise StorageError(
                "the storage folder is not there: if it is a shared filesystem, "
                "mount it on this machine, or set STORYTELLER_STORAGE_DIR",
                "no_folder",
                where=self.root,
            )
        raise VideoMissing(f"video {key} is not in the storage folder", where=self.root)

    def local_path(self, key: str) -> Path | None:
        return self.path_of(key)

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        try:
            file = self.path_of(key).open("rb")
        except (FileNotFoundError, IsADirectoryError):
            raise VideoMissing(
                f"video {key} is not in the storage folder", where=self.root
            ) from None
        except OSError as exc:
            raise _folder_error(self.root, exc) from None
        return read_pieces(file, start, end)

    def delete(self, key: str) -> None:
        path = self.path_of(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _folder_error(self.root, exc) from None
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when empty


def read_pieces(file: BinaryIO, start: int, end: int) -> Iterator[bytes]:
    """Bytes `start` to `end` of an open file in pieces, closing it at the end (or when
    the reader lets go: a player that seeks away drops its request)."""
    with file:
        file.seek(start)
        left = end - start + 1
        while left > 0:
            piece = file.read(min(READ_PIECE, left))
            if not piece:
                return  # cut short since it was opened: the answer ends early
            left -= len(piece)
            yield piece


def _move(source: Path, target: Path, partial_dir: Path) -> None:
    """Rename `source` to `target`; across filesystems, copy to a partial file beside the
    target first, so no reader ever sees a half-written video."""
    try:
        os.replace(source, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    partial_dir.mkdir(parents=True, exist_ok=True)
    part = partial_dir / f"{uuid.uuid4().hex}.part"
    try:
        shutil.copyfile(source, part)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    source.unlink()


def _folder_error(root: Path, exc: OSError) -> StorageError:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StorageError(
            f"the storage folder cannot be written to ({exc.strerror}): give this "
            "process's user write access, or set STORYTELLER_STORAGE_DIR to another folder",
            "access_denied",
            where=root,
        )
    if exc.errno == errno.ENOSPC:
        return StorageError("the disk of the storage folder is full", "no_room", where=root)
    return StorageError(f"the storage folder failed: {exc.strerror or exc}", where=root)
