"""What an upload may take: resumable uploads promise their bytes against free space at
creation (a ledger), PATCH checks the disk as it writes, Upload-Metadata is capped, so is
the number of open uploads, and file names lose control and bidi characters."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from storyteller.storage import tus as tus_module
from storyteller.storage.names import clean_name
from tests.api.conftest import MakeClient
from tests.api.test_errors import assert_error
from tests.media import Clip

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

MB = 1024 * 1024
GB = 1024 * MB
TUS = {"Tus-Resumable": "1.0.0"}


def metadata(name: str) -> str:
    return f"filename {base64.b64encode(name.encode()).decode()}"


async def create(client: httpx.AsyncClient, length: int, **headers: str) -> httpx.Response:
    return await client.post(
        "/api/uploads/", headers={**TUS, "Upload-Length": str(length), **headers}
    )


def state(client: httpx.AsyncClient) -> Any:
    return client._transport.app.state  # type: ignore[attr-defined]


async def test_uploads_promise_their_bytes_against_free_space(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await make_client()
    store = state(client).tus.store
    monkeypatch.setattr(store, "free_bytes", lambda: 5 * GB)  # nothing is written meanwhile
    store.reserve_bytes = 512 * MB
    locations = []
    for _ in range(9):  # 9 x 500 MB = 4.4 GB of the 4.5 GB that may be used
        created = await create(client, 500 * MB, **{"Upload-Metadata": metadata("big.mp4")})
        assert created.status_code == 201, created.text
        locations.append(created.headers["location"])
    refused = await create(client, 500 * MB, **{"Upload-Metadata": metadata("one-more.mp4")})
    assert_error(refused, 507, "one-more.mp4", "4500 MB of it promised to uploads in progress")
    # An upload cancelled gives its promise back.
    assert (await client.delete(locations[0], headers=TUS)).status_code == 204
    assert (await create(client, 500 * MB)).status_code == 201


async def test_bytes_already_sent_are_no_longer_promised(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await make_client()
    store = state(client).tus.store
    store.reserve_bytes = 0
    free = {"bytes": 3 * MB}
    monkeypatch.setattr(store, "free_bytes", lambda: free["bytes"])
    first = (await create(client, 2 * MB)).headers["location"]
    assert (await create(client, 2 * MB)).status_code == 507  # 2 MB promised of 3
    sent = await client.patch(
        first,
        content=b"x" * 2 * MB,
        headers={**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"},
    )
    assert sent.status_code == 204
    free["bytes"] = 1 * MB + 1  # the disk holds the 2 MB now
    assert (await create(client, 1 * MB)).status_code == 201


async def test_a_patch_stops_when_the_disk_fills_up(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await make_client()
    store = state(client).tus.store
    store.reserve_bytes = MB
    store.write_buffer_bytes = MB
    monkeypatch.setattr(tus_module, "ROOM_CHECK_EVERY_BYTES", MB)
    location = (await create(client, 8 * MB)).headers["location"]
    # At creation and at the PATCH's start there is room; after 2 MB written, no more.
    free = iter([100 * MB, 100 * MB, 100 * MB, 0])
    monkeypatch.setattr(store, "free_bytes", lambda: next(free, 0))

    async def body() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"x" * MB

    patched = await client.patch(
        location,
        content=body(),
        headers={**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"},
    )
    assert_error(patched, 507, "not enough free disk space")
    offset = await client.head(location, headers=TUS)
    assert offset.headers["upload-offset"] == "0"  # the chunk was dropped whole


async def test_a_patch_larger_than_the_free_space_is_refused_at_once(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await make_client()
    store = state(client).tus.store
    store.reserve_bytes = MB
    location = (await create(client, 4 * MB)).headers["location"]
    monkeypatch.setattr(store, "free_bytes", lambda: 2 * MB)  # filled by something else
    patched = await client.patch(
        location,
        content=b"x" * 4 * MB,
        headers={**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"},
    )
    assert_error(patched, 507, "not enough free disk space")


async def test_upload_metadata_is_capped(make_client: MakeClient) -> None:
    client = await make_client()
    huge = metadata("a" * 3000 + ".mp4") + "," + metadata("b" * 100)
    assert_error(await create(client, 5, **{"Upload-Metadata": huge}), 400, "at most 4096")
    fits = metadata("clip.mp4") + ",filetype " + base64.b64encode(b"video/mp4").decode()
    assert (await create(client, 5, **{"Upload-Metadata": fits})).status_code == 201


async def test_open_uploads_are_capped(make_client: MakeClient) -> None:
    client = await make_client(max_open_uploads=2)
    first = (await create(client, 5)).headers["location"]
    assert (await create(client, 5)).status_code == 201
    assert_error(await create(client, 5), 429, "2 resumable uploads are open already")
    assert (await client.delete(first, headers=TUS)).status_code == 204
    assert (await create(client, 5)).status_code == 201


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("clip.mp4", "clip.mp4"),
        ("\x1b]0;pwned\x07clip.mp4", "]0;pwnedclip.mp4"),  # a terminal title escape
        ("line\nbreak.mp4", "line break.mp4"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # right-to-left override
        ("\u2066isolated\u2069.mp4", "isolated.mp4"),
        ("C:\\Users\\me\\clip.mp4", "clip.mp4"),
        ("../../etc/passwd", "passwd"),
        ("\x00\x07", None),
        ("   ", None),
    ],
)
def test_file_names_lose_control_and_bidi_characters(raw: str, kept: str | None) -> None:
    assert clean_name(raw) == kept


async def test_names_are_cleaned_as_they_come_in(
    make_client: MakeClient, speech_clip: Clip
) -> None:
    client = await make_client()
    evil = "\x1b]0;pwned\x07news\u202e4pm.mp4"
    # A form upload, written by hand: httpx would percent-encode the name's controls.
    boundary = "limits-test-boundary"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="videos"; '
            f'filename="{evil}"\r\nContent-Type: video/mp4\r\n\r\n'
        ).encode()
        + speech_clip.path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    upload = await client.post(
        "/api/upload",
        content=form,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert upload.status_code == 200, upload.text
    assert upload.json()["videos"][0]["name"] == "]0;pwnednews4pm.mp4"
    job = (await client.get(f"/api/job/{upload.json()['jobId']}")).json()
    assert job["videos"][0]["originalName"] == "]0;pwnednews4pm.mp4"
    # A resumable one.
    data = speech_clip.path.read_bytes()
    location = (
        await create(client, len(data), **{"Upload-Metadata": metadata(evil + "\nsecond line")})
    ).headers["location"]
    sent = await client.patch(
        location,
        content=data,
        headers={**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"},
    )
    assert sent.status_code == 204
    made = await client.post("/api/uploads/batch", json={"uploads": [location]})
    assert made.status_code == 200, made.text
    assert made.json()["videos"][0]["name"] == "]0;pwnednews4pm.mp4 second line"
