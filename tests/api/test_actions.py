"""What users do to jobs and videos through the API: cancel, retry, regenerate, delete,
list, read the full record. The engine runs real worker processes; most tests use the
scripted jobs of tests/jobs (the video's name says what its job does)."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from tests.api.conftest import MakeClient, video_files, wait_for_job
from tests.jobs.scripted import SCRIPTED
from tests.media import Clip

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

SOME_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(4096)  # passes the first-bytes check


async def upload(client: httpx.AsyncClient, *names: str, **form: str) -> dict:
    files = video_files(*[(name, SOME_BYTES + name.encode()) for name in names])
    answer = await client.post("/api/upload", files=files, data=form)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def wait_status(client: httpx.AsyncClient, job_id: str, video_id: str, status: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        video = (await client.get(f"/api/job/{job_id}/video/{video_id}")).json()
        if video["statusDetail"] == status:
            return video
        assert time.monotonic() < deadline, video
        await anyio.sleep(0.1)


async def test_cancel_a_running_video_then_retry_it(make_client: MakeClient) -> None:
    client = await make_client(start_engine=True, job=SCRIPTED, max_concurrent_jobs=1)
    job = await upload(client, "sleep-60.mp4", "ok.mp4")
    slow = job["videos"][0]["id"]
    await wait_status(client, job["jobId"], slow, "processing")
    answer = await client.post(f"/api/job/{job['jobId']}/video/{slow}/cancel")
    assert answer.status_code == 200
    assert answer.json()["statusDetail"] == "cancelled"
    assert answer.json()["status"] == "failed"  # as the original front end must see it
    done = await wait_for_job(client, job["jobId"])
    assert [v["status"] for v in done["videos"]] == ["failed", "completed"]
    assert done["videos"][0]["error"] == "cancelled by a user"

    retried = await client.post(f"/api/job/{job['jobId']}/video/{slow}/retry")
    assert retried.status_code == 200
    assert retried.json()["status"] in ("pending", "processing")
    assert (await client.get(f"/api/job/{job['jobId']}")).json()["status"] == "processing"
    await client.post(f"/api/job/{job['jobId']}/cancel")
    assert (await client.get(f"/api/job/{job['jobId']}")).json()["status"] == "completed"


async def test_retry_every_failed_video_of_a_job(make_client: MakeClient) -> None:
    client = await make_client(start_engine=True, job=SCRIPTED, max_attempts=1)
    job = await upload(client, "raise.mp4", "ok.mp4", "reject.mp4")
    done = await wait_for_job(client, job["jobId"])
    assert [v["status"] for v in done["videos"]] == ["failed", "completed", "failed"]
    answer = await client.post(f"/api/job/{job['jobId']}/retry")
    assert answer.status_code == 200
    assert sorted(answer.json()["videoIds"]) == sorted(
        [done["videos"][0]["id"], done["videos"][2]["id"]]
    )
    again = await wait_for_job(client, job["jobId"])
    assert [v["attempts"] for v in again["videos"]] == [1, 1, 1]


async def test_regenerate_adds_a_story_version(make_client: MakeClient, speech_clip: Clip) -> None:
    client = await make_client(start_engine=True)
    job = (await client.post("/api/upload", files=video_files(("s.mp4", speech_clip.path)))).json()
    first = (await wait_for_job(client, job["jobId"]))["videos"][0]
    answer = await client.post(
        f"/api/job/{job['jobId']}/video/{first['id']}/regenerate", json={"seed": 42}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["story"] == first["story"]  # kept until the new one is written
    second = (await wait_for_job(client, job["jobId"]))["videos"][0]
    assert second["storyVersion"] == 2

    record = (await client.get(f"/api/videos/{first['id']}")).json()
    assert [s["version"] for s in record["stories"]] == [1, 2]
    assert [s["seed"] for s in record["stories"]] == [0, 42]
    assert record["stories"][0]["text"] == first["story"]
    assert record["stories"][1]["text"] == second["story"]
    # The evidence behind the story comes with the full record.
    assert record["evidence"]["media"]["duration_s"] == pytest.approx(
        sum(s.seconds for s in speech_clip.scenes), abs=0.2
    )
    assert "marathon" in record["evidenceSummary"]["transcript"].lower()


async def test_delete_a_job_and_its_files(make_client: MakeClient) -> None:
    client = await make_client(start_engine=True, job=SCRIPTED)
    keep = await upload(client, "ok.mp4")
    gone = await upload(client, "ok.mp4", "sleep-60.mp4")  # the first shares keep's bytes
    store = client._transport.app.state.uploads  # type: ignore[attr-defined]
    files_before = {p for p in store.root.rglob("*") if p.is_file()}
    assert len(files_before) == 2
    await wait_status(client, gone["jobId"], gone["videos"][1]["id"], "processing")
    answer = await client.delete(f"/api/job/{gone['jobId']}")
    assert answer.status_code == 200
    assert (await client.get(f"/api/job/{gone['jobId']}")).status_code == 404
    files_after = {p for p in store.root.rglob("*") if p.is_file()}
    assert len(files_after) == 1  # the shared file stays for the other job
    assert (await client.get(f"/api/job/{keep['jobId']}")).status_code == 200


async def test_jobs_are_listed_newest_first_a_page_at_a_time(make_client: MakeClient) -> None:
    client = await make_client()
    ids = [(await upload(client, f"v{i}.mp4", priority="low"))["jobId"] for i in range(5)]
    page = (await client.get("/api/jobs?limit=2")).json()
    assert page["total"] == 5
    assert [j["id"] for j in page["jobs"]] == ids[::-1][:2]
    rest = (await client.get("/api/jobs?offset=2&limit=10")).json()
    assert [j["id"] for j in rest["jobs"]] == ids[::-1][2:]
    assert rest["jobs"][0]["counts"]["waiting"] == 1
    assert rest["jobs"][0]["priority"] == "low"


async def test_upload_with_priority_and_teller(make_client: MakeClient) -> None:
    client = await make_client()
    job = await upload(client, "a.mp4", priority="high", teller="local")
    assert (job["priority"], job["teller"]) == ("high", "local")
    video = (await client.get(f"/api/job/{job['jobId']}")).json()["videos"][0]
    assert (video["priority"], video["teller"]) == ("high", "local")


async def test_a_big_batch_is_accepted_when_the_setting_allows(make_client: MakeClient) -> None:
    client = await make_client(max_batch_videos=100)
    job = await upload(client, *[f"v{i:03d}.mp4" for i in range(100)])
    assert len(job["videos"]) == 100
    listed = (await client.get(f"/api/job/{job['jobId']}")).json()["videos"]
    assert [v["originalName"] for v in listed] == [f"v{i:03d}.mp4" for i in range(100)]
