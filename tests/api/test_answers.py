"""Answers found wrong by fuzzing the server, and the seed front end's view of a queued
video."""

from __future__ import annotations

import base64

import pytest

from tests.api.conftest import MakeClient, video_files
from tests.media import Clip

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

TUS = {"Tus-Resumable": "1.0.0"}


def allowed(answer) -> set[str]:  # type: ignore[no-untyped-def]
    return {method.strip() for method in answer.headers["allow"].split(",")}


async def test_a_405_names_every_method_the_path_answers(make_client: MakeClient) -> None:
    client = await make_client()
    answer = await client.put("/api/job/x")
    assert answer.status_code == 405
    assert set(answer.json()) == {"error"}
    assert allowed(answer) == {"GET", "DELETE"}
    answer = await client.put("/api/uploads/0123456789abcdef0123456789abcdef", headers=TUS)
    assert answer.status_code == 405
    assert allowed(answer) == {"HEAD", "PATCH", "DELETE"}


async def test_live_updates_of_an_unknown_job_are_404(make_client: MakeClient) -> None:
    # (A known job's stream is tested on a real server: tests/service/test_events.py.)
    client = await make_client()
    answer = await client.get("/api/events", params={"job": "junk"})
    assert answer.status_code == 404
    assert answer.json() == {"error": "no job with that id"}


async def test_an_unnamed_resumable_upload_over_the_limit_reads_naturally(
    make_client: MakeClient,
) -> None:
    client = await make_client(video_max_size_mb=1)
    answer = await client.post("/api/uploads/", headers={**TUS, "Upload-Length": str(2 << 20)})
    assert answer.status_code == 413
    assert answer.json() == {"error": "the video is too large: a video may be at most 1 MB"}
    named = base64.b64encode(b"big.mp4").decode()
    answer = await client.post(
        "/api/uploads/",
        headers={**TUS, "Upload-Length": str(2 << 20), "Upload-Metadata": f"filename {named}"},
    )
    assert answer.json()["error"].startswith("big.mp4 is too large")


async def test_a_queued_video_is_processing_where_the_seed_front_end_polls(
    make_client: MakeClient, speech_clip: Clip
) -> None:
    client = await make_client()  # no engine: the video stays queued
    upload = (
        await client.post("/api/upload", files=video_files(("a.mp4", speech_clip.path)))
    ).json()
    [uploaded] = upload["videos"]
    assert (uploaded["status"], uploaded["statusDetail"]) == ("pending", "pending")
    job = (await client.get(f"/api/job/{upload['jobId']}")).json()
    [video] = job["videos"]
    assert (video["status"], video["statusDetail"]) == ("processing", "pending")
    assert job["status"] == "processing"
    alone = (await client.get(f"/api/job/{upload['jobId']}/video/{uploaded['id']}")).json()
    assert (alone["status"], alone["statusDetail"]) == ("processing", "pending")
    cancelled = (
        await client.post(f"/api/job/{upload['jobId']}/video/{uploaded['id']}/cancel")
    ).json()
    assert (cancelled["status"], cancelled["statusDetail"]) == ("failed", "cancelled")
