"""Signatures, secrets at rest and the payload's size limit, without a service."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from standardwebhooks.webhooks import Webhook

from storyteller.config import Settings
from storyteller.errors import StorytellerError
from storyteller.notifications import events, webhooks


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **values)  # type: ignore[call-arg]


def test_a_signature_is_what_standard_webhooks_checks() -> None:
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_") and len(secret) > 40
    body = b'{"type":"batch.completed"}'
    timestamp = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.sign(secret, "msg_1", timestamp, body),
    }
    assert Webhook(secret).verify(body, headers) == {"type": "batch.completed"}
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(webhooks.new_secret()).verify(body, headers)


def test_secrets_are_encrypted_when_a_key_is_set(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    keyed = settings(tmp_path, secrets_key=key)
    secret = webhooks.new_secret()
    stored = webhooks.seal(secret, keyed)
    assert stored.startswith("fernet:") and secret not in stored
    assert webhooks.unseal(stored, keyed) == secret
    # One kept before the key was set still signs.
    assert webhooks.unseal(secret, keyed) == secret
    with pytest.raises(StorytellerError, match="STORYTELLER_SECRETS_KEY is not set"):
        webhooks.unseal(stored, settings(tmp_path))
    other = settings(tmp_path, secrets_key=Fernet.generate_key().decode())
    with pytest.raises(StorytellerError, match="rotate"):
        webhooks.unseal(stored, other)


def test_retry_after_reads_seconds_and_dates() -> None:
    assert webhooks.retry_after("120") == 120
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= (webhooks.retry_after(later) or 0) <= 61
    assert webhooks.retry_after("soon") is None
    assert webhooks.retry_after(None) is None


def test_stories_past_the_size_limit_become_links(tmp_path: Path) -> None:
    videos = [
        {"id": f"v{n}", "name": f"{n}.mp4", "status": "completed", "title": "T",
         "story": "word " * (300 * (n + 1)), "error": None, "errorCode": None,
         "url": f"/?job=b&video=v{n}"}
        for n in range(4)
    ]  # fmt: skip
    payload = {
        "type": "batch.completed",
        "timestamp": "2026-12-05T00:00:00Z",
        "data": {"batch": {"id": "b", "url": "/?job=b"}, "videos": videos},
    }
    small = settings(tmp_path, notification_story_limit_kb=4, public_url="https://s.example/")
    event = events.finished(payload, small)
    assert len(events.body(event)) <= 4 * 1024
    kept = [v for v in event["data"]["videos"] if v["story"]]
    cut = [v for v in event["data"]["videos"] if not v["story"]]
    assert kept and cut
    assert [v["id"] for v in kept] == ["v0"]  # the longest went first
    assert cut[-1]["storyUrl"] == "https://s.example/api/videos/v3"
    assert event["data"]["batch"]["url"] == "https://s.example/?job=b"
    assert events.finished(payload, small) == event  # the same body on every attempt
    assert payload["data"]["videos"][3]["story"]  # the stored payload is untouched
