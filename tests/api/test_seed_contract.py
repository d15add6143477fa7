"""The original front end against our server: upload, poll every few seconds until every
video is completed or failed, read the stories; every field name and type it reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import MakeClient, video_files, wait_for_job
from tests.media import Clip

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300)]

ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SEED_VIDEO = {"id", "originalName", "status", "story", "error", "createdAt", "completedAt"}
SEED_JOB = {"id", "status", "videos", "createdAt", "completedAt"}


def check_seed_video(video: dict[str, Any]) -> None:
    assert set(video) >= SEED_VIDEO
    assert isinstance(video["id"], str)
    assert isinstance(video["originalName"], str)
    assert video["status"] in ("pending", "processing", "completed", "failed")
    assert ISO_MS_Z.match(video["createdAt"])
    if video["status"] == "completed":
        assert isinstance(video["story"], str) and video["story"]
        assert video["error"] is None
        assert ISO_MS_Z.match(video["completedAt"])
    elif video["status"] == "failed":
        assert isinstance(video["error"], str) and video["error"]
        assert ISO_MS_Z.match(video["completedAt"])
    else:
        assert video["story"] is None and video["completedAt"] is None


async def test_the_original_front_end_sequence(
    make_client: MakeClient, speech_clip: Clip, snow_clip: Clip, bad_inputs: dict[str, Path]
) -> None:
    client = await make_client(start_engine=True)
    files = video_files(
        ("speech.mp4", speech_clip.path), ("snow.webm", snow_clip.path),
        ("broken.mp4", bad_inputs["no_moov"]),
    )  # fmt: skip
    answer = await client.post("/api/upload", files=files)
    assert answer.status_code == 200, answer.text
    upload = answer.json()
    assert {"jobId", "message", "videos"} <= set(upload)
    assert isinstance(upload["jobId"], str) and isinstance(upload["message"], str)
    assert [v["name"] for v in upload["videos"]] == ["speech.mp4", "snow.webm", "broken.mp4"]
    for video in upload["videos"]:
        assert {"id", "name", "status"} <= set(video)
        assert video["status"] == "pending"

    # Listed from the first answer on, with the ids the upload gave.
    first = (await client.get(f"/api/job/{upload['jobId']}")).json()
    assert [v["id"] for v in first["videos"]] == [v["id"] for v in upload["videos"]]
    assert first["status"] == "processing"

    job = await wait_for_job(client, upload["jobId"])
    assert set(job) >= SEED_JOB
    assert job["id"] == upload["jobId"]
    assert job["status"] == "completed"
    assert ISO_MS_Z.match(job["createdAt"]) and ISO_MS_Z.match(job["completedAt"])
    for video in job["videos"]:
        check_seed_video(video)
    speech, snow, broken = job["videos"]
    assert speech["status"] == snow["status"] == "completed"
    assert "marathon" in speech["story"].lower() or "kitten" in speech["story"].lower()
    assert broken["status"] == "failed"
    assert "broken.mp4" in broken["error"]

    one = await client.get(f"/api/job/{job['id']}/video/{speech['id']}")
    assert one.status_code == 200
    assert {k: one.json()[k] for k in SEED_VIDEO} == {k: speech[k] for k in SEED_VIDEO}

    stats = (await client.get("/api/stats")).json()
    assert set(stats["queue"]) >= {"waiting", "active", "completed", "failed"}
    assert stats["queue"]["completed"] == 2 and stats["queue"]["failed"] == 1
    assert stats["totalJobs"] == 1
    assert all(isinstance(n, int) for n in stats["queue"].values())

    health = (await client.get("/health")).json()
    assert health["status"] == "healthy" and ISO_MS_Z.match(health["timestamp"])


async def test_bad_files_fail_alone_with_their_reasons(
    make_client: MakeClient, speech_clip: Clip, bad_inputs: dict[str, Path]
) -> None:
    client = await make_client(start_engine=True)
    files = video_files(
        ("empty.mp4", bad_inputs["empty"]), ("picture.mp4", bad_inputs["image"]),
        ("notes.mp4", bad_inputs["text"]), ("truncated.mp4", bad_inputs["no_moov"]),
        ("good.mp4", speech_clip.path),
    )  # fmt: skip
    upload = (await client.post("/api/upload", files=files)).json()
    # What the first bytes show is refused at once; the rest is left to the probe.
    refused_now = {v["name"]: v["error"] for v in upload["videos"] if v["status"] == "failed"}
    assert set(refused_now) == {"empty.mp4", "picture.mp4", "notes.mp4"}
    job = await wait_for_job(client, upload["jobId"])
    by_name = {v["originalName"]: v for v in job["videos"]}
    assert by_name["good.mp4"]["status"] == "completed"
    for name in ("empty.mp4", "picture.mp4", "notes.mp4", "truncated.mp4"):
        assert by_name[name]["status"] == "failed"
        assert name in by_name[name]["error"]
    assert "empty" in by_name["empty.mp4"]["error"]
    assert "image" in by_name["picture.mp4"]["error"]
    assert "text" in by_name["notes.mp4"]["error"]
