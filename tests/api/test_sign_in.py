"""Signing in on the page, API keys, quotas and priorities per user, the audit log."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from storyteller.accounts import users
from storyteller.db.models import AuditEntry, Batch
from storyteller.db.session import make_engine
from tests.accounts.people import PASSWORD, add_person
from tests.api.conftest import MakeClient, video_files
from tests.media import Clip

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]


def audit_actions(database_url: str) -> list[tuple[str | None, str]]:
    engine = make_engine(database_url)
    try:
        with sessionmaker(engine)() as session:
            entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            return [(entry.actor, entry.action) for entry in entries]
    finally:
        engine.dispose()


async def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_it(
    make_client: MakeClient, database_url: str
) -> None:
    client = await make_client()
    add_person(database_url, "ann")
    assert (await client.get("/api/jobs")).status_code == 401
    answer = await client.post("/api/auth/login", json={"name": "ann", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "ann"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    token = client.cookies["storyteller_session"]
    assert (await client.get("/api/jobs")).status_code == 200
    assert (await client.get("/api/auth/me")).json()["name"] == "ann"
    assert (await client.post("/api/auth/logout")).status_code == 204
    client.cookies.set("storyteller_session", token)  # the old cookie is worth nothing now
    assert (await client.get("/api/jobs")).status_code == 401
    actions = audit_actions(database_url)
    assert ("ann", "sign_in") in actions and ("ann", "sign_out") in actions


async def test_the_cookie_is_secure_over_https(make_client: MakeClient, database_url: str) -> None:
    client = await make_client()
    add_person(database_url, "ann")
    answer = await client.post(
        "https://storyteller.test/api/auth/login", json={"name": "ann", "password": PASSWORD}
    )
    assert "secure" in answer.headers["set-cookie"].lower()


async def test_failed_sign_ins_are_slowed_limited_and_audited(
    make_client: MakeClient, database_url: str
) -> None:
    client = await make_client(sign_in_failures_per_name=3)
    add_person(database_url, "ann")
    started = time.monotonic()
    for _ in range(3):
        answer = await client.post("/api/auth/login", json={"name": "ann", "password": "wrong!"})
        assert answer.status_code == 401
        assert answer.json()["error"] == "wrong name or password"
    assert time.monotonic() - started >= 0.25 + 0.5 + 0.75 - 0.05  # each later than the last
    refused = await client.post("/api/auth/login", json={"name": "ann", "password": PASSWORD})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "too many failed sign-ins" in refused.json()["error"]
    # Another name from the same address is not held up by ann's failures.
    add_person(database_url, "bob")
    ok = await client.post("/api/auth/login", json={"name": "bob", "password": PASSWORD})
    assert ok.status_code == 200
    assert audit_actions(database_url).count(("ann", "sign_in_failed")) == 3


async def test_a_disabled_user_is_refused_at_once(
    make_client: MakeClient, database_url: str
) -> None:
    client = await make_client()
    ann = add_person(database_url, "ann")
    assert (await client.get("/api/jobs", headers=ann.auth)).status_code == 200
    engine = make_engine(database_url)
    with sessionmaker(engine).begin() as session:
        users.set_disabled(session, name="ann", disabled=True)
    engine.dispose()
    assert (await client.get("/api/jobs", headers=ann.auth)).status_code == 401
    answer = await client.post("/api/auth/login", json={"name": "ann", "password": PASSWORD})
    assert answer.status_code == 401


async def test_keys_on_the_api_created_listed_and_revoked_at_once(
    make_client: MakeClient, database_url: str
) -> None:
    client = await make_client()
    ann = add_person(database_url, "ann")
    made = await client.post("/api/keys", headers=ann.auth)
    assert made.status_code == 201
    key = made.json()["key"]
    assert key.startswith(made.json()["prefix"])
    second = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/api/jobs", headers=second)).status_code == 200
    listed = (await client.get("/api/keys", headers=ann.auth)).json()
    assert len(listed) == 2 and all("key" not in entry for entry in listed)
    assert any(entry["lastUsedAt"] for entry in listed if entry["id"] == made.json()["id"])
    revoked = await client.delete(f"/api/keys/{made.json()['id']}", headers=ann.auth)
    assert revoked.status_code == 200 and revoked.json()["revokedAt"]
    assert (await client.get("/api/jobs", headers=second)).status_code == 401
    actions = [action for _, action in audit_actions(database_url)]
    assert actions.count("key_created") == 2 and "key_revoked" in actions


async def test_admins_manage_users_and_read_the_audit_log(
    make_client: MakeClient, database_url: str
) -> None:
    client = await make_client()
    boss = add_person(database_url, "boss", role="admin")
    ann = add_person(database_url, "ann")
    assert (await client.get("/api/users", headers=ann.auth)).status_code == 403
    assert (await client.get("/api/audit", headers=ann.auth)).status_code == 403
    made = await client.post(
        "/api/users",
        json={"name": "carl", "password": "long enough", "priority": "low"},
        headers=boss.auth,
    )
    assert made.status_code == 201, made.text
    again = await client.post(
        "/api/users", json={"name": "carl", "password": "long enough"}, headers=boss.auth
    )
    assert again.status_code == 409
    changed = await client.patch(
        "/api/users/carl", json={"videosPerDay": 3, "disabled": True}, headers=boss.auth
    )
    assert changed.json()["videosPerDay"] == 3 and changed.json()["disabled"] is True
    names = [user["name"] for user in (await client.get("/api/users", headers=boss.auth)).json()]
    assert names == ["ann", "boss", "carl"]
    log = (await client.get("/api/audit", headers=boss.auth)).json()
    assert {"user_added", "user_changed", "user_disabled"} <= {entry["action"] for entry in log}
    assert any(entry["actor"] == "boss" for entry in log)


async def test_a_batch_takes_its_owners_priority_lower_allowed_higher_capped(
    make_client: MakeClient, database_url: str, speech_clip: Clip
) -> None:
    client = await make_client()
    ann = add_person(database_url, "ann", priority="low")
    vip = add_person(database_url, "vip", priority="high")

    async def priority(person_auth: dict[str, str], asked: str | None) -> str:
        data = {"priority": asked} if asked else {}
        answer = await client.post(
            "/api/upload",
            files=video_files(("a.mp4", speech_clip.path)),
            data=data,
            headers=person_auth,
        )
        assert answer.status_code == 200, answer.text
        job = answer.json()["jobId"]
        engine = make_engine(database_url)
        try:
            with sessionmaker(engine)() as session:
                batch = session.get(Batch, job)
                assert batch is not None
                return str(batch.priority)
        finally:
            engine.dispose()

    assert await priority(ann.auth, None) == "low"
    assert await priority(ann.auth, "high") == "low"
    assert await priority(vip.auth, None) == "high"
    assert await priority(vip.auth, "low") == "low"


async def test_quotas_answer_429_saying_what_resets_when(
    make_client: MakeClient, database_url: str, speech_clip: Clip
) -> None:
    client = await make_client()
    ann = add_person(database_url, "ann", videos_per_day=2)
    files = video_files(("a.mp4", speech_clip.path), ("b.mp4", speech_clip.path))
    assert (await client.post("/api/upload", files=files, headers=ann.auth)).status_code == 200
    over = await client.post(
        "/api/upload", files=video_files(("c.mp4", speech_clip.path)), headers=ann.auth
    )
    assert over.status_code == 429
    assert "2 videos a day" in over.json()["error"] and "midnight UTC" in over.json()["error"]

    size = speech_clip.path.stat().st_size
    bob = add_person(database_url, "bob", bytes_stored=size + size // 2)
    other = speech_clip.path.read_bytes() + b"\0"  # other bytes, so not a duplicate
    assert (
        await client.post(
            "/api/upload", files=video_files(("a.mp4", speech_clip.path)), headers=bob.auth
        )
    ).status_code == 200
    full = await client.post("/api/upload", files=video_files(("b.mp4", other)), headers=bob.auth)
    assert full.status_code == 429
    assert "storage quota" in full.json()["error"] and "delete jobs" in full.json()["error"]


async def test_a_trusted_proxy_names_the_user(make_client: MakeClient, database_url: str) -> None:
    trusted = await make_client(trusted_proxies=["127.0.0.0/8"])
    add_person(database_url, "ann")
    answer = await trusted.get("/api/auth/me", headers={"X-Forwarded-User": "ann"})
    assert answer.status_code == 200 and answer.json()["name"] == "ann"
    stranger = await trusted.get("/api/auth/me", headers={"X-Forwarded-User": "nobody"})
    assert stranger.status_code == 401


async def test_a_proxy_header_from_elsewhere_is_ignored(
    make_client: MakeClient, database_url: str
) -> None:
    client = await make_client(trusted_proxies=["10.0.0.0/8"])
    add_person(database_url, "ann")
    answer = await client.get("/api/auth/me", headers={"X-Forwarded-User": "ann"})
    assert answer.status_code == 401


async def test_resumable_uploads_meet_the_quotas_when_they_begin(
    make_client: MakeClient, database_url: str
) -> None:
    client = await make_client()
    ann = add_person(database_url, "ann", bytes_stored=1000)
    tus = {"Tus-Resumable": "1.0.0", **ann.auth}
    small = await client.post("/api/uploads/", headers={**tus, "Upload-Length": "500"})
    assert small.status_code == 201
    big = await client.post("/api/uploads/", headers={**tus, "Upload-Length": "5000"})
    assert big.status_code == 429
    assert "storage quota" in big.json()["error"]
