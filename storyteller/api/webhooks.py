"""A person's webhook endpoints: register, list, delete, rotate the secret, enable and
disable, send a test event, and the delivery log with "send again". Each endpoint is its
owner's (an admin reaches any by id); another member's ids answer 404."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from storyteller.accounts.signin import Viewer
from storyteller.api.deps import CurrentUserDep, DatabaseDep, SettingsDep
from storyteller.api.views import timestamp
from storyteller.db.database import Database
from storyteller.db.models import Channel, OutboxMessage, WebhookEndpoint
from storyteller.notifications import events, outbox, webhooks
from storyteller.notifications.webhooks import NoSuchWebhook

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


class WebhookCreate(BaseModel):
    url: str = Field(description="https URL that receives the events (POST, signed).")
    events: list[str] = Field(description="Events sent to it: " + ", ".join(events.EVENT_NAMES))
    description: str | None = Field(default=None, max_length=255)


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabledReason: str | None
    createdAt: str | None


class WebhookWithSecret(WebhookPublic):
    secret: str = Field(description="`whsec_...`: shown only now; verify signatures with it.")


class WebhookList(BaseModel):
    webhooks: list[WebhookPublic]


class MessageQueued(BaseModel):
    messageId: str = Field(description="The `webhook-id` it is sent with.")


class AttemptView(BaseModel):
    at: str | None
    status: int | None = Field(description="The HTTP status; None: no answer.")
    latencyMs: int
    error: str | None
    answer: str | None = Field(description="The start of the answer's body.")


class DeliveryView(BaseModel):
    messageId: str
    event: str
    createdAt: str | None
    state: str = Field(description="pending, delivering, delivered or failed")
    nextAttemptAt: str | None
    attempts: list[AttemptView]


class DeliveryLog(BaseModel):
    deliveries: list[DeliveryView]


def _public(endpoint: WebhookEndpoint) -> WebhookPublic:
    return WebhookPublic(
        id=endpoint.id,
        url=endpoint.url,
        events=list(endpoint.events),
        description=endpoint.description,
        enabled=endpoint.enabled,
        disabledReason=endpoint.disabled_reason,
        createdAt=timestamp(endpoint.created_at),
    )


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret(**_public(endpoint).model_dump(), secret=secret)


def _owned(session: Session, endpoint_id: str, user: Viewer) -> WebhookEndpoint:
    return webhooks.owned(session, endpoint_id, user_id=user.id, admin=user.is_admin)


@router.post("", status_code=201, response_model=WebhookWithSecret, summary="Register a webhook")
async def create(
    body: WebhookCreate, user: CurrentUserDep, database: DatabaseDep, settings: SettingsDep
) -> WebhookWithSecret:
    """The URL is checked now (https, a public address) and before every delivery; 422
    says why one is refused. The signing secret is in this answer only."""

    def made() -> WebhookWithSecret:
        with database.write() as session:
            endpoint, secret = webhooks.create(
                session,
                settings,
                user_id=user.id,
                url=body.url.strip(),
                chosen=body.events,
                description=body.description,
            )
            return _with_secret(endpoint, secret)

    return await anyio.to_thread.run_sync(made)  # resolving the host may take a while


@router.get("", response_model=WebhookList, summary="Your webhooks")
def listed(user: CurrentUserDep, database: DatabaseDep) -> WebhookList:
    with database.read() as session:
        return WebhookList(webhooks=[_public(e) for e in webhooks.listed(session, user_id=user.id)])


@router.get("/{webhookId}", response_model=WebhookPublic, summary="One webhook")
def one(webhookId: str, user: CurrentUserDep, database: DatabaseDep) -> WebhookPublic:
    with database.read() as session:
        return _public(_owned(session, webhookId, user))


@router.delete("/{webhookId}", status_code=204, summary="Delete a webhook and its log")
def delete(webhookId: str, user: CurrentUserDep, database: DatabaseDep) -> Response:
    with database.write() as session:
        session.delete(_owned(session, webhookId, user))
    return Response(status_code=204)


@router.post("/{webhookId}/rotate", response_model=WebhookWithSecret, summary="A new secret")
def rotate(
    webhookId: str, user: CurrentUserDep, database: DatabaseDep, settings: SettingsDep
) -> WebhookWithSecret:
    """The old secret stops signing at once; the new one is in this answer only."""
    with database.write() as session:
        endpoint = _owned(session, webhookId, user)
        secret = webhooks.rotate(session, settings, endpoint)
        return _with_secret(endpoint, secret)


def _set_enabled(
    database: Database, endpoint_id: str, user: Viewer, enabled: bool
) -> WebhookPublic:
    with database.write() as session:
        endpoint = _owned(session, endpoint_id, user)
        endpoint.enabled = enabled
        endpoint.disabled_reason = None if enabled else "disabled by hand"
        session.flush()
        return _public(endpoint)


@router.post("/{webhookId}/enable", response_model=WebhookPublic, summary="Send to it again")
def enable(webhookId: str, user: CurrentUserDep, database: DatabaseDep) -> WebhookPublic:
    return _set_enabled(database, webhookId, user, True)


@router.post("/{webhookId}/disable", response_model=WebhookPublic, summary="Stop sending to it")
def disable(webhookId: str, user: CurrentUserDep, database: DatabaseDep) -> WebhookPublic:
    return _set_enabled(database, webhookId, user, False)


@router.post(
    "/{webhookId}/test", status_code=202, response_model=MessageQueued, summary="Send a test event"
)
def send_test(webhookId: str, user: CurrentUserDep, database: DatabaseDep) -> MessageQueued:
    """A `webhook.test` event, delivered like any other (see the delivery log)."""
    with database.write() as session:
        endpoint = _owned(session, webhookId, user)
        message_id = outbox.write(
            session,
            event=events.Event.TEST,
            channel=Channel.WEBHOOK,
            payload=events.probe_payload(endpoint.id),
            endpoint_id=endpoint.id,
        )
        outbox.wake_deliverers(session)
    return MessageQueued(messageId=message_id)


@router.get("/{webhookId}/deliveries", response_model=DeliveryLog, summary="The delivery log")
def deliveries(
    webhookId: str,
    user: CurrentUserDep,
    database: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryLog:
    """The newest messages sent to this webhook, each with every attempt."""
    with database.read() as session:
        endpoint = _owned(session, webhookId, user)
        messages = list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.endpoint_id == endpoint.id)
                .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id)
                .limit(limit)
            )
        )
        tried = outbox.attempts_of(session, [m.id for m in messages])
        return DeliveryLog(
            deliveries=[
                DeliveryView(
                    messageId=m.id,
                    event=m.event,
                    createdAt=timestamp(m.created_at),
                    state=m.state.value,
                    nextAttemptAt=timestamp(m.next_attempt_at)
                    if m.state in ("pending", "delivering")
                    else None,
                    attempts=[
                        AttemptView(
                            at=timestamp(a.at),
                            status=a.status,
                            latencyMs=a.latency_ms,
                            error=a.error,
                            answer=a.answer,
                        )
                        for a in tried[m.id]
                    ],
                )
                for m in messages
            ]
        )


@router.post(
    "/{webhookId}/deliveries/{messageId}/resend",
    status_code=202,
    response_model=MessageQueued,
    summary="Send a message again",
)
def resend(
    webhookId: str, messageId: str, user: CurrentUserDep, database: DatabaseDep
) -> MessageQueued:
    """The same message (same `webhook-id`, so a receiver may dedupe it), due now."""
    with database.write() as session:
        endpoint = _owned(session, webhookId, user)
        message = session.get(OutboxMessage, messageId)
        if message is None or message.endpoint_id != endpoint.id:
            raise NoSuchWebhook("no message with that id on this webhook")
        outbox.resend(session, message.id)
    return MessageQueued(messageId=messageId)
