"""Videos in an S3-compatible bucket (AWS, MinIO, Ceph...), with a cache on this machine
of the videos fetched from it (see `storage/objects.py` for what a video store is)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyteller.storage.objects import (
    MB,
    PARTIAL_DIR,
    READ_PIECE,
    StorageError,
    VideoMissing,
    VideoStore,
    check_key,
    read_pieces,
)

logger = logging.getLogger(__name__)

# S3 parts: the smallest S3 accepts (but the last) is 5 MB; 8 MB is boto3's default.
DEFAULT_PART_BYTES = 8 * MB
# Parts sent or received at once per transfer; each holds about one read buffer.
TRANSFER_THREADS = 4
# A download's partial file untouched this long was left by a killed process.
STALE_PARTIAL_S = 3600.0

LOCK_FILE = ".lock"


@dataclass
class CacheEntry:
    path: Path
    size: int
    used: float  # last use (the file's mtime, set at every fetch)


class S3Store(VideoStore):
    """Videos as objects of an S3-compatible bucket, `<prefix>ab/abcdef...`, with a cache
    of fetched videos on this machine (`<cache_dir>/ab/abcdef...`) of at most
    `cache_bytes`, evicting the least recently used first. A video in use by a worker
    (inside `local_file`, in any process of the machine) is never evicted."""

    kind = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        cache_dir: Path,
        cache_bytes: int,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        part_bytes: int = DEFAULT_PART_BYTES,
        attempts: int = 3,
        connect_timeout_s: float = 5.0,
    ) -> None:
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.cache_dir = Path(cache_dir)
        self.cache_bytes = cache_bytes
        options: dict[str, Any] = {}
        if endpoint_url:
            # Servers other than AWS (MinIO, Ceph, moto...) want path-style addresses, and
            # many refuse the checksums newer boto3 sends by default.
            options.update(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
        config = Config(
            region_name=region,
            connect_timeout=connect_timeout_s,
            read_timeout=60,
            retries={"max_attempts": attempts, "mode": "standard"},
            max_pool_connections=TRANSFER_THREADS * 2,
            **options,
        )
        self.client = _s3_client(endpoint_url, config)
        # Parts are read from disk and written to disk as they go: memory stays at a few
        # buffers whatever the size of the video.
        self.transfer = TransferConfig(
            multipart_threshold=part_bytes,
            multipart_chunksize=part_bytes,
            max_concurrency=TRANSFER_THREADS,
            # Downloaded pieces (256 KB) waiting for the disk: 4 MB at most, not 25.
            max_io_queue=16,
            preferred_transfer_client="classic",
        )

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}"
        return f"{where} at {self.endpoint_url}" if self.endpoint_url else where

    def object_name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def cached_path(self, key: str) -> Path:
        return self.cache_dir / check_key(key)

    # --- the bucket ------------------------------------------------------------

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise self._error(exc) from None

    def publish(self, path: Path, key: str) -> None:
        name = self.object_name(key)
        size = path.stat().st_size
        if self._size_of(key) != size:  # the same bytes are already there: no upload
            from boto3.s3.transfer import create_transfer_manager

            try:
                with create_transfer_manager(self.client, self.transfer) as transfers:
                    transfers.upload(str(path), self.bucket, name).result()
            except Exception as exc:
                raise self._error(exc, key) from None
        # The local copy goes into this machine's cache (evicted like any fetched video):
        # a worker of this machine then finds it without a download.
        with self._cache_lock():
            target = self.cached_path(key)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
            except OSError:
                path.unlink(missing_ok=True)  # another filesystem: not worth a copy
            self._make_room(0)

    def local_path(self, key: str) -> Path | None:
        cached = self.cached_path(key)
        return cached if cached.is_file() else None

    def exists(self, key: str) -> bool:
        return self._size_of(key) is not None

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.object_name(key))
        except Exception as exc:
            raise self._error(exc, key) from None
        with self._cache_lock():
            cached = self.cached_path(key)
            pin = _try_lock(cached, fcntl.LOCK_EX)
            if pin is not None:
                cached.unlink(missing_ok=True)
                os.close(pin)

    def _size_of(self, key: str) -> int | None:
        """The stored object's size; None when there is none (in a bucket that exists)."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.object_name(key))
        except Exception as exc:
            error = self._error(exc, key)
            if not isinstance(error, VideoMissing):
                raise error from None
            # A HEAD's 404 has no body: it may be the bucket that is missing.
            self.check()
            return None
        return int(head["ContentLength"])

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """From this machine's cached copy when it has one, else a ranged GET of the
        bucket streamed through (the bucket's address stays private: no redirect)."""
        cached = self.cached_path(key)
        try:
            return read_pieces(cached.open("rb"), start, end)
        except OSError:
            pass  # not fetched here (or evicted): from the bucket
        try:
            answer = self.client.get_object(
                Bucket=self.bucket, Key=self.object_name(key), Range=f"bytes={start}-{end}"
            )
        except Exception as exc:
            raise self._error(exc, key) from None
        return _streamed(answer["Body"])

    # --- fetching --------------------------------------------------------------

    def fetch(self, key: str) -> Path:
        path, pin = self._fetch_pinned(key)
        os.close(pin)
        return path

    @contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        path, pin = self._fetch_pinned(key)
        try:
            yield path
        finally:
            os.close(pin)  # releases the shared lock: the copy may be evicted again
            with self._cache_lock():
                self._make_room(0)  # it may have been kept over the limit while in use

    def _fetch_pinned(self, key: str) -> tuple[Path, int]:
        """The cached copy of `key`, downloaded when missing, and an open descriptor that
        holds a shared lock on it (a pin: eviction skips locked files) until closed."""
        target = self.cached_path(key)
        with self._cache_lock():
            pin = _try_lock(target, fcntl.LOCK_SH)
            if pin is not None:
                os.utime(target)  # its last use, for least-recently-used eviction
                return target, pin
        size = self._size_of(key)
        if size is None:
            raise VideoMissing(f"video {key} is not in {self.describe()}")
        with self._cache_lock():
            self._make_room(size)
        partial_dir = self.cache_dir / PARTIAL_DIR
        partial_dir.mkdir(parents=True, exist_ok=True)
        part = partial_dir / f"{uuid.uuid4().hex}.part"
        from boto3.s3.transfer import create_transfer_manager

        started = time.monotonic()
        try:
            with create_transfer_manager(self.client, self.transfer) as transfers:
                transfers.download(self.bucket, self.object_name(key), str(part)).result()
            with self._cache_lock():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(part, target)
                pin = _try_lock(target, fcntl.LOCK_SH)
                assert pin is not None  # just renamed, under the lock
                self._make_room(0)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise StorageError(
                    f"no room in the fetch cache {self.cache_dir} for video {key}: free disk "
                    "space there, or lower STORYTELLER_FETCH_CACHE_MB",
                    "no_room",
                ) from None
            raise
        except Exception as exc:
            raise self._error(exc, key) from None
        finally:
            part.unlink(missing_ok=True)
        logger.info(
            "fetched %s (%.1f MB) from %s in %.1f s",
            key,
            size / MB,
            self.describe(),
            time.monotonic() - started,
        )
        return target, pin

    # --- the cache -------------------------------------------------------------

    @contextmanager
    def _cache_lock(self) -> Iterator[None]:
        """One process of the machine at a time changes the cache (a flock'ed file)."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.cache_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def cache_entries(self) -> list[CacheEntry]:
        """The cached videos, least recently used first."""
        entries = []
        for folder, dirs, files in os.walk(self.cache_dir):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if name.startswith("."):
                    continue
                path = Path(folder) / name
                with contextlib.suppress(FileNotFoundError):
                    stat = path.stat()
                    entries.append(CacheEntry(path, stat.st_size, stat.st_mtime))
        return sorted(entries, key=lambda entry: entry.used)

    def _make_room(self, incoming: int) -> None:
        """Evict the least recently used videos not in use until `incoming` more bytes
        fit under the limit (or nothing more can go). Call with the cache lock held."""
        self._remove_stale_partials()
        entries = self.cache_entries()
        total = sum(entry.size for entry in entries)
        for entry in entries:
            if total + incoming <= self.cache_bytes:
                break
            pin = _try_lock(entry.path, fcntl.LOCK_EX)
            if pin is None:
                continue  # in use by a worker, or gone
            try:
                entry.path.unlink(missing_ok=True)
            finally:
                os.close(pin)
            with contextlib.suppress(OSError):
                entry.path.parent.rmdir()  # only when empty
            total -= entry.size
            logger.debug("evicted %s (%d bytes) from the fetch cache", entry.path, entry.size)

    def _remove_stale_partials(self) -> None:
        cutoff = time.time() - STALE_PARTIAL_S
        partial_dir = self.cache_dir / PARTIAL_DIR
        if not partial_dir.is_dir():
            return
        for part in partial_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if part.stat().st_mtime < cutoff:
                    part.unlink()

    # --- errors ----------------------------------------------------------------

    def _error(self, exc: Exception, key: str | None = None) -> StorageError:
        return storage_error(
            exc,
            bucket=self.bucket,
            endpoint=self.endpoint_url or "AWS S3",
            key=key,
            where=self.describe(),
        )


def _streamed(body: Any) -> Iterator[bytes]:
    """An S3 object's body in pieces, the connection let go at the end."""
    try:
        yield from body.iter_chunks(READ_PIECE)
    finally:
        body.close()


_session: Any = None
_session_lock = threading.Lock()


def _s3_client(endpoint_url: str | None, config: Any) -> Any:
    """A client (thread-safe) from this process's one session: a session is not, so
    clients are made under a lock; sharing it parses the S3 service model only once."""
    global _session
    import boto3

    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client("s3", endpoint_url=endpoint_url, config=config)


def _try_lock(path: Path, how: int) -> int | None:
    """An open descriptor of `path` holding a flock (`LOCK_SH` or `LOCK_EX`), or None
    when the file is not there or someone holds a conflicting lock."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


# botocore's error codes, in the words of what to do about them.
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "AccountProblem"}
_BAD_KEY_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}


def storage_error(
    exc: BaseException, *, bucket: str, endpoint: str, key: str | None, where: str
) -> StorageError:
    """A botocore (or s3transfer) failure as a `StorageError` with a reason a person can
    act on: no traceback, no XML."""
    from botocore import exceptions as boto

    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code == "NoSuchBucket":
            return _no_bucket(bucket, endpoint)
        if code in _MISSING_CODES and key is None:
            return _no_bucket(bucket, endpoint)  # a HEAD of the bucket itself
        if code in _MISSING_CODES:
            return VideoMissing(f"video {key} is not in {where}")
        if code in _BAD_KEY_CODES:
            return StorageError(
                f"{endpoint} refused the AWS credentials ({code}): check AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or the profile in AWS_PROFILE) of this process",
                "access_denied",
            )
        if code in _DENIED_CODES:
            return StorageError(
                f"access to bucket {bucket} at {endpoint} is denied: its credentials need "
                "s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on it",
                "access_denied",
            )
        message = error.get("Message") or exc.response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode", ""
        )
        return StorageError(f"{where} answered {code or 'an error'}: {message}")
    if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
        return StorageError(
            "no AWS credentials for the object storage: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment of every process",
            "no_credentials",
        )
    if isinstance(exc, boto.ConnectionError | boto.HTTPClientError):
        return StorageError(
            f"cannot reach the object storage at {endpoint}: is it running, and is "
            "STORYTELLER_S3_ENDPOINT_URL right?",
            "unreachable",
        )
    if isinstance(exc, boto.NoRegionError):
        return StorageError("no region for the object storage: set STORYTELLER_S3_REGION")
    if isinstance(exc, boto.BotoCoreError):
        return StorageError(f"the object storage {where} failed: {exc}")
    raise exc


def _no_bucket(bucket: str, endpoint: str) -> StorageError:
    return StorageError(
        f"bucket {bucket} does not exist at {endpoint}: create it, or set "
        "STORYTELLER_S3_BUCKET to one that does",
        "no_bucket",
    )
