"""`POST /api/upload` read as a stream: bodies cut at any byte, files refused one by one,
uploads that break off leave nothing behind."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import MakeClient, video_files
from tests.media import Clip

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

BOUNDARY = "storyteller-test-boundary"
SOME_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(4096)  # passes the first-bytes check


def multipart(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A multipart/form-data body of (field, file name or None for a text field, content)."""
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            body += b"Content-Type: application/octet-stream\r\n"
        body += b"\r\n" + content + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


async def post_body(
    client: httpx.AsyncClient, body: bytes, *, chunk: int, path: str = "/api/upload"
) -> httpx.Response:
    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), chunk):
            yield body[start : start + chunk]

    return await client.post(
        path,
        content=pieces(),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )


def stored_files(client: httpx.AsyncClient) -> list[Path]:
    store = client._transport.app.state.uploads  # type: ignore[attr-defined]
    return sorted(p for p in store.root.rglob("*") if p.is_file())


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
async def test_a_body_cut_at_any_byte_stores_every_file_whole(
    make_client: MakeClient, speech_clip: Clip, snow_clip: Clip, chunk: int
) -> None:
    client = await make_client()
    speech, snow = speech_clip.path.read_bytes(), snow_clip.path.read_bytes()
    if chunk == 1:  # a byte at a time: keep it short
        speech, snow = SOME_BYTES + b"one", SOME_BYTES + b"two"
    body = multipart(
        ("priority", None, b"low"),
        ("videos", "speech.mp4", speech),
        ("other", "ignored.txt", b"a file in a field that is not ours"),
        ("videos", "snow.webm", snow),
    )
    answer = await post_body(client, body, chunk=chunk)
    assert answer.status_code == 200, answer.text
    upload = answer.json()
    assert upload["priority"] == "low"
    assert [v["name"] for v in upload["videos"]] == ["speech.mp4", "snow.webm"]
    for video, content in zip(upload["videos"], (speech, snow), strict=True):
        record = (await client.get(f"/api/videos/{video['id']}")).json()
        assert record["contentHash"] == hashlib.sha256(content).hexdigest()
        assert record["sizeBytes"] == len(content)
    assert sorted(p.read_bytes() for p in stored_files(client)) == sorted([speech, snow])


async def test_an_upload_that_breaks_off_keeps_nothing(make_client: MakeClient) -> None:
    client = await make_client()
    whole = multipart(
        ("videos", "a.mp4", SOME_BYTES + bytes(3 << 20)),
        ("videos", "b.mp4", SOME_BYTES + bytes(3 << 20) + b"b"),
    )
    cut = whole[: len(whole) - (1 << 20)]  # the second file is half there
    answer = await post_body(client, cut, chunk=64 * 1024)
    assert answer.status_code == 400
    assert answer.json() == {"error": "the upload ended before its last file was complete"}
    assert stored_files(client) == []  # neither the first file nor a partial
    assert (await client.get("/api/stats")).json()["totalJobs"] == 0


async def test_a_file_over_the_limit_fails_alone(
    make_client: MakeClient, speech_clip: Clip
) -> None:
    client = await make_client(video_max_size_mb=1)
    big = SOME_BYTES + bytes(2 << 20)
    answer = await client.post(
        "/api/upload", files=video_files(("big.mp4", big), ("good.mp4", speech_clip.path))
    )
    assert answer.status_code == 200, answer.text
    big_video, good = answer.json()["videos"]
    assert big_video["status"] == "failed"
    assert big_video["error"] == "big.mp4 is too large: a video may be at most 1 MB"
    assert good["status"] == "pending" and good["error"] is None
    record = (await client.get(f"/api/videos/{big_video['id']}")).json()
    assert (record["errorCode"], record["errorCause"]) == ("too_large", "video")
    assert record["completedAt"] is not None
    assert [p.read_bytes() for p in stored_files(client)] == [speech_clip.path.read_bytes()]


async def test_the_form_and_the_query_choose_priority_and_teller(make_client: MakeClient) -> None:
    client = await make_client()
    files = video_files(("a.mp4", SOME_BYTES))
    by_query = await client.post("/api/upload?priority=high&teller=local", files=files)
    assert (by_query.json()["priority"], by_query.json()["teller"]) == ("high", "local")
    by_form = await client.post("/api/upload", files=files, data={"priority": "LOW"})
    assert by_form.json()["priority"] == "low"
    tellers = (await client.get("/api/tellers")).json()
    assert "local" in tellers["tellers"] and tellers["default"] in tellers["tellers"]


async def test_a_body_that_is_not_a_form_is_400(make_client: MakeClient) -> None:
    client = await make_client()
    answer = await client.post("/api/upload", json={"videos": ["a.mp4"]})
    assert answer.status_code == 400
    assert "multipart/form-data" in answer.json()["error"]


async def test_forms_that_are_not_ours_are_refused_before_they_grow(
    make_client: MakeClient,
) -> None:
    """A part with no Content-Disposition, an endless header or a flood of parts is
    refused with 400 at once, instead of being held in memory."""
    client = await make_client()
    boundary = "b0undary"
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    nameless = (
        f"--{boundary}\r\nContent-Type: video/mp4\r\n\r\n".encode()
        + bytes(2 * 1024 * 1024)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    answer = await client.post("/api/upload", content=nameless, headers=headers)
    assert answer.status_code == 400
    assert "Content-Disposition" in answer.json()["error"]

    long_header = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="videos"; filename="a.mp4"\r\n'
        f"X-Filler: {'x' * 20_000}\r\n\r\nabc\r\n--{boundary}--\r\n"
    ).encode()
    answer = await client.post("/api/upload", content=long_header, headers=headers)
    assert answer.status_code == 400
    assert "cannot be read" in answer.json()["error"]

    flood = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'.encode()
            for i in range(200)
        )
        + f"--{boundary}--\r\n".encode()
    )
    answer = await client.post("/api/upload", content=flood, headers=headers)
    assert answer.status_code == 400
    assert "too many parts" in answer.json()["error"]
    assert (await client.get("/api/stats")).json()["totalJobs"] == 0
