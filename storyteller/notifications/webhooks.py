"""Webhook endpoints (a user's URLs, each with its signing secret) and the signed delivery
of a message to one, as Standard Webhooks specifies.

Every request carries `webhook-id` (the message id, the same on every attempt),
`webhook-timestamp` (seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">` keyed with the base64-decoded part of the endpoint's
`whsec_...` secret. The secret must stay usable to sign, so it cannot be hashed like an
API key; with `STORYTELLER_SECRETS_KEY` set it is kept encrypted (Fernet) and decrypted
only to sign.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import functools
import hashlib
import hmac
import secrets
import time
import uuid

import httpx
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from storyteller import __version__
from storyteller.config import Settings
from storyteller.db.models import WebhookEndpoint
from storyteller.errors import StorytellerError
from storyteller.notifications import addresses, events
from storyteller.notifications.outbox import Message, Outcome

SECRET_START = "whsec_"
SECRET_BYTES = 32
SEALED_START = "fernet:"
# The answer read from a receiver, at most (the log keeps its start).
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = f"VideoStoryteller-Webhooks/{__version__}"
# Endpoints one person may have: each event is written once per endpoint, so this bounds
# what one account can make the service send.
MAX_ENDPOINTS = 20


class NoSuchWebhook(StorytellerError):
    """No webhook endpoint with that id (or not the asker's)."""


class WebhookChoiceError(StorytellerError):
    """An endpoint asked for with something the service cannot do (an unknown event)."""


# --- the secret ---------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_START + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def seal(secret: str, settings: Settings) -> str:
    """The secret as stored: encrypted when a secrets key is set."""
    if settings.secrets_key is None:
        return secret
    fernet = Fernet(settings.secrets_key.get_secret_value().encode())
    return SEALED_START + fernet.encrypt(secret.encode()).decode()


def unseal(stored: str, settings: Settings) -> str:
    if not stored.startswith(SEALED_START):
        return stored
    if settings.secrets_key is None:
        raise StorytellerError(
            "the webhook's secret is encrypted and STORYTELLER_SECRETS_KEY is not set: set "
            "the key it was encrypted with"
        )
    try:
        fernet = Fernet(settings.secrets_key.get_secret_value().encode())
        return fernet.decrypt(stored.removeprefix(SEALED_START).encode()).decode()
    except (InvalidToken, ValueError):
        raise StorytellerError(
            "the webhook's secret cannot be decrypted with STORYTELLER_SECRETS_KEY (another "
            "key was set when it was made): rotate the endpoint's secret"
        ) from None


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header's value."""
    key = base64.b64decode(secret.removeprefix(SECRET_START))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


# --- endpoints ----------------------------------------------------------------------


def check_events(chosen: list[str]) -> list[str]:
    unknown = sorted(set(chosen) - set(events.EVENT_NAMES))
    if unknown:
        raise WebhookChoiceError(
            f"unknown event {unknown[0]!r}: choose from {', '.join(events.EVENT_NAMES)}"
        )
    if not chosen:
        raise WebhookChoiceError(f"choose at least one event: {', '.join(events.EVENT_NAMES)}")
    return [name for name in events.EVENT_NAMES if name in chosen]


def create(
    session: Session,
    settings: Settings,
    *,
    user_id: str | None,
    url: str,
    chosen: list[str],
    description: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint (its URL checked now, as at every delivery) and its secret."""
    if len(listed(session, user_id=user_id)) >= MAX_ENDPOINTS:
        raise WebhookChoiceError(f"at most {MAX_ENDPOINTS} webhooks each: delete one first")
    addresses.check(url, addresses.Allowed.from_settings(settings))
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id="ep_" + uuid.uuid4().hex,
        user_id=user_id,
        url=url,
        description=description,
        events=check_events(chosen),
        secret=seal(secret, settings),
        enabled=True,
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def owned(
    session: Session, endpoint_id: str, *, user_id: str | None, admin: bool
) -> WebhookEndpoint:
    """The endpoint if the asker may see it (its owner; an admin sees every one)."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or (endpoint.user_id != user_id and not admin):
        raise NoSuchWebhook("no webhook with that id")
    return endpoint


def listed(session: Session, *, user_id: str | None) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(
                WebhookEndpoint.user_id.is_(None)
                if user_id is None
                else WebhookEndpoint.user_id == user_id
            )
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
    )


def rotate(session: Session, settings: Settings, endpoint: WebhookEndpoint) -> str:
    """A new secret for the endpoint (the old one stops signing at once)."""
    secret = new_secret()
    endpoint.secret = seal(secret, settings)
    session.flush()
    return secret


# --- delivering ---------------------------------------------------------------------


def deliver(settings: Settings, message: Message) -> Outcome:
    """Send one message to its endpoint, signed; how it went."""
    if message.url is None or message.secret is None:
        return Outcome(delivered=False, error="the webhook endpoint was deleted")
    if not message.enabled:
        return Outcome(delivered=False, error="the webhook endpoint is disabled")
    try:
        target = addresses.check(message.url, addresses.Allowed.from_settings(settings))
        secret = unseal(message.secret, settings)
    except StorytellerError as error:
        return Outcome(delivered=False, error=str(error))
    body = events.body(events.finished(message.payload, settings))
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message.id, timestamp, body),
    }
    return post(settings, target, body, headers)


def post(
    settings: Settings, target: addresses.Target, body: bytes, headers: dict[str, str]
) -> Outcome:
    """POST to the checked address (never a new resolution), with the URL's host name for
    Host, TLS SNI and the certificate check; no redirect followed, the answer's size and
    the whole exchange's time capped."""
    url = target.url.copy_with(host=str(target.address))
    headers = {**headers, "host": target.url.netloc.decode("ascii")}
    started = time.monotonic()
    deadline = started + settings.webhook_timeout_s

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        with (
            _client(settings.webhook_timeout_s, settings.webhook_connect_timeout_s).stream(
                "POST",
                url,
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.host},
            ) as response,
        ):
            answer = bytearray()
            for chunk in response.iter_bytes():
                answer.extend(chunk)
                if len(answer) >= MAX_ANSWER_BYTES or time.monotonic() > deadline:
                    break
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("the receiver took too long to answer")
    except httpx.TimeoutException:
        return Outcome(
            delivered=False,
            retryable=True,
            error=f"no answer within {settings.webhook_timeout_s:g} s",
            latency_ms=elapsed_ms(),
        )
    except httpx.HTTPError as error:
        return Outcome(
            delivered=False,
            retryable=True,
            error=f"cannot reach the receiver: {error}",
            latency_ms=elapsed_ms(),
        )
    return judged(response.status_code, response.headers, bytes(answer), elapsed_ms())


@functools.cache
def _client(timeout_s: float, connect_s: float) -> httpx.Client:
    """One client for every delivery of this process (making one costs a TLS context: a
    tenth of a second). Connections are never kept: each request goes to the address just
    checked, with its own host name for SNI, so none may be reused for another name."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s, connect=connect_s),
        follow_redirects=False,
        trust_env=False,  # never through a proxy the environment names
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def judged(status: int, headers: httpx.Headers, answer: bytes, latency_ms: int) -> Outcome:
    """What a receiver's answer means for the message."""
    text = answer.decode("utf-8", errors="replace")
    common = {"status": status, "answer": text, "latency_ms": latency_ms}
    if 200 <= status < 300:
        return Outcome(delivered=True, **common)  # type: ignore[arg-type]
    if 300 <= status < 400:
        return Outcome(
            delivered=False,
            error=f"the receiver answered {status} (a redirect, not followed: register the "
            "address it points to)",
            **common,  # type: ignore[arg-type]
        )
    if status == 410:
        reason = "the receiver answered 410 Gone: the endpoint was disabled; enable it again once it receives"
        return Outcome(delivered=False, error=reason, disable_endpoint=reason, **common)  # type: ignore[arg-type]
    if status == 429 or status >= 500 or status == 408:
        return Outcome(
            delivered=False,
            retryable=True,
            error=f"the receiver answered {status}",
            retry_after_s=retry_after(headers.get("retry-after")),
            **common,  # type: ignore[arg-type]
        )
    return Outcome(delivered=False, error=f"the receiver refused it with {status}", **common)  # type: ignore[arg-type]


def retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds (given as seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
