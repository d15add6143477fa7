"""Every refusal is `{"error": "..."}` with the status that names it, and creates nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import MakeClient, video_files
from tests.media import Clip

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


def assert_error(answer, status: int, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    for word in words:
        assert word in body["error"]


async def test_an_upload_without_videos_is_400(make_client: MakeClient) -> None:
    client = await make_client()
    assert_error(await client.post("/api/upload"), 400, "multipart/form-data")
    assert_error(
        await client.post("/api/upload", files={"other": ("a.txt", b"hello", "text/plain")}),
        400,
        "no videos",
    )
    assert (await client.get("/api/stats")).json()["totalJobs"] == 0


async def test_more_files_than_a_batch_may_hold_is_400(
    make_client: MakeClient, speech_clip: Clip
) -> None:
    client = await make_client(max_batch_videos=2)
    files = video_files(*[(f"v{i}.mp4", speech_clip.path) for i in range(3)])
    assert_error(await client.post("/api/upload", files=files), 400, "at most 2")
    stored = list((client._transport.app.state.uploads.root).rglob("*"))  # type: ignore[attr-defined]
    assert [p for p in stored if p.is_file()] == []  # nothing kept, no partial left


async def test_unknown_ids_are_404(make_client: MakeClient, speech_clip: Clip) -> None:
    client = await make_client()
    assert_error(await client.get("/api/job/nope"), 404, "no job")
    job = (await client.post("/api/upload", files=video_files(("a.mp4", speech_clip.path)))).json()
    assert_error(await client.get(f"/api/job/{job['jobId']}/video/nope"), 404, "no video")
    assert_error(await client.get("/api/videos/nope"), 404)
    assert_error(await client.post("/api/job/nope/cancel"), 404)
    assert_error(await client.delete("/api/job/nope"), 404)
    assert_error(await client.get("/api/nothing-here"), 404, "/api/nothing-here")


async def test_actions_in_the_wrong_state_are_409(
    make_client: MakeClient, speech_clip: Clip
) -> None:
    client = await make_client()  # no engine: the video stays pending
    job = (await client.post("/api/upload", files=video_files(("a.mp4", speech_clip.path)))).json()
    video = f"/api/job/{job['jobId']}/video/{job['videos'][0]['id']}"
    assert_error(await client.post(f"{video}/retry"), 409, "only a failed or cancelled")
    assert_error(await client.post(f"{video}/regenerate"), 409, "only a completed")
    assert (await client.post(f"{video}/cancel")).status_code == 200
    assert_error(await client.post(f"{video}/cancel"), 409, "cancelled")


async def test_a_file_over_the_limit_is_413(make_client: MakeClient) -> None:
    client = await make_client(video_max_size_mb=1)
    big = b"\x00\x00\x00\x18ftypmp42" + bytes(2 * 1024 * 1024)
    assert_error(
        await client.post("/api/upload", files=video_files(("big.mp4", big))), 413, "at most 1 MB"
    )


async def test_a_batch_of_only_pictures_is_415(
    make_client: MakeClient, bad_inputs: dict[str, Path]
) -> None:
    client = await make_client()
    answer = await client.post(
        "/api/upload",
        files=video_files(("a.mp4", bad_inputs["image"]), ("b.mp4", bad_inputs["text"])),
    )
    assert_error(answer, 415, "a.mp4", "b.mp4")
    assert (await client.get("/api/stats")).json()["totalJobs"] == 0


async def test_bad_fields_are_422(make_client: MakeClient, speech_clip: Clip) -> None:
    client = await make_client()
    files = video_files(("a.mp4", speech_clip.path))
    assert_error(await client.post("/api/upload?priority=urgent", files=files), 422, "priority")
    assert_error(
        await client.post("/api/upload", files=files, data={"teller": "shakespeare"}),
        422,
        "unknown teller",
    )
    assert_error(await client.get("/api/jobs?limit=0"), 422, "limit")
    assert (await client.get("/api/stats")).json()["totalJobs"] == 0


async def test_cors_lets_the_original_front_end_call_across_origins(
    make_client: MakeClient,
) -> None:
    # Once its origin is listed: by default only the service's own page may call it.
    client = await make_client(cors_origins=["http://localhost:3000"])
    preflight = await client.options(
        "/api/upload",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    answer = await client.get("/health", headers={"Origin": "http://localhost:3000"})
    assert answer.headers["access-control-allow-origin"] == "http://localhost:3000"


async def test_cors_can_be_limited_to_configured_origins(make_client: MakeClient) -> None:
    client = await make_client(cors_origins=["https://stories.example"])
    allowed = await client.get("/health", headers={"Origin": "https://stories.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://stories.example"
    other = await client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_the_api_is_documented(make_client: MakeClient) -> None:
    client = await make_client()
    assert (await client.get("/docs")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/api/upload", "/api/job/{jobId}", "/api/job/{jobId}/video/{videoId}",
                 "/api/stats", "/health", "/api/jobs", "/api/videos/{videoId}"):  # fmt: skip
        assert path in paths


async def test_a_file_refused_at_upload_cannot_be_retried(
    make_client: MakeClient, speech_clip: Clip, bad_inputs: dict[str, Path]
) -> None:
    client = await make_client()
    files = video_files(("good.mp4", speech_clip.path), ("notes.mp4", bad_inputs["text"]))
    job = (await client.post("/api/upload", files=files)).json()
    refused = job["videos"][1]
    assert refused["status"] == "failed"
    answer = await client.post(f"/api/job/{job['jobId']}/video/{refused['id']}/retry")
    assert_error(answer, 409, "refused at upload", "it is a text file", "upload the file again")
    retried = (await client.post(f"/api/job/{job['jobId']}/retry")).json()
    assert retried["videoIds"] == []
    video = (await client.get(f"/api/job/{job['jobId']}/video/{refused['id']}")).json()
    assert "it is a text file" in video["error"]


async def test_an_estimate_before_sending(make_client: MakeClient) -> None:
    client = await make_client()
    answer = await client.post(
        "/api/estimate",
        json={"teller": "gemini", "videos": [{"name": "a.mp4", "durationS": 60}]},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] and body["tokensIn"] > 0 and body["dollars"] > 0
    assert body["videos"][0]["name"] == "a.mp4"
    assert_error(
        await client.post(
            "/api/estimate", json={"teller": "nobody", "videos": [{"name": "a", "durationS": 1}]}
        ),
        422,
        "unknown teller",
    )
    assert_error(await client.post("/api/estimate", json={"videos": []}), 422, "videos")
