"""The admin's API in-process, on SQLite and PostgreSQL: the summary counts what the
database holds for a seeded mix of states, and every control works through the real
engine (scripted jobs in real worker processes)."""

from __future__ import annotations

import anyio
import pytest
from sqlalchemy import func, select

from storyteller.db.models import Batch, Video, VideoStatus
from storyteller.db.session import make_engine
from tests.admin.seed import seed
from tests.api.conftest import MakeClient, wait_for_job
from tests.api.test_actions import upload, wait_status
from tests.jobs.scripted import SCRIPTED

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]


async def test_the_summary_counts_what_the_database_holds(
    make_client: MakeClient, database_url: str
) -> None:
    client = await make_client(daily_budget_usd=5.0)
    db = make_engine(database_url)
    try:
        seeded = seed(db, videos=200, per_batch=25)
    finally:
        db.dispose()
    answer = await client.get("/api/admin/summary")
    assert answer.status_code == 200, answer.text
    summary = answer.json()
    assert summary["paused"] is False
    assert {row["priority"]: row["count"] for row in summary["waiting"] if row["count"]} == (
        seeded.waiting_by_priority
    )
    assert len(summary["running"]) == seeded.by_status["processing"]
    assert {row["code"]: row["count"] for row in summary["failures"]} == seeded.failed_by_code
    assert all(1 <= len(row["examples"]) <= 3 for row in summary["failures"])
    for span, expected in (
        ("lastHour", seeded.ended_last_hour),
        ("lastDay", seeded.ended_last_day),
    ):
        assert {k: v for k, v in summary["ended"][span].items() if v} == expected
    day = seeded.ended_last_day
    assert sum(summary["throughput"]) == day.get("completed", 0) + day.get("failed", 0)
    assert len(summary["throughput"]) == 1440
    spending = summary["spending"]
    assert spending["dailyBudgetUsd"] == 5.0
    assert spending["failedTodayUsd"] == pytest.approx(seeded.failed_today_usd, abs=1e-6)
    assert spending["todayUsd"] == pytest.approx(
        seeded.stories_today_usd + seeded.failed_today_usd, abs=1e-5
    )
    assert {row["stage"]: row["count"] for row in summary["stages"]} == seeded.stage_runs
    for row in summary["stages"]:
        assert 0 < row["p50S"] <= row["p95S"]
    assert len(summary["batches"]) == len({b for b in seeded.batches}) or len(
        summary["batches"]
    ) <= len(seeded.batches)


async def test_pause_then_submit_nothing_is_claimed_until_resume(
    make_client: MakeClient,
) -> None:
    client = await make_client(start_engine=True, job=SCRIPTED, max_concurrent_jobs=1)
    assert (await client.post("/api/admin/pause")).json() == {"paused": True}
    job = await upload(client, "ok-1.mp4", "ok-2.mp4")
    await anyio.sleep(2.0)
    videos = (await client.get(f"/api/job/{job['jobId']}")).json()["videos"]
    assert {video["statusDetail"] for video in videos} == {"pending"}
    assert (await client.get("/api/admin/summary")).json()["paused"] is True
    assert (await client.post("/api/admin/resume")).json() == {"paused": False}
    done = await wait_for_job(client, job["jobId"], timeout=30)
    assert {video["status"] for video in done["videos"]} == {"completed"}


async def test_drain_a_worker_it_finishes_its_video_and_takes_no_other(
    make_client: MakeClient,
) -> None:
    client = await make_client(start_engine=True, job=SCRIPTED, max_concurrent_jobs=1)
    job = await upload(client, "sleep-2.mp4", "ok.mp4")
    first, second = job["videos"]
    await wait_status(client, job["jobId"], first["id"], "processing")
    workers = (await client.get("/api/admin/workers")).json()
    assert len(workers) == 1 and workers[0]["kind"] == "embedded"
    worker_id = workers[0]["id"]
    drained = await client.post(f"/api/admin/workers/{worker_id}/drain")
    assert drained.json()["draining"] is True
    await wait_status(client, job["jobId"], first["id"], "completed")
    await anyio.sleep(1.5)
    assert (await client.get(f"/api/job/{job['jobId']}/video/{second['id']}")).json()[
        "statusDetail"
    ] == "pending"
    summary = (await client.get("/api/admin/summary")).json()
    assert summary["workers"][0]["state"] == "drained"
    assert summary["workers"][0]["videosDone"] == 1
    await client.post(f"/api/admin/workers/{worker_id}/resume")
    await wait_for_job(client, job["jobId"], timeout=30)
    missing = await client.post("/api/admin/workers/nobody/drain")
    assert missing.status_code == 404 and "nobody" in missing.json()["error"]


async def test_batch_controls_and_retry_by_cause(
    make_client: MakeClient, database_url: str
) -> None:
    client = await make_client(start_engine=True, job=SCRIPTED, max_concurrent_jobs=1)
    # Uploaded while all processing is paused, so the engine cannot take the video before
    # its batch is paused.
    await client.post("/api/admin/pause")
    held = await upload(client, "ok-held.mp4")
    paused = await client.post(f"/api/admin/jobs/{held['jobId']}/pause")
    assert paused.json() == {"jobId": held["jobId"], "paused": True, "priority": None, "videos": 1}
    await client.post("/api/admin/resume")
    failing = await upload(client, "reject-1.mp4", "reject-2.mp4")
    await wait_for_job(client, failing["jobId"], timeout=30)
    assert (await client.get(f"/api/job/{held['jobId']}")).json()["videos"][0][
        "statusDetail"
    ] == "pending"
    changed = await client.post(
        f"/api/admin/jobs/{held['jobId']}/priority", json={"priority": "high"}
    )
    assert changed.json()["priority"] == "high" and changed.json()["videos"] == 1
    bad = await client.post(f"/api/admin/jobs/{held['jobId']}/priority", json={"priority": "x"})
    assert bad.status_code == 422
    failures = (await client.get("/api/admin/summary")).json()["failures"]
    assert [(row["code"], row["count"], row["label"]) for row in failures] == [
        ("not_a_video", 2, "not a video")
    ]
    await client.post(f"/api/admin/jobs/{held['jobId']}/resume")
    await wait_for_job(client, held["jobId"], timeout=30)
    retried = (await client.post("/api/admin/failures/not_a_video/retry")).json()
    assert retried["retried"] == 2
    await wait_for_job(client, failing["jobId"], timeout=30)  # rejected again
    db = make_engine(database_url)
    try:
        with db.connect() as connection:
            priority = connection.scalar(select(Batch.priority).where(Batch.id == held["jobId"]))
            assert priority == "high"
            attempts = connection.scalar(
                select(func.count()).where(
                    Video.batch_id == failing["jobId"], Video.status == VideoStatus.FAILED
                )
            )
            assert attempts == 2
    finally:
        db.dispose()
