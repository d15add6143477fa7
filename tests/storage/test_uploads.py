"""Uploads streamed to disk: flat memory, hashed, limited, deduplicated, cleaned up."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from storyteller.config import Settings
from storyteller.storage import uploads
from storyteller.storage.uploads import MB, NoRoom, StoredFile, TooLarge, UploadStore

KB = 1024


@pytest.fixture
def store(tmp_path: Path) -> UploadStore:
    return UploadStore(tmp_path / "uploads", reserve_bytes=0)


def pieces(data: bytes, size: int = 64 * KB) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def stream(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await asyncio.sleep(0)
        yield chunk


def save(
    store: UploadStore,
    data: bytes,
    name: str = "clip.mp4",
    *,
    max_bytes: int = 100 * MB,
    expected_size: int | None = None,
) -> StoredFile:
    return asyncio.run(
        store.save_stream(
            stream(pieces(data)),
            original_name=name,
            max_bytes=max_bytes,
            expected_size=expected_size,
        )
    )


def stored_files(store: UploadStore) -> list[Path]:
    return sorted(p for p in store.root.rglob("*") if p.is_file())


def test_a_200_mb_upload_streams_to_disk_in_flat_memory(store: UploadStore) -> None:
    block = os.urandom(MB)
    blocks = 200
    expected = hashlib.sha256()
    for _ in range(blocks):
        expected.update(block)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(blocks):
            for start in range(0, MB, 64 * KB):  # ASGI servers hand over ~64 KB at a time
                yield block[start : start + 64 * KB]

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        stored = asyncio.run(store.save_stream(body(), original_name="big.mp4", max_bytes=500 * MB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    try:
        assert peak < 20 * MB, f"peak {peak / MB:.1f} MB while streaming 200 MB"
        assert stored.size == blocks * MB == stored.path.stat().st_size
        assert stored.sha256 == expected.hexdigest()
        assert stored.first_bytes == block[: uploads.FIRST_BYTES]
        assert stored.key == f"{stored.sha256[:2]}/{stored.sha256}"
        assert stored.path == store.root / stored.key and not stored.duplicate
        assert list(store.partial_dir.iterdir()) == []
    finally:
        stored.path.unlink(missing_ok=True)


def test_the_file_holds_exactly_the_bytes_sent(store: UploadStore) -> None:
    data = os.urandom(3 * MB + 123)
    stored = save(store, data)
    assert stored.path.read_bytes() == data
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.original_name == "clip.mp4"
    assert store.path_of(stored.key) == stored.path.resolve()


def test_too_large_is_refused_and_the_partial_file_deleted(store: UploadStore) -> None:
    with pytest.raises(TooLarge) as refused:
        save(store, os.urandom(3 * MB), name="holiday.mov", max_bytes=2 * MB)
    assert refused.value.reason == "holiday.mov is too large: a video may be at most 2 MB"
    assert refused.value.code == "too_large"
    assert stored_files(store) == []


def test_a_file_of_exactly_the_limit_is_kept(store: UploadStore) -> None:
    assert save(store, os.urandom(2 * MB), max_bytes=2 * MB).size == 2 * MB


def test_a_declared_size_over_the_limit_is_refused_before_writing(store: UploadStore) -> None:
    with pytest.raises(TooLarge, match="at most 500 MB"):
        save(store, b"x", max_bytes=500 * MB, expected_size=501 * MB)
    assert not store.partial_dir.exists()


def test_the_same_bytes_are_stored_once(store: UploadStore) -> None:
    data = os.urandom(MB)
    first = save(store, data, name="a.mp4")
    second = save(store, data, name="b.mov")
    assert second.path == first.path and second.key == first.key
    assert (first.duplicate, second.duplicate) == (False, True)
    assert second.original_name == "b.mov"
    assert stored_files(store) == [first.path]


def test_a_full_disk_refuses_before_writing(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads", reserve_bytes=1 << 62)
    with pytest.raises(NoRoom) as refused:
        save(store, os.urandom(KB), name="clip.mp4")
    assert refused.value.reason.startswith("not enough free disk space to store clip.mp4")
    assert refused.value.code == "no_room"
    assert stored_files(store) == []


def test_a_disk_filling_up_during_the_upload_stops_it(
    store: UploadStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write_buffer_bytes = MB  # a room check between writes
    monkeypatch.setattr(uploads, "ROOM_CHECK_EVERY_BYTES", MB)
    free = iter([10 * MB, 10 * MB, 0])  # at the start, after 1 MB, after 2 MB
    monkeypatch.setattr(store, "free_bytes", lambda: next(free))
    store.reserve_bytes = MB
    with pytest.raises(NoRoom):
        save(store, os.urandom(4 * MB))
    assert stored_files(store) == []


def test_a_dropped_connection_leaves_no_partial_file(store: UploadStore) -> None:
    async def dropped() -> AsyncIterator[bytes]:
        yield os.urandom(2 * MB)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        asyncio.run(store.save_stream(dropped(), original_name="a.mp4", max_bytes=10 * MB))
    assert stored_files(store) == []


def test_a_cancelled_upload_leaves_no_partial_file(store: UploadStore) -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            await asyncio.sleep(0)
            yield b"x" * 64 * KB

    async def main() -> None:
        task = asyncio.create_task(
            store.save_stream(endless(), original_name="a.mp4", max_bytes=1 << 40)
        )
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert stored_files(store) == []


def test_old_partial_files_are_cleaned_up(store: UploadStore) -> None:
    store.partial_dir.mkdir(parents=True)
    old, fresh = store.partial_dir / "old.part", store.partial_dir / "fresh.part"
    old.write_bytes(b"killed midway")
    fresh.write_bytes(b"still uploading")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    kept = save(store, b"a finished upload")

    assert store.cleanup_partials(older_than_s=600) == 1
    assert not old.exists() and fresh.exists() and kept.path.exists()
    assert UploadStore(store.root / "nowhere").cleanup_partials(older_than_s=0) == 0


def test_partial_files_of_gone_processes_of_this_host_are_cleaned_up_at_once(
    store: UploadStore,
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    writing = store.begin(original_name="live.mp4", max_bytes=MB)  # this process, now
    writing.write(b"still uploading")
    names = {
        "dead": f"{'a' * 32}-{dead.pid}.0badc0de@{host}.part",  # a killed server
        "restarted": f"{'b' * 32}-{os.getpid()}.0badc0de@{host}.part",  # same pid, earlier
        "alive": f"{'c' * 32}-{os.getppid()}.0badc0de@{host}.part",  # another live process
        "elsewhere": f"{'d' * 32}-{dead.pid}.0badc0de@another-host.part",  # not ours to judge
    }
    for name in names.values():
        (store.partial_dir / name).write_bytes(b"partial")

    assert store.cleanup_partials(older_than_s=600) == 2
    left = {path.name for path in store.partial_dir.iterdir()}
    assert left == {names["alive"], names["elsewhere"], writing.part.name}
    assert writing.finish().path.read_bytes() == b"still uploading"


def test_a_stored_file_can_be_deleted(store: UploadStore) -> None:
    stored = save(store, b"some video bytes")
    assert store.delete(stored.key) is True
    assert not stored.path.exists() and not stored.path.parent.exists()
    assert store.delete(stored.key) is False


@pytest.mark.parametrize("key", ["../outside", "ab/../../outside", ".partial/x.part", "ab"])
def test_keys_outside_the_store_are_refused(store: UploadStore, key: str) -> None:
    with pytest.raises(ValueError, match="not a key"):
        store.delete(key)


def test_the_command_line_can_store_a_file_without_async(store: UploadStore) -> None:
    data = os.urandom(3 * MB)
    from_file = store.save_file(io.BytesIO(data), original_name="a.mp4", max_bytes=10 * MB)
    from_chunks = store.save_chunks(pieces(data), original_name="b.mp4", max_bytes=10 * MB)
    assert from_file.sha256 == hashlib.sha256(data).hexdigest()
    assert from_chunks.duplicate and from_chunks.path == from_file.path
    with pytest.raises(TooLarge):
        store.save_chunks(pieces(data), original_name="c.mp4", max_bytes=MB)
    assert stored_files(store) == [from_file.path]


def test_the_store_lives_in_the_data_folder(settings: Settings) -> None:
    assert UploadStore.from_settings(settings).root == settings.data_dir / "uploads"


def test_sizes_are_told_in_megabytes() -> None:
    assert uploads.megabytes(500 * MB) == "500"
    assert uploads.megabytes(MB * 5 // 2) == "2.5"
