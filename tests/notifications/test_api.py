"""The notification settings and webhook routes, as the settings page uses them."""

from __future__ import annotations

import pytest

from tests.accounts.people import add_person
from tests.api.conftest import MakeClient

# The routes' rules do not depend on the database: SQLite alone (the access test in
# tests/api runs them on PostgreSQL too).
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

LOCAL = {"webhook_allowed_hosts": "127.0.0.1"}


async def test_e_mail_choices_are_kept_and_checked(make_client: MakeClient) -> None:
    client = await make_client()
    first = (await client.get("/api/notifications")).json()
    assert first == {
        "email": None,
        "emailEvents": [],
        "events": ["batch.completed", "video.completed", "video.failed"],
        "mailConfigured": False,
    }
    chosen = await client.put(
        "/api/notifications",
        json={"email": " ann@example.com ", "emailEvents": ["video.failed", "batch.completed"]},
    )
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["email"] == "ann@example.com"
    assert chosen.json()["emailEvents"] == ["batch.completed", "video.failed"]
    assert (await client.get("/api/notifications")).json()["email"] == "ann@example.com"
    bad = await client.put(
        "/api/notifications", json={"email": "ann at example", "emailEvents": []}
    )
    assert bad.status_code == 422
    assert "not an e-mail address" in bad.json()["error"]
    unknown = await client.put(
        "/api/notifications", json={"email": None, "emailEvents": ["batch.started"]}
    )
    assert unknown.status_code == 422
    assert "batch.started" in unknown.json()["error"]


async def test_a_webhook_is_registered_listed_rotated_and_deleted(make_client: MakeClient) -> None:
    client = await make_client(**LOCAL)
    made = await client.post(
        "/api/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["batch.completed"], "description": "ci"},
    )
    assert made.status_code == 201, made.text
    hook = made.json()
    assert hook["secret"].startswith("whsec_")
    assert hook["enabled"] is True and hook["events"] == ["batch.completed"]
    listed = (await client.get("/api/webhooks")).json()["webhooks"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0]
    one = (await client.get(f"/api/webhooks/{hook['id']}")).json()
    assert one["url"] == "http://127.0.0.1:9/hook" and "secret" not in one
    rotated = (await client.post(f"/api/webhooks/{hook['id']}/rotate")).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]
    off = (await client.post(f"/api/webhooks/{hook['id']}/disable")).json()
    assert off["enabled"] is False and off["disabledReason"]
    on = (await client.post(f"/api/webhooks/{hook['id']}/enable")).json()
    assert on["enabled"] is True and on["disabledReason"] is None
    test = await client.post(f"/api/webhooks/{hook['id']}/test")
    assert test.status_code == 202
    log = (await client.get(f"/api/webhooks/{hook['id']}/deliveries")).json()["deliveries"]
    assert [d["messageId"] for d in log] == [test.json()["messageId"]]
    assert log[0]["event"] == "webhook.test" and log[0]["state"] == "pending"
    again = await client.post(
        f"/api/webhooks/{hook['id']}/deliveries/{test.json()['messageId']}/resend"
    )
    assert again.status_code == 202
    assert (await client.delete(f"/api/webhooks/{hook['id']}")).status_code == 204
    assert (await client.get(f"/api/webhooks/{hook['id']}")).status_code == 404
    assert (await client.get("/api/webhooks")).json() == {"webhooks": []}


REFUSED = [
    "http://127.0.0.1:9/hook",
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://localhost./hook",
    "https://10.0.0.1/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[fd00:ec2::254]/hook",
    "https://100.64.0.1/hook",
    "https://224.0.0.1/hook",
    "https://0.0.0.0/hook",
    "http://93.184.216.34/hook",  # public, but not https
    "ftp://example.com/hook",
    "https://user:pw@93.184.216.34/hook",
]


async def test_a_url_webhooks_may_not_reach_is_refused(make_client: MakeClient) -> None:
    client = await make_client()
    for url in REFUSED:
        answer = await client.post("/api/webhooks", json={"url": url, "events": ["video.failed"]})
        assert answer.status_code == 422, f"{url}: {answer.text}"
    assert (await client.get("/api/webhooks")).json() == {"webhooks": []}


async def test_unknown_events_are_refused(make_client: MakeClient) -> None:
    client = await make_client(**LOCAL)
    for events in ([], ["batch.started"]):
        answer = await client.post(
            "/api/webhooks", json={"url": "http://127.0.0.1:9/", "events": events}
        )
        assert answer.status_code == 422
        assert "event" in answer.json()["error"]


async def test_one_person_has_a_bounded_number_of_webhooks(make_client: MakeClient) -> None:
    client = await make_client(**LOCAL)
    body = {"url": "http://127.0.0.1:9/", "events": ["video.failed"]}
    for _ in range(20):
        assert (await client.post("/api/webhooks", json=body)).status_code == 201
    over = await client.post("/api/webhooks", json=body)
    assert over.status_code == 422 and "at most 20" in over.json()["error"]


async def test_a_tus_batch_checks_its_address(make_client: MakeClient) -> None:
    client = await make_client()
    answer = await client.post(
        "/api/uploads/batch", json={"uploads": ["0" * 32], "notifyEmail": "nobody"}
    )
    assert answer.status_code == 422
    assert "notify_email" in answer.json()["error"]


async def test_another_members_webhooks_are_not_found(
    make_client: MakeClient, database_url: str
) -> None:
    client = await make_client(**LOCAL)
    ann = add_person(database_url, "ann")
    bob = add_person(database_url, "bob")
    hook = (
        await client.post(
            "/api/webhooks",
            json={"url": "http://127.0.0.1:9/", "events": ["video.failed"]},
            headers=ann.auth,
        )
    ).json()
    message = (await client.post(f"/api/webhooks/{hook['id']}/test", headers=ann.auth)).json()
    assert (await client.get("/api/webhooks", headers=bob.auth)).json() == {"webhooks": []}
    for method, path in [
        ("GET", f"/api/webhooks/{hook['id']}"),
        ("DELETE", f"/api/webhooks/{hook['id']}"),
        ("POST", f"/api/webhooks/{hook['id']}/rotate"),
        ("POST", f"/api/webhooks/{hook['id']}/disable"),
        ("POST", f"/api/webhooks/{hook['id']}/test"),
        ("GET", f"/api/webhooks/{hook['id']}/deliveries"),
        ("POST", f"/api/webhooks/{hook['id']}/deliveries/{message['messageId']}/resend"),
    ]:
        answer = await client.request(method, path, headers=bob.auth)
        assert answer.status_code == 404, f"{method} {path}: {answer.status_code}"
    assert (await client.get(f"/api/webhooks/{hook['id']}", headers=ann.auth)).status_code == 200


async def test_metrics_count_the_outbox(make_client: MakeClient) -> None:
    client = await make_client(**LOCAL)
    hook = (
        await client.post(
            "/api/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["video.failed"]}
        )
    ).json()
    await client.post(f"/api/webhooks/{hook['id']}/test")
    text = (await client.get("/metrics")).text
    assert 'storyteller_notifications{channel="webhook",state="pending"} 1.0' in text
    assert 'storyteller_notifications{channel="email",state="failed"} 0.0' in text
    assert "storyteller_outbox_oldest_due_seconds " in text
