"""`storyteller serve` SIGKILLed while a batch's notification is on its way: started
again, it delivers it (the same `webhook-id`, so the receiver may dedupe)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.media import Clip
from tests.notifications.receiver import Answer, Receiver
from tests.service.server import ServeProcess

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_notification_cut_off_by_a_kill_is_delivered_after_the_restart(
    tmp_path: Path, database_url: str, receiver: Receiver, tone_clip: Clip
) -> None:
    server = ServeProcess(
        tmp_path / "data",
        STORYTELLER_DATABASE_URL=database_url,
        STORYTELLER_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
        STORYTELLER_WEBHOOK_TIMEOUT_S="1",  # a lease of 7 s
    )
    server.start()
    try:
        hook = httpx.post(
            f"{server.url}/api/webhooks",
            json={"url": receiver.url, "events": ["batch.completed"]},
            timeout=10,
        ).json()
        receiver.secret = hook["secret"]
        # The first delivery is still waiting for its answer when the server dies.
        receiver.answers = [Answer(200, delay_s=30)]
        with tone_clip.path.open("rb") as video:
            job = httpx.post(
                f"{server.url}/api/upload",
                files=[("videos", ("tone.mp4", video, "video/mp4"))],
                timeout=60,
            ).json()
        first = receiver.wait_for(1, timeout_s=120)[0]
        server.kill()
        server.start()
        again = receiver.wait_for(2, timeout_s=60)[1]
    finally:
        if server.running():
            server.kill()
    assert first.id == again.id and again.verified
    assert again.event["data"]["batch"]["id"] == job["jobId"]
    assert again.event["data"]["videos"][0]["status"] == "completed"
    time.sleep(0.5)
    assert len(receiver.arrivals) == 2
