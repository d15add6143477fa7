"""A batch at a glance (issue 17): places in line in the claim order, time left from the
measured pace, counts that add up, progress that moves, history searched, tellers that
cannot work refused at upload, and batches of 100 through multipart and tus."""

from __future__ import annotations

import base64
import time
from typing import Any

import anyio
import httpx
import pytest

from storyteller.jobs import engine
from tests.api.conftest import MakeClient, video_files, wait_for_job
from tests.jobs.scripted import SCRIPTED, runs
from tests.media import Clip

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

# Passes the upload's first-bytes check; the scripted jobs never read it.
SOME_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(256)
TUS = {"Tus-Resumable": "1.0.0"}
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def upload(client: httpx.AsyncClient, *names: str, **fields: str) -> dict[str, Any]:
    files = video_files(*((name, SOME_BYTES + name.encode()) for name in names))
    answer = await client.post("/api/upload", files=files, data=fields)
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    return job


async def job_of(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    answer = await client.get(f"/api/job/{job_id}")
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    return job


async def test_places_in_line_follow_the_claim_order(make_client: MakeClient) -> None:
    # No engine here: everything waits, and the places are read from the rows alone.
    client = await make_client()
    older = await upload(client, "ok-a0.mp4", "ok-a1.mp4", "ok-a2.mp4")
    newer = await upload(client, "ok-c0.mp4", "ok-c1.mp4")
    urgent = await upload(client, "ok-b0.mp4", "ok-b1.mp4", priority="high")
    places = {}
    for job_id in (older["jobId"], newer["jobId"], urgent["jobId"]):
        job = await job_of(client, job_id)
        assert job["counts"] == {
            "waiting": len(job["videos"]), "running": 0, "completed": 0, "failed": 0,
            "cancelled": 0,
        }  # fmt: skip
        assert job["etaS"] is None and job["endedAt"] is None  # no engine: no pace
        places.update({v["originalName"]: v["queuePosition"] for v in job["videos"]})
    # High first; then, with one slot (none reported: one is assumed), the older batch
    # first: a slot freed by a batch's video leaves it with none running, as the other.
    assert places == {
        "ok-b0.mp4": 1, "ok-b1.mp4": 2, "ok-a0.mp4": 3, "ok-a1.mp4": 4, "ok-a2.mp4": 5,
        "ok-c0.mp4": 6, "ok-c1.mp4": 7,
    }  # fmt: skip

    # An engine with one slot on the same database claims them in that very order.
    settings = client._transport.app.state.settings  # type: ignore[attr-defined]
    worker = await make_client(start_engine=True, job=SCRIPTED, max_concurrent_jobs=1)
    for job_id in (older["jobId"], newer["jobId"], urgent["jobId"]):
        await wait_for_job(worker, job_id, timeout=60, every=0.1)
    names = {}
    for job_id in (older["jobId"], newer["jobId"], urgent["jobId"]):
        names.update({v["id"]: v["originalName"] for v in (await job_of(client, job_id))["videos"]})
    assert [names[video_id] for video_id in runs(settings)] == sorted(places, key=places.get)


@SQLITE_ONLY
async def test_time_left_appears_once_videos_have_completed(make_client: MakeClient) -> None:
    client = await make_client(start_engine=True, job=SCRIPTED, max_concurrent_jobs=1)
    # A pace of about 0.3 s a video: each place further down the line adds a step the
    # answer's rounding (0.1 s) keeps.
    first = await upload(client, "sleep-0.3.mp4", "sleep-0.30.mp4", "sleep-0.300.mp4")
    done = await wait_for_job(client, first["jobId"], timeout=60, every=0.1)
    assert all(v["etaS"] is None and v["queuePosition"] is None for v in done["videos"])
    ended = await job_of(client, first["jobId"])
    assert ended["counts"]["completed"] == 3 and ended["etaS"] is None
    assert ended["endedAt"] is not None

    second = await upload(client, "sleep-1.5.mp4", "sleep-1.50.mp4", "sleep-1.500.mp4")
    deadline = time.monotonic() + 30
    while True:
        job = await job_of(client, second["jobId"])
        counts = job["counts"]
        assert sum(counts.values()) == 3
        if counts["running"] == 1 and counts["waiting"] == 2 and job["etaS"] is not None:
            break
        assert time.monotonic() < deadline, job
        await anyio.sleep(0.1)
    running = next(v for v in job["videos"] if v["statusDetail"] == "processing")
    waiting = [v for v in job["videos"] if v["statusDetail"] == "pending"]
    assert running["queuePosition"] is None and running["etaS"] is not None
    assert [v["queuePosition"] for v in waiting] == [1, 2]
    assert all(v["etaS"] > running["etaS"] for v in waiting)
    assert waiting[1]["etaS"] > waiting[0]["etaS"]
    assert job["etaS"] == max(v["etaS"] for v in job["videos"])


@pytest.mark.slow  # 15-40 s: a real analysis (the pipeline's own test checks the same faster)
@SQLITE_ONLY
async def test_a_real_clip_s_progress_moves_forward_in_named_stages(
    make_client: MakeClient, speech_clip: Clip, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Heartbeats ten times a second: each reaches the API while the clip is analysed.
    monkeypatch.setattr(engine, "HEARTBEAT_EVERY_S", 0.1)
    client = await make_client(start_engine=True)
    made = await client.post("/api/upload", files=video_files(("speech.mp4", speech_clip.path)))
    assert made.status_code == 200, made.text
    job_id, video_id = made.json()["jobId"], made.json()["videos"][0]["id"]
    seen: list[tuple[float, str | None]] = []
    deadline = time.monotonic() + 120
    while True:
        video = (await job_of(client, job_id))["videos"][0]
        if video["statusDetail"] == "processing":
            seen.append((video["progress"], video["stageLabel"]))
        if video["statusDetail"] in ("completed", "failed"):
            break
        assert time.monotonic() < deadline
        await anyio.sleep(0.05)
    assert video["statusDetail"] == "completed", video["error"]
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions), fractions
    assert len(set(fractions)) >= 10, fractions
    labels = {label for _, label in seen} - {None}
    assert labels >= {"finding the shots"}, labels
    assert labels <= {
        "starting", "reading the file", "finding the shots", "reading the text on screen",
        "looking at the pictures", "listening", "writing the story",
    }, labels  # fmt: skip
    # Its picture was made on the way, and the history shows it.
    picture = await client.get(f"/api/videos/{video_id}/thumbnail")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert picture.content[:3] == b"\xff\xd8\xff" and len(picture.content) < 40_000
    summary = (await client.get("/api/jobs")).json()["jobs"][0]
    assert summary["thumbnails"] == [video_id]
    assert summary["title"] and summary["names"] == ["speech.mp4"]


@SQLITE_ONLY
async def test_history_is_searched_by_name_and_title_with_wildcards_taken_literally(
    make_client: MakeClient,
) -> None:
    client = await make_client(start_engine=True, job=SCRIPTED)
    percent = await upload(client, "100%_done.mp4")
    thousand = await upload(client, "1000x.mp4")
    underscore = await upload(client, "a_b.mp4")
    many = await upload(client, "axb.mp4", "ok.mp4", "x.mp4", "y.mp4", "reject.mp4")
    for job in (percent, thousand, underscore, many):
        await wait_for_job(client, job["jobId"], timeout=60, every=0.1)

    async def found(q: str) -> list[str]:
        answer = await client.get("/api/jobs", params={"q": q})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert page["total"] == len(page["jobs"])
        return [job["id"] for job in page["jobs"]]

    assert await found("100%") == [percent["jobId"]]
    assert await found("A_B") == [underscore["jobId"]]
    assert await found("%") == [percent["jobId"]]
    assert await found("Y.MP4") == [many["jobId"]]
    # Only a title says "story of" (the scripted stories are "Story of NAME").
    assert await found("story of a_b") == [underscore["jobId"]]
    assert await found("nothing like it") == []

    summary = next(
        job for job in (await client.get("/api/jobs")).json()["jobs"] if job["id"] == many["jobId"]
    )
    assert summary["names"] == ["axb.mp4", "ok.mp4", "x.mp4"] and summary["moreNames"] == 2
    assert summary["title"] == "Story of axb.mp4"
    assert summary["counts"] == {
        "waiting": 0, "running": 0, "completed": 4, "failed": 1, "cancelled": 0,
    }  # fmt: skip
    assert summary["videoCount"] == sum(summary["counts"].values())
    assert summary["thumbnails"] == []  # the scripted jobs look at nothing
    # Batch buttons that would do nothing say so in words.
    retried = (await client.post(f"/api/job/{percent['jobId']}/retry")).json()
    assert retried["videoIds"] == [] and retried["message"].startswith("nothing to retry")
    cancelled = (await client.post(f"/api/job/{percent['jobId']}/cancel")).json()
    assert cancelled["message"] == "nothing to cancel: every video of this job has already ended"
    rejected = next(v for v in (await job_of(client, many["jobId"]))["videos"] if v["error"])
    assert rejected["retryable"] is False
    assert rejected["retryNote"] == "not a video file: upload a different file"


async def test_a_teller_without_its_key_is_refused_at_upload(make_client: MakeClient) -> None:
    client = await make_client()
    tellers = (await client.get("/api/tellers")).json()
    details = {detail["name"]: detail for detail in tellers["details"]}
    assert [detail["name"] for detail in tellers["details"]] == tellers["tellers"]
    assert details["local"] == {"name": "local", "ready": True, "needs": None, "models": []}
    assert details["gemini"]["ready"] is False
    assert details["gemini"]["needs"] == "Set GEMINI_API_KEY to use Gemini."
    assert details["gemini"]["models"][0] == "gemini-2.5-flash"

    refused = await client.post(
        "/api/upload", files=video_files(("a.mp4", SOME_BYTES)), data={"teller": "gemini"}
    )
    assert refused.status_code == 422
    assert "Set GEMINI_API_KEY" in refused.json()["error"]
    upload_id = await tus_upload(client, "a.mp4", SOME_BYTES)
    refused = await client.post(
        "/api/uploads/batch", json={"uploads": [upload_id], "teller": "openai"}
    )
    assert refused.status_code == 422 and "OPENAI_API_KEY" in refused.json()["error"]
    assert (await client.get("/api/jobs")).json()["total"] == 0
    # The upload is still there to be sent with a teller that works.
    taken = await client.post("/api/uploads/batch", json={"uploads": [upload_id]})
    assert taken.status_code == 200, taken.text


async def tus_upload(client: httpx.AsyncClient, name: str, data: bytes) -> str:
    metadata = f"filename {base64.b64encode(name.encode()).decode()}"
    begun = await client.post(
        "/api/uploads/",
        headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata},
    )
    assert begun.status_code == 201, begun.text
    location = begun.headers["location"]
    sent = await client.patch(
        location,
        content=data,
        headers={**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"},
    )
    assert sent.status_code == 204, sent.text
    return location.rstrip("/").rsplit("/", 1)[-1]


@SQLITE_ONLY
async def test_a_batch_of_100_through_tus_and_through_multipart(make_client: MakeClient) -> None:
    client = await make_client()
    limits = (await client.get("/api/limits")).json()
    assert limits["maxBatchVideos"] == 100
    ids = [await tus_upload(client, f"v{i:03}.mp4", SOME_BYTES + bytes([i])) for i in range(100)]
    answer = await client.post("/api/uploads/batch", json={"uploads": ids})
    assert answer.status_code == 200, answer.text
    job = await job_of(client, answer.json()["jobId"])
    assert [v["originalName"] for v in job["videos"]] == [f"v{i:03}.mp4" for i in range(100)]
    assert job["counts"]["waiting"] == 100
    assert sorted(v["queuePosition"] for v in job["videos"]) == list(range(1, 101))

    many = await upload(client, *(f"m{i:03}.mp4" for i in range(100)))
    assert len(many["videos"]) == 100 and all(v["status"] == "pending" for v in many["videos"])
    too_many = await client.post(
        "/api/upload", files=video_files(*((f"x{i}.mp4", SOME_BYTES) for i in range(101)))
    )
    assert too_many.status_code == 400
