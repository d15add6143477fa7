"""Notifications delivered by the running service to a real receiver on 127.0.0.1 (allowed
by the setting), every signature checked with the `standardwebhooks` library."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import anyio.to_thread
import httpx
import pytest
from sqlalchemy import select

from storyteller.db.models import OutboxMessage
from storyteller.db.session import make_engine
from tests.api.conftest import MakeClient, video_files
from tests.jobs.scripted import SCRIPTED
from tests.notifications.receiver import Answer, Arrival, Receiver

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
# The delivery rules are the same on both databases: one (the end-to-end test) runs on
# PostgreSQL too, the rest on SQLite alone (tests/notifications/test_outbox.py has
# PostgreSQL's own concurrency).
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ALL = ["batch.completed", "video.completed", "video.failed"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


async def service(make_client: MakeClient, **settings: Any) -> httpx.AsyncClient:
    return await make_client(
        start_engine=True,
        job=SCRIPTED,
        webhook_allowed_hosts="127.0.0.1",
        public_url="https://stories.example",
        **settings,
    )


async def register(
    client: httpx.AsyncClient, receiver: Receiver, events: list[str] = ALL
) -> dict[str, Any]:
    made = await client.post("/api/webhooks", json={"url": receiver.url, "events": events})
    assert made.status_code == 201, made.text
    hook: dict[str, Any] = made.json()
    receiver.secret = hook["secret"]
    return hook


async def upload(client: httpx.AsyncClient, *names: str) -> dict[str, Any]:
    files = video_files(*[(name, b"\x00\x00\x00\x18ftypmp42" + name.encode()) for name in names])
    answer = await client.post("/api/upload", files=files)
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    return job


async def arrivals(receiver: Receiver, count: int, timeout_s: float = 30.0) -> list[Arrival]:
    return await anyio.to_thread.run_sync(partial(receiver.wait_for, count, timeout_s))


async def test_a_batch_tells_each_video_and_its_end_signed(
    make_client: MakeClient, receiver: Receiver
) -> None:
    client = await service(make_client, max_attempts=1)
    await register(client, receiver)
    with Receiver() as picky:  # a second endpoint, told only of the batch's end
        await register(client, picky, ["batch.completed"])
        job = await upload(client, "ok.mp4", "reject.mp4")
        got = await arrivals(receiver, 3)
        only = await arrivals(picky, 1)
    assert only[0].verified and only[0].event == next(
        a.event for a in got if a.event["type"] == "batch.completed"
    )
    assert all(arrival.verified for arrival in got)
    by_type = {arrival.event["type"]: arrival.event for arrival in got}
    assert sorted(by_type) == ["batch.completed", "video.completed", "video.failed"]
    batch = by_type["batch.completed"]["data"]["batch"]
    assert batch["id"] == job["jobId"]
    assert batch["status"] == "completed"
    assert batch["counts"] == {"completed": 1, "failed": 1, "cancelled": 0}
    assert batch["url"] == f"https://stories.example/?job={job['jobId']}"
    videos = by_type["batch.completed"]["data"]["videos"]
    assert [v["name"] for v in videos] == ["ok.mp4", "reject.mp4"]
    assert videos[0]["title"] == "Story of ok.mp4" and "Banff" in videos[0]["story"]
    assert videos[1]["story"] is None and videos[1]["error"] == "reject.mp4 is not a video"
    assert videos[1]["errorCode"] == "not_a_video"
    assert by_type["video.failed"]["data"]["video"]["id"] == job["videos"][1]["id"]
    assert by_type["video.completed"]["data"]["video"]["story"] == videos[0]["story"]
    assert "videos" not in by_type["video.completed"]["data"]
    assert by_type["batch.completed"]["timestamp"].endswith("Z")
    # Nothing more comes (batch.completed once), and the log says delivered.
    await anyio.sleep(0.5)
    assert len(receiver.arrivals) == 3 and len(picky.arrivals) == 1
    hook_id = next(
        h["id"]
        for h in (await client.get("/api/webhooks")).json()["webhooks"]
        if h["url"] == receiver.url
    )
    log = (await client.get(f"/api/webhooks/{hook_id}/deliveries")).json()["deliveries"]
    assert sorted(d["state"] for d in log) == ["delivered"] * 3
    assert all(d["attempts"][0]["status"] == 200 for d in log)


@SQLITE
async def test_a_failing_receiver_gets_the_event_again_until_it_answers(
    make_client: MakeClient, receiver: Receiver
) -> None:
    client = await service(make_client, webhook_retry_schedule="0.1,0.1,0.1,0.1")
    hook = await register(client, receiver, ["batch.completed"])
    receiver.answers = [Answer(500), Answer(503), Answer(502)]
    await upload(client, "ok.mp4")
    got = await arrivals(receiver, 4)
    assert len({a.id for a in got}) == 1  # the same webhook-id every time
    assert all(a.verified for a in got)
    assert len({a.body for a in got}) == 1  # the same body every time
    log = await delivered_log(client, hook["id"])
    assert [a["status"] for a in log["attempts"]] == [500, 503, 502, 200]
    assert all(a["latencyMs"] >= 0 and a["at"] for a in log["attempts"])
    assert log["attempts"][-1]["answer"] == "ok"


async def delivered_log(
    client: httpx.AsyncClient, hook_id: str, *, count: int = 1
) -> dict[str, Any]:
    """The newest message's log once `count` messages were sent and the newest ended."""
    deadline = time.monotonic() + 10
    while True:
        log = (await client.get(f"/api/webhooks/{hook_id}/deliveries")).json()["deliveries"]
        if len(log) >= count and log[0]["state"] in ("delivered", "failed"):
            return dict(log[0])
        assert time.monotonic() < deadline, log
        await anyio.sleep(0.05)


@SQLITE
async def test_retry_after_is_honoured(make_client: MakeClient, receiver: Receiver) -> None:
    client = await service(make_client, webhook_retry_schedule="0.1,0.1")
    await register(client, receiver, ["batch.completed"])
    receiver.answers = [Answer(429, {"Retry-After": "2"})]
    await upload(client, "ok.mp4")
    first, second = await arrivals(receiver, 2)
    assert second.at - first.at >= 1.9


@SQLITE
async def test_out_of_retries_the_message_fails(
    make_client: MakeClient, receiver: Receiver
) -> None:
    client = await service(make_client, webhook_retry_schedule="0.1")
    hook = await register(client, receiver, ["batch.completed"])
    receiver.answers = [Answer(500), Answer(500), Answer(500)]
    await upload(client, "ok.mp4")
    log = await delivered_log(client, hook["id"])
    assert log["state"] == "failed"
    assert [a["status"] for a in log["attempts"]] == [500, 500]
    # Sent again by hand: the same id, a fresh round.
    again = await client.post(f"/api/webhooks/{hook['id']}/deliveries/{log['messageId']}/resend")
    assert again.status_code == 202
    got = await arrivals(receiver, 3)
    assert got[-1].id == log["messageId"]


@SQLITE
async def test_a_4xx_or_a_redirect_fails_at_once_and_410_disables_the_endpoint(
    make_client: MakeClient, receiver: Receiver
) -> None:
    client = await service(make_client, webhook_retry_schedule="0.1,0.1")
    hook = await register(client, receiver, ["batch.completed"])
    receiver.answers = [Answer(400)]
    await upload(client, "ok.mp4")
    log = await delivered_log(client, hook["id"])
    assert log["state"] == "failed" and [a["status"] for a in log["attempts"]] == [400]
    with Receiver() as inside:  # a redirect to another address is not followed
        receiver.answers = [Answer(302, {"Location": inside.url})]
        await upload(client, "ok.mp4")
        await arrivals(receiver, 2)
        log = await delivered_log(client, hook["id"], count=2)
        assert log["state"] == "failed" and [a["status"] for a in log["attempts"]] == [302]
        assert "redirect" in log["attempts"][0]["error"]
        assert inside.arrivals == []
    receiver.answers = [Answer(410)]
    await upload(client, "ok.mp4")
    await arrivals(receiver, 3)
    deadline = time.monotonic() + 10
    while (one := (await client.get(f"/api/webhooks/{hook['id']}")).json())["enabled"]:
        assert time.monotonic() < deadline
        await anyio.sleep(0.05)
    assert "410" in one["disabledReason"]
    # Disabled: the next batch tells it nothing, until it is enabled again.
    await upload(client, "ok.mp4")
    await anyio.sleep(1.0)
    assert len(receiver.arrivals) == 3
    await client.post(f"/api/webhooks/{hook['id']}/enable")
    await upload(client, "ok.mp4")
    assert (await arrivals(receiver, 4))[-1].verified


@SQLITE
async def test_a_batch_names_an_address_to_tell(make_client: MakeClient, database_url: str) -> None:
    client = await service(make_client)
    chosen = await client.put(
        "/api/notifications", json={"email": "me@example.com", "emailEvents": ["video.completed"]}
    )
    assert chosen.status_code == 200
    bad = await client.post(
        "/api/upload",
        files=video_files(("ok.mp4", b"\x00\x00\x00\x18ftypmp42ok")),
        data={"notify_email": "not an address"},
    )
    assert bad.status_code == 422
    assert "notify_email" in bad.json()["error"]
    made = await client.post(
        "/api/upload",
        files=video_files(("ok.mp4", b"\x00\x00\x00\x18ftypmp42ok")),
        data={"notify_email": "desk@example.com"},
    )
    assert made.status_code == 200, made.text
    engine = make_engine(database_url)
    try:
        deadline = time.monotonic() + 20
        while True:
            with engine.connect() as connection:
                rows = connection.execute(
                    select(
                        OutboxMessage.email,
                        OutboxMessage.event,
                        OutboxMessage.state,
                        OutboxMessage.last_error,
                    ).where(OutboxMessage.channel == "email")
                ).all()
            if len(rows) == 2 and {row.state for row in rows} == {"failed"}:
                break
            assert time.monotonic() < deadline, rows
            await anyio.sleep(0.1)
    finally:
        engine.dispose()
    # Without an SMTP server the message fails at once, saying what to set.
    assert sorted((r.email, r.event) for r in rows) == [
        ("desk@example.com", "batch.completed"),
        ("me@example.com", "video.completed"),
    ]
    assert all("STORYTELLER_SMTP_HOST" in row.last_error for row in rows)
