"""Who is told of an event: the outbox rows an ending video or batch writes, in its own
transaction.

The targets are those of the batch's owner (the open loopback mode's local user for a
batch without one): each enabled webhook endpoint subscribed to the event, their e-mail
address when they chose the event for e-mail; and for batch.completed the address the
batch itself named (`notify_email`). No target, nothing written (and no payload built:
these run on the job queue's hot path).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Table, select
from sqlalchemy.orm import Session

from storyteller.db.models import Batch, Channel, ServiceState, User, WebhookEndpoint
from storyteller.notifications import events, outbox
from storyteller.notifications.events import Event

_B = cast(Table, Batch.__table__).c
_U = cast(Table, User.__table__).c
_S = cast(Table, ServiceState.__table__).c
_E = cast(Table, WebhookEndpoint.__table__).c


def _targets(db: Connection | Session, batch_id: str, event: Event) -> tuple[list[str], list[str]]:
    """The endpoint ids and e-mail addresses told of `event` on this batch."""
    batch = db.execute(select(_B.owner_id, _B.notify_email).where(_B.id == batch_id)).first()
    if batch is None:
        return [], []
    owner = batch.owner_id
    endpoints = [
        row.id
        for row in db.execute(
            select(_E.id, _E.events).where(
                _E.enabled.is_(True),
                _E.user_id.is_(None) if owner is None else _E.user_id == owner,
            )
        )
        if event in (row.events or [])
    ]
    choice = db.execute(
        select(_S.email, _S.email_events).where(_S.id == 1)
        if owner is None
        else select(_U.email, _U.email_events).where(_U.id == owner)
    ).first()
    emails: list[str] = []
    if choice is not None and choice.email and event in (choice.email_events or []):
        emails.append(choice.email)
    named = batch.notify_email if event == Event.BATCH_COMPLETED else None
    if named and named.lower() not in {address.lower() for address in emails}:
        emails.append(named)
    return endpoints, emails


def _write(
    db: Connection | Session,
    event: Event,
    batch_id: str,
    endpoints: list[str],
    emails: list[str],
    payload: dict[str, Any],
) -> None:
    for endpoint_id in endpoints:
        outbox.write(
            db,
            event=event,
            channel=Channel.WEBHOOK,
            payload=payload,
            batch_id=batch_id,
            endpoint_id=endpoint_id,
        )
    for address in emails:
        outbox.write(
            db,
            event=event,
            channel=Channel.EMAIL,
            payload=payload,
            batch_id=batch_id,
            email=address,
        )
    outbox.wake_deliverers(db)


def batch_ended(db: Connection | Session, batch_id: str) -> None:
    """batch.completed, in the transaction that set the batch completed (the batch row is
    locked there, so two videos ending at once write it once)."""
    endpoints, emails = _targets(db, batch_id, Event.BATCH_COMPLETED)
    if not endpoints and not emails:
        return
    payload = events.batch_payload(db, batch_id)
    if payload is not None:
        _write(
            db, Event.BATCH_COMPLETED, batch_id, endpoints, emails, cast(dict[str, Any], payload)
        )


def video_ended(db: Connection | Session, batch_id: str, video_id: str, *, failed: bool) -> None:
    """video.completed or video.failed, in the transaction that ended the video."""
    event = Event.VIDEO_FAILED if failed else Event.VIDEO_COMPLETED
    endpoints, emails = _targets(db, batch_id, event)
    if not endpoints and not emails:
        return
    payload = events.video_payload(db, event, batch_id, video_id)
    if payload is not None:
        _write(db, event, batch_id, endpoints, emails, cast(dict[str, Any], payload))
