"""Many machines, played on one: a web process with STORYTELLER_JOB_ENGINE=workers and a
`storyteller worker` on PostgreSQL. The worker ends the batch; its notifications leave
once each, from whichever process claims them, woken by NOTIFY (the poll is set to 30 s)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.jobs.scripted import SCRIPTED
from tests.notifications.receiver import Receiver
from tests.service.server import ServeProcess, WorkerProcess

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_batch_ended_by_a_worker_is_told_once(
    tmp_path: Path, database_url: str, receiver: Receiver
) -> None:
    settings = {
        "STORYTELLER_DATABASE_URL": database_url,
        "STORYTELLER_JOB_ENGINE": "workers",
        "STORYTELLER_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "STORYTELLER_NOTIFICATION_POLL_S": "30",  # so the NOTIFY must do it
    }
    web = ServeProcess(tmp_path / "data", **settings)
    worker = WorkerProcess(tmp_path / "data", job=SCRIPTED, **settings)
    web.start()
    worker.start()
    try:
        hook = httpx.post(
            f"{web.url}/api/webhooks",
            json={"url": receiver.url, "events": ["batch.completed", "video.completed"]},
            timeout=10,
        ).json()
        receiver.secret = hook["secret"]
        job = httpx.post(
            f"{web.url}/api/upload",
            files=[("videos", ("ok.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(64), "video/mp4"))],
            timeout=30,
        ).json()
        got = receiver.wait_for(2, timeout_s=60)
        time.sleep(1.0)
    finally:
        worker.kill()
        web.kill()
    assert len(receiver.arrivals) == 2 and all(a.verified for a in got)
    assert sorted(a.event["type"] for a in got) == ["batch.completed", "video.completed"]
    assert all(a.event["data"]["batch"]["id"] == job["jobId"] for a in got)
