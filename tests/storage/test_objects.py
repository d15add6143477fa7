"""Shared storage: the same behaviour from a folder and from a real S3-compatible server
(moto's, over HTTP on 127.0.0.1, in a child process so that its memory is not ours)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from storyteller.config import Settings
from storyteller.storage.objects import (
    MB,
    FolderStore,
    StorageError,
    VideoMissing,
    VideoStore,
    check_key,
    video_store,
)
from storyteller.storage.s3 import S3Store, storage_error
from storyteller.storage.uploads import UploadStore

SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # until the tests end (or die): no server is left behind
server.stop()
"""

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # No config of the machine's user is read, and no instance metadata is asked for.
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in AWS_ENV.items():
            env.setenv(name, value)
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            yield f"http://127.0.0.1:{port}"
        finally:
            assert server.stdin is not None
            server.stdin.close()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = f"videos-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


# A machine's store: `make_store("web")` and `make_store("worker")` are two machines
# reaching the same storage (the same folder, or the same bucket with their own caches).
MakeStore = Callable[..., VideoStore]


@pytest.fixture(params=["local", "s3"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStore:
    def make(machine: str, **options: object) -> VideoStore:
        if request.param == "local":
            return FolderStore(tmp_path / "shared")
        endpoint = request.getfixturevalue("s3_endpoint")
        return S3Store(
            bucket=request.getfixturevalue("bucket"),
            prefix="team/",
            endpoint_url=endpoint,
            region="us-east-1",
            cache_dir=tmp_path / machine / "cache",
            **{"cache_bytes": 100 * MB, **options},  # type: ignore[arg-type]
        )

    return make


def s3_make(tmp_path: Path, endpoint: str, bucket: str) -> Callable[..., S3Store]:
    def make(machine: str, **options: object) -> S3Store:
        return S3Store(
            bucket=bucket,
            endpoint_url=endpoint,
            region="us-east-1",
            cache_dir=tmp_path / machine / "cache",
            **{"cache_bytes": 100 * MB, **options},  # type: ignore[arg-type]
        )

    return make


def finished_upload(folder: Path, size: int) -> tuple[Path, str, str]:
    """A file as the upload path leaves it: its path, its key, its SHA-256."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.part"
    with path.open("wb") as out:
        for start in range(0, size, 4 * MB):
            out.write(os.urandom(min(4 * MB, size - start)))
    sha256 = sha256_of(path)
    return path, UploadStore.key_for(sha256), sha256


def sha256_of(path: Path) -> str:
    with path.open("rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


def count_calls(store: S3Store, operation: str) -> list[str]:
    """Every `operation` request the store's client makes from now on."""
    calls: list[str] = []
    store.client.meta.events.register(
        f"before-call.s3.{operation}", lambda **_: calls.append(operation)
    )
    return calls


# --- the same behaviour from both -----------------------------------------------


def test_publish_then_fetch_gives_the_same_bytes(make_store: MakeStore, tmp_path: Path) -> None:
    web, worker = make_store("web"), make_store("worker")
    path, key, sha256 = finished_upload(tmp_path / "incoming", 3 * MB + 17)

    web.publish(path, key)

    assert not path.exists()  # moved into the storage (or the web machine's cache)
    assert web.exists(key) and worker.exists(key)
    fetched = worker.fetch(key)
    assert sha256_of(fetched) == sha256
    with worker.local_file(key) as again:
        assert sha256_of(again) == sha256


def test_a_large_video_streams_up_in_parts_and_down_in_flat_memory(
    make_store: MakeStore, tmp_path: Path
) -> None:
    web, worker = make_store("web", part_bytes=5 * MB), make_store("worker", part_bytes=5 * MB)
    size = 30 * MB
    path, key, sha256 = finished_upload(tmp_path / "incoming", size)

    tracemalloc.start()
    try:
        web.publish(path, key)
        _, up_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fetched = worker.fetch(key)
        _, down_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert sha256_of(fetched) == sha256
    # A few buffers per transfer thread (about 7 MB in all here), whatever the file's size.
    assert up_peak < size / 3, f"publishing held {up_peak / MB:.1f} MB"
    assert down_peak < size / 3, f"fetching held {down_peak / MB:.1f} MB"
    if isinstance(web, S3Store):
        head = web.client.head_object(Bucket=web.bucket, Key=web.object_name(key))
        assert head["ETag"].strip('"').endswith("-6")  # a multipart upload of six parts
        assert head["ContentLength"] == size


def test_fetching_a_missing_video_is_a_clear_error(make_store: MakeStore) -> None:
    store = make_store("worker")
    store.check()
    key = UploadStore.key_for("ab" * 32)

    with pytest.raises(VideoMissing) as missing:
        store.fetch(key)
    assert missing.value.reason.startswith(f"video {key} is not in ")
    assert missing.value.code == "missing"
    assert not store.exists(key)


def test_delete_is_idempotent(make_store: MakeStore, tmp_path: Path) -> None:
    web, worker = make_store("web"), make_store("worker")
    path, key, _ = finished_upload(tmp_path / "incoming", 1000)
    web.publish(path, key)
    worker.fetch(key)

    web.delete(key)
    web.delete(key)

    assert not web.exists(key)
    with pytest.raises(VideoMissing):
        web.fetch(key)  # not even from the publishing machine's cache


def test_keys_cannot_lead_outside_the_storage(make_store: MakeStore) -> None:
    store = make_store("web")
    for key in ("../etc/passwd", "/abs/key", ".partial/x", "ab/../../x", ""):
        with pytest.raises(ValueError):
            store.exists(key)
    assert check_key("ab/" + "ab" * 32) == "ab/" + "ab" * 32


# --- the fetch cache (s3) -----------------------------------------------------------


def test_a_second_fetch_is_served_from_the_cache(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    make = s3_make(tmp_path, s3_endpoint, bucket)
    web, worker = make("web"), make("worker")
    path, key, sha256 = finished_upload(tmp_path / "incoming", MB)
    web.publish(path, key)
    downloads, heads = count_calls(worker, "GetObject"), count_calls(worker, "HeadObject")

    first = worker.fetch(key)
    assert downloads and heads
    downloads.clear()
    heads.clear()
    second = worker.fetch(key)

    assert second == first and sha256_of(second) == sha256
    assert downloads == [] and heads == []  # no request at all
    # The publishing machine kept its upload in its cache: its workers download nothing.
    web_downloads = count_calls(web, "GetObject")
    assert sha256_of(web.fetch(key)) == sha256 and web_downloads == []


def test_the_cache_evicts_the_least_recently_used_video(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    make = s3_make(tmp_path, s3_endpoint, bucket)
    web, worker = make("web"), make("worker", cache_bytes=int(2.5 * MB))
    keys = []
    for _ in range(3):
        path, key, _ = finished_upload(tmp_path / "incoming", MB)
        web.publish(path, key)
        keys.append(key)
    a, b, c = keys

    worker.fetch(a)
    worker.fetch(b)
    time.sleep(0.01)
    worker.fetch(a)  # a is now used more recently than b
    worker.fetch(c)  # 3 MB do not fit in 2.5: b goes

    assert worker.cached_path(a).exists() and worker.cached_path(c).exists()
    assert not worker.cached_path(b).exists()
    assert sum(entry.size for entry in worker.cache_entries()) <= 2.5 * MB
    downloads = count_calls(worker, "GetObject")
    worker.fetch(b)  # fetched again, and a (now the least recently used) goes
    assert downloads and not worker.cached_path(a).exists()


def test_a_video_in_use_is_not_evicted(tmp_path: Path, s3_endpoint: str, bucket: str) -> None:
    make = s3_make(tmp_path, s3_endpoint, bucket)
    web, worker = make("web"), make("worker", cache_bytes=0)
    (path_a, a, sha_a), (path_b, b, _) = (
        finished_upload(tmp_path / "incoming", MB) for _ in range(2)
    )
    web.publish(path_a, a)
    web.publish(path_b, b)

    with worker.local_file(a) as in_use:
        worker.fetch(b)  # over the limit, but a is being read
        assert sha256_of(in_use) == sha_a
    worker.fetch(b)

    assert not worker.cached_path(a).exists()  # free to go once the block ended


# --- errors in words --------------------------------------------------------------


def test_an_unreachable_endpoint_says_so(tmp_path: Path, s3_endpoint: str) -> None:
    # (s3_endpoint for the AWS environment it sets; the store is sent to a closed port)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    store = s3_make(tmp_path, closed, "videos")("worker", attempts=1)
    path, key, _ = finished_upload(tmp_path / "incoming", 1000)

    for attempt in (store.check, lambda: store.publish(path, key), lambda: store.fetch(key)):
        with pytest.raises(StorageError) as failed:
            attempt()
        assert failed.value.code == "unreachable"
        assert f"cannot reach the object storage at {closed}" in failed.value.reason
    assert path.exists()  # nothing was published: the upload is still there


def test_a_missing_bucket_says_so(tmp_path: Path, s3_endpoint: str) -> None:
    store = s3_make(tmp_path, s3_endpoint, "no-such-videos")("worker")
    path, key, _ = finished_upload(tmp_path / "incoming", 1000)

    for attempt in (
        store.check,
        lambda: store.publish(path, key),
        lambda: store.fetch(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
    ):
        with pytest.raises(StorageError) as failed:
            attempt()
        assert failed.value.code == "no_bucket"
        assert failed.value.reason.startswith(
            f"bucket no-such-videos does not exist at {s3_endpoint}"
        )


def test_denied_access_and_bad_credentials_say_what_to_fix() -> None:
    def answer(code: str) -> StorageError:
        error = ClientError({"Error": {"Code": code, "Message": "no"}}, "GetObject")
        return storage_error(error, bucket="videos", endpoint="AWS S3", key="ab/cd", where="s3")

    assert answer("AccessDenied").code == "access_denied"
    assert "s3:GetObject" in answer("AccessDenied").reason
    assert answer("InvalidAccessKeyId").code == "access_denied"
    assert "AWS_ACCESS_KEY_ID" in answer("SignatureDoesNotMatch").reason


def test_a_missing_storage_folder_says_so(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "not-mounted")
    with pytest.raises(StorageError) as failed:
        store.fetch(UploadStore.key_for("ab" * 32))
    assert failed.value.code == "no_folder"
    assert "mount it" in failed.value.reason


# --- settings -----------------------------------------------------------------------


def test_the_settings_choose_the_storage(tmp_path: Path) -> None:
    local = video_store(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    assert isinstance(local, FolderStore) and local.root == tmp_path / "uploads"

    with pytest.MonkeyPatch.context() as env:
        for name, value in AWS_ENV.items():
            env.setenv(name, value)
        s3 = video_store(
            Settings(  # type: ignore[call-arg]
                _env_file=None,
                data_dir=tmp_path,
                storage="s3",
                s3_bucket="videos",
                s3_prefix="/team/",
                s3_endpoint_url="http://127.0.0.1:9",
                fetch_cache_mb=10,
            )
        )
    assert isinstance(s3, S3Store)
    assert s3.describe() == "s3://videos/team/ at http://127.0.0.1:9"
    assert s3.cache_dir == tmp_path / "cache" / "videos" and s3.cache_bytes == 10 * MB


def test_s3_storage_needs_a_bucket() -> None:
    with pytest.raises(ValidationError, match="STORYTELLER_STORAGE=s3 needs STORYTELLER_S3_BUCKET"):
        Settings(_env_file=None, storage="s3")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="must start with http:// or https://"):
        Settings(_env_file=None, s3_endpoint_url="minio:9000")  # type: ignore[call-arg]
