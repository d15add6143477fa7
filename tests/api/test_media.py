"""`GET /api/videos/{id}/media` as a player asks for it: range requests against a real
uvicorn (httpx over TCP), from a folder and from S3, owner-only, and a file gone."""

from __future__ import annotations

import email.utils
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from storyteller.api.ranges import Unsatisfiable, asked_range
from storyteller.app import create_app
from storyteller.config import Settings
from storyteller.storage.uploads import UploadStore
from tests.accounts.people import Person, add_person
from tests.api.conftest import MakeClient, video_files
from tests.api.test_s3_storage import aws_env, s3_settings
from tests.media import Clip
from tests.service.server import served_in_thread
from tests.storage.test_objects import bucket, s3_endpoint

__all__ = ["aws_env", "bucket", "s3_endpoint"]  # fixtures

pytestmark = pytest.mark.timeout(120)


@dataclass
class Served:
    url: str
    ann: Person
    bob: Person
    video_id: str
    data: bytes
    settings: Settings

    def get(self, who: Person | None = None, **headers: str) -> httpx.Response:
        return self.ask("GET", who, **headers)

    def ask(self, method: str, who: Person | None = None, **headers: str) -> httpx.Response:
        person = who or self.ann
        headers = {"Authorization": f"Bearer {person.key}", **headers}
        url = f"{self.url}/api/videos/{self.video_id}/media"
        return httpx.request(method, url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, speech_clip: Clip) -> Iterator[Served]:
    """A real uvicorn with ann's upload of the speech clip (no engine: nothing runs), one
    for the module: serving bytes does not depend on the database, SQLite here."""
    folder = tmp_path_factory.mktemp("media")
    database_url = f"sqlite:///{folder / 'store.db'}"
    settings = Settings(_env_file=None, data_dir=folder / "data", database_url=database_url)  # type: ignore[call-arg]
    with served_in_thread(create_app(settings, start_engine=False)) as url:
        ann, bob = add_person(database_url, "ann"), add_person(database_url, "bob")
        data = speech_clip.path.read_bytes()
        video_id = upload(url, ann, "beach day “2”.mp4", data)
        yield Served(url, ann, bob, video_id, data, settings)


def upload(url: str, who: Person, name: str, data: bytes) -> str:
    answer = httpx.post(
        f"{url}/api/upload",
        files=video_files((name, data)),
        headers={"Authorization": f"Bearer {who.key}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    video_id: str = answer.json()["videos"][0]["id"]
    return video_id


def test_the_whole_file_with_its_headers(served: Served) -> None:
    answer = served.get()
    assert answer.status_code == 200
    assert answer.content == served.data
    headers = answer.headers
    assert headers["accept-ranges"] == "bytes"
    assert headers["content-length"] == str(len(served.data))
    assert headers["content-type"] == "video/mp4"
    assert headers["etag"].startswith('"') and len(headers["etag"]) == 66
    assert email.utils.parsedate_to_datetime(headers["last-modified"]) is not None
    assert headers["cache-control"].startswith("private")
    disposition = headers["content-disposition"]
    assert disposition.startswith('inline; filename="beach day _2_.mp4"')
    assert "filename*=UTF-8''beach%20day%20%E2%80%9C2%E2%80%9D.mp4" in disposition


@pytest.mark.parametrize(
    ("asked", "first", "last"),
    [
        ("bytes=0-0", 0, 0),  # the first byte: how a player starts
        ("bytes=-500", -500, None),  # the last 500 (an MP4's index at the end)
        ("bytes=1000-1999", 1000, 1999),  # a piece in the middle
        ("bytes=2000-", 2000, None),  # from a seek point to the end
        ("bytes=1000-99999999", 1000, None),  # past the end: cut at the end
    ],
)
def test_one_range(served: Served, asked: str, first: int, last: int | None) -> None:
    size = len(served.data)
    expected = served.data[first : None if last is None else last + 1]
    answer = served.get(Range=asked)
    assert answer.status_code == 206, answer.text
    assert answer.content == expected
    start = first % size
    assert answer.headers["content-range"] == f"bytes {start}-{start + len(expected) - 1}/{size}"
    assert answer.headers["content-length"] == str(len(expected))


def test_a_range_past_the_end_is_unsatisfiable(served: Served) -> None:
    size = len(served.data)
    answer = served.get(Range=f"bytes={size}-")
    assert answer.status_code == 416
    assert answer.headers["content-range"] == f"bytes */{size}"


def test_several_ranges_or_a_bad_one_get_the_whole_file(served: Served) -> None:
    for asked in ("bytes=0-9,20-29", "bytes=9-0", "items=0-9", "bytes=x-"):
        answer = served.get(Range=asked)
        assert answer.status_code == 200, asked
        assert answer.content == served.data


def test_head_says_what_get_would(served: Served) -> None:
    whole = served.ask("HEAD")
    assert whole.status_code == 200 and whole.content == b""
    assert whole.headers["content-length"] == str(len(served.data))
    part = served.ask("HEAD", Range="bytes=10-19")
    assert part.status_code == 206 and part.content == b""
    assert part.headers["content-range"] == f"bytes 10-19/{len(served.data)}"


def test_if_range_and_if_none_match(served: Served) -> None:
    first = served.get()
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    # The same file: the range holds.
    assert served.get(Range="bytes=0-9", **{"If-Range": etag}).status_code == 206
    assert served.get(Range="bytes=0-9", **{"If-Range": modified}).status_code == 206
    # Another version of the file: the whole of this one.
    for stale in ('"0123"', f"W/{etag}", "Tue, 01 Jan 2019 00:00:00 GMT"):
        answer = served.get(Range="bytes=0-9", **{"If-Range": stale})
        assert answer.status_code == 200, stale
        assert answer.content == served.data
    assert served.get(**{"If-None-Match": etag}).status_code == 304
    assert served.get(**{"If-None-Match": '"other"'}).status_code == 200


def test_another_members_video_is_not_found_and_a_missing_file_is_gone(served: Served) -> None:
    assert served.get(served.bob).status_code == 404
    assert served.get(served.bob, Range="bytes=0-0").status_code == 404
    # Bytes of their own, so that deleting the file leaves the other tests' one alone.
    data = served.data + b"another"
    gone = Served(**{**served.__dict__, "video_id": upload(served.url, served.ann, "g.mp4", data)})
    assert gone.get().content == data
    digest = hashlib.sha256(data).hexdigest()
    (served.settings.data_dir / "uploads" / UploadStore.key_for(digest)).unlink()
    answer = gone.get()
    assert answer.status_code == 410
    assert "no longer stored" in answer.json()["error"]
    assert "upload it again" in answer.json()["error"]


def test_range_header_reading() -> None:
    assert asked_range(None, 10) is None
    assert asked_range("bytes=-20", 10) == asked_range("bytes=0-9", 10)
    with pytest.raises(Unsatisfiable):
        asked_range("bytes=-0", 10)
    with pytest.raises(Unsatisfiable):
        asked_range("bytes=10-12", 10)
    assert asked_range("bytes= 3 - 4 ", 10) is not None
    assert asked_range("bytes=\xb2-", 10) is None  # "²" is a digit to Python, not to HTTP


@pytest.mark.anyio
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_from_s3_a_ranged_get_streamed_through(
    make_client: MakeClient, s3_endpoint: str, bucket: str, snow_clip: Clip
) -> None:
    # No fetch cache on this machine: the bytes can only come from the bucket.
    client = await make_client(**s3_settings(s3_endpoint, bucket, fetch_cache_mb=0))
    data = snow_clip.path.read_bytes()
    made = await client.post("/api/upload", files=video_files(("snow.webm", data)))
    assert made.status_code == 200, made.text
    media = f"/api/videos/{made.json()['videos'][0]['id']}/media"
    settings = client._transport.app.state.settings  # type: ignore[attr-defined]
    assert not [p for p in Path(settings.data_dir).rglob("*") if p.suffix == ".webm"]

    whole = await client.get(media)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/webm"
    part = await client.get(media, headers={"Range": "bytes=100-4195"})
    assert part.status_code == 206 and part.content == data[100:4196]
    tail = await client.get(media, headers={"Range": "bytes=-300"})
    assert tail.status_code == 206 and tail.content == data[-300:]
