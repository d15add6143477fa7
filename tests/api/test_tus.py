"""Resumable uploads: a real tus client (tuspy) against a real uvicorn, interrupted and
resumed (across a restart too), checksums, offsets, termination, limits, expiry, and the
batch made from finished uploads."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from tusclient.client import TusClient

from storyteller.api import tus
from storyteller.app import create_app
from storyteller.config import Settings
from storyteller.storage.tus import TUS_DIR, TusStore
from storyteller.storage.uploads import UploadStore
from tests.media import Clip
from tests.service.server import free_port

pytestmark = pytest.mark.timeout(120)

CHUNK = 32 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


class CountPatchBytes:
    """Wraps the app: counts the body bytes the server receives in PATCH requests."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.received = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "PATCH":
            inner = receive

            async def counting() -> Any:
                message = await inner()
                if message["type"] == "http.request":
                    self.received += len(message.get("body", b""))
                return message

            receive = counting
        await self.app(scope, receive, send)


@dataclass
class Served:
    url: str
    counter: CountPatchBytes
    settings: Settings

    @property
    def uploads_url(self) -> str:
        return f"{self.url}/api/uploads/"

    def client(self) -> TusClient:
        return TusClient(self.uploads_url)

    def tus_dir(self) -> Path:
        return self.settings.data_dir / "uploads" / TUS_DIR


@contextmanager
def serve(settings: Settings) -> Iterator[Served]:
    """The app under uvicorn in a thread, on a free port; stopped at the end."""
    app = create_app(settings, start_engine=False)
    if not any(getattr(route, "path", None) == "/api/uploads/batch" for route in app.routes):
        app.include_router(tus.router)
    counter = CountPatchBytes(app)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(counter, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", counter, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def served(settings: Settings) -> Iterator[Served]:
    with serve(settings) as running:
        yield running


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def create(served: Served, length: int, name: str = "clip.mp4") -> str:
    """A new upload's URL, made with plain HTTP."""
    metadata = f"filename {base64.b64encode(name.encode()).decode()}"
    answer = httpx.post(
        served.uploads_url,
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata},
    )
    assert answer.status_code == 201, answer.text
    return str(httpx.URL(served.uploads_url).join(answer.headers["location"]))


def offset_of(url: str) -> int:
    answer = httpx.head(url, headers=TUS)
    assert answer.status_code == 200
    return int(answer.headers["upload-offset"])


def patch(url: str, body: bytes, offset: int, **headers: str) -> httpx.Response:
    return httpx.patch(
        url,
        content=body,
        headers={
            **TUS,
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": str(offset),
            **headers,
        },
    )


def sha1_header(body: bytes) -> str:
    return "sha1 " + base64.b64encode(hashlib.sha1(body).digest()).decode()


def batch(served: Served, *uploads: str, **options: str) -> httpx.Response:
    return httpx.post(f"{served.url}/api/uploads/batch", json={"uploads": list(uploads), **options})


def cut_patch(url: str, body: bytes, offset: int, *, declared: int) -> None:
    """A PATCH that says `declared` bytes follow, sends `body`, and drops the connection."""
    parts = urlsplit(url)
    head = (
        f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port)) as connection:
        connection.sendall(head.encode() + body)
        time.sleep(0.2)  # the server is reading it


# --- the protocol ---------------------------------------------------------------


def test_options_says_what_the_server_supports(served: Served) -> None:
    answer = httpx.options(served.uploads_url)
    assert answer.status_code == 204
    assert answer.headers["tus-resumable"] == "1.0.0"
    assert answer.headers["tus-version"] == "1.0.0"
    extensions = set(answer.headers["tus-extension"].split(","))
    assert {"creation", "expiration", "termination", "checksum"} <= extensions
    assert int(answer.headers["tus-max-size"]) == served.settings.video_max_size_mb * 1024 * 1024
    assert set(answer.headers["tus-checksum-algorithm"].split(",")) == {"sha1", "md5"}


def test_tuspy_uploads_a_video_in_chunks_and_a_batch_queues_it(
    served: Served, speech_clip: Clip
) -> None:
    uploader = served.client().uploader(
        file_path=str(speech_clip.path),
        chunk_size=CHUNK,
        metadata={"filename": "speech.mp4"},
        upload_checksum=True,
    )
    uploader.upload()
    size = speech_clip.path.stat().st_size
    assert size > 3 * CHUNK, "the clip should take several chunks"

    head = httpx.head(uploader.url, headers=TUS)
    assert head.headers["upload-offset"] == head.headers["upload-length"] == str(size)
    assert head.headers["cache-control"] == "no-store"
    assert "upload-expires" in head.headers
    upload_id = uploader.url.rsplit("/", 1)[-1]
    assert sha256(served.tus_dir() / upload_id) == sha256(speech_clip.path)
    assert served.counter.received == size

    answer = batch(served, uploader.url, priority="high")
    assert answer.status_code == 200, answer.text
    made = answer.json()
    assert made["priority"] == "high"
    assert [(v["name"], v["status"]) for v in made["videos"]] == [("speech.mp4", "pending")]
    job = httpx.get(f"{served.url}/api/job/{made['jobId']}").json()
    assert [(v["originalName"], v["sizeBytes"]) for v in job["videos"]] == [("speech.mp4", size)]
    digest = sha256(speech_clip.path)
    stored = served.settings.data_dir / "uploads" / UploadStore.key_for(digest)
    assert sha256(stored) == digest
    # The upload is used up: its files are gone and its id means nothing any more.
    assert list(served.tus_dir().iterdir()) == []
    assert httpx.head(uploader.url, headers=TUS).status_code == 404
    assert batch(served, upload_id).status_code == 404


def test_a_stopped_upload_resumes_from_the_server_s_offset(
    served: Served, speech_clip: Clip
) -> None:
    first = served.client().uploader(
        file_path=str(speech_clip.path), chunk_size=CHUNK, metadata={"filename": "a.mp4"}
    )
    first.upload(stop_at=3 * CHUNK)
    assert offset_of(first.url) == 3 * CHUNK

    again = served.client().uploader(
        file_path=str(speech_clip.path), url=first.url, chunk_size=CHUNK, upload_checksum=True
    )
    assert again.offset == 3 * CHUNK
    again.upload()
    size = speech_clip.path.stat().st_size
    assert offset_of(first.url) == size
    assert served.counter.received == size  # nothing sent twice
    upload_id = first.url.rsplit("/", 1)[-1]
    assert sha256(served.tus_dir() / upload_id) == sha256(speech_clip.path)


def test_a_cut_connection_keeps_what_arrived_and_resumes_sending_at_most_one_chunk_again(
    served: Served, speech_clip: Clip
) -> None:
    data = speech_clip.path.read_bytes()
    url = create(served, len(data))
    patch(url, data[:CHUNK], 0).raise_for_status()
    # The second chunk's connection drops two thirds of the way through.
    sent = CHUNK * 2 // 3
    cut_patch(url, data[CHUNK : CHUNK + sent], CHUNK, declared=CHUNK)
    assert offset_of(url) == CHUNK + sent

    resumed = served.client().uploader(file_path=str(speech_clip.path), url=url, chunk_size=CHUNK)
    assert resumed.offset == CHUNK + sent
    resumed.upload()
    assert offset_of(url) == len(data)
    assert served.counter.received <= len(data) + CHUNK
    assert sha256(served.tus_dir() / url.rsplit("/", 1)[-1]) == sha256(speech_clip.path)


def test_a_cut_chunk_with_a_checksum_is_discarded_whole(served: Served) -> None:
    data = bytes(range(256)) * 512
    url = create(served, len(data))
    chunk = data[:CHUNK]
    parts = urlsplit(url)
    head = (
        f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
        f"Upload-Checksum: {sha1_header(chunk)}\r\nContent-Length: {CHUNK}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port)) as connection:
        connection.sendall(head.encode() + chunk[: CHUNK // 2])
        time.sleep(0.2)
    assert offset_of(url) == 0


def test_an_upload_survives_a_restart_of_the_server(settings: Settings, speech_clip: Clip) -> None:
    with serve(settings) as served:
        first = served.client().uploader(
            file_path=str(speech_clip.path), chunk_size=CHUNK, metadata={"filename": "r.mp4"}
        )
        first.upload(stop_at=2 * CHUNK)
        path = urlsplit(first.url).path
    with serve(settings) as served:
        url = served.url + path
        resumed = served.client().uploader(
            file_path=str(speech_clip.path), url=url, chunk_size=CHUNK, upload_checksum=True
        )
        assert resumed.offset == 2 * CHUNK
        resumed.upload()
        assert served.counter.received == speech_clip.path.stat().st_size - 2 * CHUNK
        answer = batch(served, url)
        assert answer.status_code == 200, answer.text
        digest = sha256(speech_clip.path)
        assert sha256(settings.data_dir / "uploads" / UploadStore.key_for(digest)) == digest


def test_a_checksum_that_does_not_match_is_refused_with_460_and_the_bytes_dropped(
    served: Served,
) -> None:
    data = bytes(range(256)) * 64
    url = create(served, len(data))
    wrong = patch(url, data[:1000], 0, **{"Upload-Checksum": sha1_header(b"other bytes")})
    assert wrong.status_code == 460
    assert wrong.headers["tus-resumable"] == "1.0.0"
    assert offset_of(url) == 0
    right = patch(url, data[:1000], 0, **{"Upload-Checksum": sha1_header(data[:1000])})
    assert right.status_code == 204
    assert right.headers["upload-offset"] == "1000"
    md5 = "md5 " + base64.b64encode(hashlib.md5(data[1000:]).digest()).decode()
    assert patch(url, data[1000:], 1000, **{"Upload-Checksum": md5}).status_code == 204
    assert offset_of(url) == len(data)
    unknown = patch(url, b"", len(data), **{"Upload-Checksum": "crc32 AAAA"})
    assert unknown.status_code == 400


def test_a_patch_at_the_wrong_offset_is_refused_with_409(served: Served) -> None:
    url = create(served, 100)
    assert patch(url, b"x" * 10, 0).status_code == 204
    wrong = patch(url, b"y" * 10, 0)
    assert wrong.status_code == 409
    assert "10" in wrong.json()["error"]
    assert offset_of(url) == 10


def test_requests_need_tus_resumable_and_the_right_content_type(served: Served) -> None:
    refused = httpx.post(served.uploads_url, headers={"Upload-Length": "10"})
    assert refused.status_code == 412
    assert refused.headers["tus-version"] == "1.0.0"
    assert refused.headers["tus-resumable"] == "1.0.0"
    assert httpx.post(served.uploads_url, headers={"Tus-Resumable": "0.2.2"}).status_code == 412
    url = create(served, 10)
    assert httpx.head(url).status_code == 412
    plain = httpx.patch(
        url, content=b"x", headers={**TUS, "Upload-Offset": "0", "Content-Type": "text/plain"}
    )
    assert plain.status_code == 415
    assert httpx.post(served.uploads_url, headers=TUS).status_code == 400  # no Upload-Length


def test_head_after_delete_is_404(served: Served) -> None:
    url = create(served, 100)
    assert patch(url, b"x" * 10, 0).status_code == 204
    deleted = httpx.delete(url, headers=TUS)
    assert deleted.status_code == 204
    assert deleted.headers["tus-resumable"] == "1.0.0"
    assert httpx.head(url, headers=TUS).status_code == 404
    assert patch(url, b"x", 10).status_code == 404
    assert httpx.delete(url, headers=TUS).status_code == 404
    assert list(served.tus_dir().iterdir()) == []


def test_an_upload_over_the_size_limit_is_refused_with_413(
    settings: Settings, speech_clip: Clip
) -> None:
    with serve(settings.model_copy(update={"video_max_size_mb": 1})) as served:
        big = httpx.post(served.uploads_url, headers={**TUS, "Upload-Length": str(1024 * 1024 + 1)})
        assert big.status_code == 413
        assert "at most 1 MB" in big.json()["error"]
        url = create(served, 10)
        assert patch(url, b"x" * 11, 0).status_code == 413  # past Upload-Length
        assert offset_of(url) == 0


def test_expired_uploads_are_cleaned_up(settings: Settings) -> None:
    expiry_s = 3600 * settings.tus_expiry_hours
    with serve(settings) as served:
        old, kept = create(served, 100), create(served, 100)
        assert patch(old, b"x" * 10, 0).status_code == 204
        store = UploadStore.from_settings(settings)
        uploads = TusStore(store, expiry_s=expiry_s)
        assert uploads.cleanup_expired() == 0
        # One more day on: both have expired.
        assert uploads.cleanup_expired(now=time.time() + 2 * expiry_s) == 2
        assert httpx.head(old, headers=TUS).status_code == 404
        assert httpx.head(kept, headers=TUS).status_code == 404
        assert list(served.tus_dir().iterdir()) == []


def test_an_expired_upload_is_gone(settings: Settings) -> None:
    with serve(settings.model_copy(update={"tus_expiry_hours": 0.5 / 3600})) as served:
        url = create(served, 100)
        time.sleep(0.7)
        assert httpx.head(url, headers=TUS).status_code == 410
        assert httpx.head(url, headers=TUS).status_code == 404


def test_tus_headers_are_exposed_to_pages_on_other_origins(settings: Settings) -> None:
    # Pages on an origin of STORYTELLER_CORS_ORIGINS (no other may write: test_guard.py).
    origin = {"Origin": "http://elsewhere.test"}
    with serve(settings.model_copy(update={"cors_origins": [origin["Origin"]]})) as served:
        check_exposed_headers(served, origin)


def check_exposed_headers(served: Served, origin: dict[str, str]) -> None:
    answer = httpx.post(served.uploads_url, headers={**TUS, **origin, "Upload-Length": "5"})
    assert answer.status_code == 201
    exposed = {
        h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")
    }
    assert {"location", "upload-offset", "upload-length", "tus-resumable"} <= exposed
    preflight = httpx.options(
        f"{served.url}{answer.headers['location']}",
        headers={
            **origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "tus-resumable,upload-offset,content-type",
        },
    )
    assert preflight.status_code == 200
    assert "PATCH" in preflight.headers["access-control-allow-methods"]


# --- the batch ---------------------------------------------------------------------


def test_a_batch_refuses_an_unfinished_upload_with_409(served: Served) -> None:
    url = create(served, 100)
    patch(url, b"x" * 50, 0).raise_for_status()
    answer = batch(served, url)
    assert answer.status_code == 409
    assert "50 of 100 bytes" in answer.json()["error"]
    assert offset_of(url) == 50  # still there to finish


def test_a_batch_makes_a_file_that_is_not_a_video_a_failed_video(
    served: Served, speech_clip: Clip
) -> None:
    video = speech_clip.path.read_bytes()
    text = b"just some notes, not a video\n" * 20
    video_url, text_url = (
        create(served, len(video), "speech.mp4"),
        create(served, len(text), "notes.mp4"),
    )
    patch(video_url, video, 0).raise_for_status()
    patch(text_url, text, 0).raise_for_status()
    answer = batch(served, video_url, text_url.rsplit("/", 1)[-1])
    assert answer.status_code == 200, answer.text
    videos = answer.json()["videos"]
    assert [(v["name"], v["status"]) for v in videos] == [
        ("speech.mp4", "pending"),
        ("notes.mp4", "failed"),
    ]
    assert "notes.mp4" in videos[1]["error"]
    assert "1 refused" in answer.json()["message"]
    job = httpx.get(f"{served.url}/api/job/{answer.json()['jobId']}").json()
    assert [v["originalName"] for v in job["videos"]] == ["speech.mp4", "notes.mp4"]

    only_text = create(served, len(text), "notes.mp4")
    patch(only_text, text, 0).raise_for_status()
    refused = batch(served, only_text)
    assert refused.status_code == 415
    assert httpx.head(only_text, headers=TUS).status_code == 404


def test_a_batch_checks_its_list_and_options(served: Served) -> None:
    assert batch(served, "not-an-upload").status_code == 404
    assert batch(served, "0" * 32).status_code == 404
    assert httpx.post(f"{served.url}/api/uploads/batch", json={"uploads": []}).status_code == 422
    url = create(served, 1)
    patch(url, b"x", 0).raise_for_status()
    assert batch(served, url, url).status_code == 400
    assert batch(served, url, teller="nobody").status_code == 422
    assert batch(served, url, priority="urgent").status_code == 422
    assert offset_of(url) == 1  # nothing was used up


def test_bytes_past_the_committed_offset_are_cut_off_by_the_next_patch(served: Served) -> None:
    data = bytes(range(256)) * 8
    url = create(served, len(data))
    patch(url, data[:1000], 0).raise_for_status()
    # A server killed midway through a PATCH leaves bytes that were never committed.
    with (served.tus_dir() / url.rsplit("/", 1)[-1]).open("ab") as file:
        file.write(b"garbage" * 10)
    assert offset_of(url) == 1000
    patch(url, data[1000:], 1000).raise_for_status()
    assert (served.tus_dir() / url.rsplit("/", 1)[-1]).read_bytes() == data


def test_the_store_adopts_a_finished_file_once_per_content(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_bytes(b"same bytes")
    second.write_bytes(b"same bytes")
    digest = hashlib.sha256(b"same bytes").hexdigest()
    stored = store.adopt(first, original_name="a.mp4")
    assert (stored.sha256, stored.size, stored.first_bytes) == (digest, 10, b"same bytes")
    assert not stored.duplicate and not first.exists()
    assert store.path_of(stored.key).read_bytes() == b"same bytes"
    again = store.adopt(second, original_name="b.mp4", sha256=digest)
    assert again.duplicate and again.key == stored.key and not second.exists()


def test_a_client_gone_silent_frees_its_upload(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PATCH whose client vanished without closing (asleep, network switched) must not
    hold the upload: after the idle time it counts as cut, and the client resumes."""
    monkeypatch.setattr(tus, "BODY_IDLE_S", 0.5)
    url = create(served, 1000)
    parts = urlsplit(url)
    head = (
        f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
        "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port)) as silent:
        silent.sendall(head.encode() + b"x" * 100)  # then nothing, and the socket stays open
        time.sleep(1.5)
        assert offset_of(url) == 100  # not 423: the upload is free again
        answer = patch(url, b"y" * 900, 100)
        assert answer.status_code == 204, answer.text
        assert answer.headers["Upload-Offset"] == "1000"
