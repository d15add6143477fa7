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

from sqlalchemy import Connection, Table, exists, func, select
from sqlalchemy.orm import Session

from storyteller.db.models import Batch, Channel, ServiceState, User, WebhookEndpoint
from storyteller.notifications import events, outbox
from storyteller.notifications.events import Event

_B = cast(Table, Batch.__table__).c
_U = cast(Table, User.__table__).c
_S = cast(Table, ServiceState.__table__).c
_E = cast(Table, WebhookEndpoint.__table__).c


def _targets(db: Connection | Session, batch_id: str, event: Event) -> tuple[list[str], list[str]]:
    """The endpoint ids and e-mail addresses told of `event` on this batch. One read when
    nobody is to be told (the usual case on the queue's hot path)."""
    owned = (_E.user_id.is_(None) & _B.owner_id.is_(None)) | (_E.user_id == _B.owner_id)
    row = db.execute(
        select(
            _B.owner_id,
            _B.notify_email,
            func.coalesce(_U.email, _S.email).label("email"),
            func.coalesce(_U.email_events, _S.email_events).label("email_events"),
            exists().where(_E.enabled.is_(True), owned).label("hooked"),
        )
        .select_from(
            cast(Table, Batch.__table__)
            .outerjoin(cast(Table, User.__table__), _U.id == _B.owner_id)
            .outerjoin(cast(Table, ServiceState.__table__), (_S.id == 1) & _B.owner_id.is_(None))
        )
        .where(_B.id == batch_id)
    ).first()
    if row is None:
        return [], []
    endpoints: list[str] = []
    if row.hooked:
        owner = row.owner_id
        endpoints = [
            hook.id
            for hook in db.execute(
                select(_E.id, _E.events).where(
                    _E.enabled.is_(True),
                    _E.user_id.is_(None) if owner is None else _E.user_id == owner,
                )
            )
            if event in (hook.events or [])
        ]
    emails: list[str] = []
    if row.email and event in (row.email_events or []):
        emails.append(row.email)
    named = row.notify_email if event == Event.BATCH_COMPLETED else None
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
