"""Story versions through the API: each with its sentences linked to the evidence, one
current (the one the job shows, exported and sent), chosen by its owner."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.accounts.people import add_person
from tests.api.conftest import MakeClient, video_files, wait_for_job
from tests.media import Clip
from tests.tellers.linked import assert_grounded_view

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]

SOME_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(4096)  # passes the first-bytes check


async def record_of(client: httpx.AsyncClient, video_id: str, **options: Any) -> dict[str, Any]:
    answer = await client.get(f"/api/videos/{video_id}", **options)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def write_again(client: httpx.AsyncClient, job_id: str, video_id: str, seed: int) -> None:
    path = f"/api/job/{job_id}/video/{video_id}/regenerate"
    answer = await client.post(path, json={"seed": seed})
    assert answer.status_code == 200, answer.text
    await wait_for_job(client, job_id)


async def test_choose_a_version_then_write_again(
    make_client: MakeClient, database_url: str, speech_clip: Clip
) -> None:
    await make_client()  # the database, ready for its people before any worker runs
    ann = add_person(database_url, "ann")
    bob = add_person(database_url, "bob")
    client = await make_client(start_engine=True)
    client.headers.update(ann.auth)
    job = (await client.post("/api/upload", files=video_files(("s.mp4", speech_clip.path)))).json()
    job_id, video_id = job["jobId"], job["videos"][0]["id"]
    await wait_for_job(client, job_id)

    # The first story's sentences stand on the clip's speech, caption and shots.
    first = await record_of(client, video_id)
    (version,) = first["stories"]
    assert version["current"] is True
    assert_grounded_view(version["sentences"], version["paragraphs"], first["evidence"])
    kinds = {s["kind"] for sentence in version["sentences"] for s in sentence["sources"]}
    assert kinds >= {"speech", "scene"}, version["sentences"]

    await write_again(client, job_id, video_id, seed=1)
    await write_again(client, job_id, video_id, seed=2)
    record = await record_of(client, video_id)
    texts = [story["text"] for story in record["stories"]]
    assert len(set(texts)) == 3
    assert [story["current"] for story in record["stories"]] == [False, False, True]

    chosen = await client.post(f"/api/videos/{video_id}/stories/1/current")
    assert chosen.status_code == 200, chosen.text
    assert [story["current"] for story in chosen.json()["stories"]] == [True, False, False]
    assert chosen.json()["story"] == texts[0]

    # The job shows it, and every export holds it.
    polled = (await client.get(f"/api/job/{job_id}")).json()["videos"][0]
    assert (polled["story"], polled["storyVersion"]) == (texts[0], 1)
    markdown = await client.get(f"/api/videos/{video_id}/export?format=md")
    assert markdown.status_code == 200
    first_only, last_only = (
        set(record["stories"][i]["paragraphs"]) - set(record["stories"][2 - i]["paragraphs"])
        for i in (0, 2)
    )
    assert first_only and last_only
    assert all(paragraph in markdown.text for paragraph in first_only), markdown.text
    assert not any(paragraph in markdown.text for paragraph in last_only), markdown.text
    exported = json.loads((await client.get(f"/api/job/{job_id}/export?format=json")).content)
    (video,) = exported["videos"]
    assert (video["story"]["version"], video["currentVersion"]) == (1, 1)
    assert video["story"]["sentences"] == record["stories"][0]["sentences"]

    # Another member's video does not exist for them; a version it does not have is 404.
    refused = await client.post(f"/api/videos/{video_id}/stories/1/current", headers=bob.auth)
    assert refused.status_code == 404
    missing = await client.post(f"/api/videos/{video_id}/stories/9/current")
    assert missing.status_code == 404
    assert missing.json()["error"] == "s.mp4 has no story version 9: its versions are 1 to 3"

    # Writing again makes the new version current: the user asked for it.
    await write_again(client, job_id, video_id, seed=3)
    record = await record_of(client, video_id)
    assert [story["current"] for story in record["stories"]] == [False, False, False, True]
    polled = (await client.get(f"/api/job/{job_id}")).json()["videos"][0]
    assert polled["storyVersion"] == 4


async def test_a_video_without_a_story_has_no_version_to_choose(make_client: MakeClient) -> None:
    client = await make_client()
    job = (await client.post("/api/upload", files=video_files(("a.mp4", SOME_BYTES)))).json()
    video_id = job["videos"][0]["id"]
    answer = await client.post(f"/api/videos/{video_id}/stories/1/current")
    assert answer.status_code == 409
    assert answer.json()["error"] == (
        "a.mp4 has no story yet: a version can be chosen once one is written (it is pending)"
    )
    record = await record_of(client, video_id)
    assert record["stories"] == []
    assert (await client.post(f"/api/videos/{video_id}/stories/0/current")).status_code == 422
    nobody = "00000000-0000-4000-8000-000000000000"
    assert (await client.post(f"/api/videos/{nobody}/stories/1/current")).status_code == 404
