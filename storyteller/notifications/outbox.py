"""The outbox: every notification to send, one row per target, written in the transaction
of the change that caused it (`write`) and delivered at least once.

A process claims due messages (state `pending` and `next_attempt_at` passed) by
setting them `delivering` under its id until a lease expires (`next_attempt_at` is moved
to the lease's end, so a process that dies mid-delivery leaves the message due again
then, for any other process to deliver: receivers dedupe by the message id, sent as
`webhook-id`). On PostgreSQL the claim skips rows another process has locked (`FOR
UPDATE SKIP LOCKED`); SQLite's single writer makes the claim one at a time anyway.
Finishing logs the attempt and moves the message on: delivered, retried later on the
schedule (or the receiver's `Retry-After`), or failed. `Outbox.settle` does both, the
outcomes that came back and the next claim, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from storyteller.config import Settings
from storyteller.db.models import (
    Channel,
    DeliveryAttempt,
    MessageState,
    OutboxMessage,
    WebhookEndpoint,
)
from storyteller.db.session import make_session_factory, write_engine
from storyteller.db.types import utcnow

# PostgreSQL channel a process delivering notifications listens to: a message written
# wakes one at once instead of at its next look.
OUTBOX_CHANNEL = "storyteller_outbox"
# A receiver's Retry-After is honoured up to this many seconds.
RETRY_AFTER_MAX_S = 3600.0
# The start of an answer kept in the delivery log.
ANSWER_KEPT_CHARS = 500
# A claim's lease: twice the delivery's own time limit, and this much more (a delivery
# cut short by its time limit is recorded well before its lease passes).
LEASE_MARGIN_S = 5.0

_MESSAGE = cast(Table, OutboxMessage.__table__)
_M = _MESSAGE.c
_E = cast(Table, WebhookEndpoint.__table__).c


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


def retry_schedule(settings: Settings) -> list[float]:
    """`STORYTELLER_WEBHOOK_RETRY_SCHEDULE` as seconds."""
    return [float(part) for part in settings.webhook_retry_schedule.split(",") if part.strip()]


@dataclass(frozen=True)
class Message:
    """A claimed message with what its channel needs."""

    id: str
    event: str
    channel: Channel
    payload: dict[str, Any]
    attempt: int  # this attempt's number, from 1
    claimed_by: str
    endpoint_id: str | None = None
    email: str | None = None
    url: str | None = None
    secret: str | None = None  # as stored (see `webhooks.unseal`)
    enabled: bool = True


@dataclass(frozen=True)
class Outcome:
    """How an attempt went."""

    delivered: bool
    retryable: bool = False
    status: int | None = None
    error: str | None = None
    latency_ms: int = 0
    answer: str | None = None
    retry_after_s: float | None = None
    disable_endpoint: str | None = None  # the reason, when the receiver said it is gone


def write(
    db: Connection | Session,
    *,
    event: str,
    channel: Channel,
    payload: dict[str, Any],
    batch_id: str | None = None,
    endpoint_id: str | None = None,
    email: str | None = None,
) -> str:
    """Add a message to the outbox in the caller's transaction; its id."""
    message_id = new_message_id()
    now = utcnow()
    db.execute(
        insert(_MESSAGE).values(
            id=message_id,
            event=event,
            channel=channel,
            endpoint_id=endpoint_id,
            email=email,
            batch_id=batch_id,
            payload=payload,
            state=MessageState.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return message_id


def wake_deliverers(db: Connection | Session) -> None:
    """On PostgreSQL, tell the processes that deliver (when this transaction commits)."""
    bind = db.get_bind() if isinstance(db, Session) else db
    if bind.dialect.name == "postgresql":
        db.execute(text("SELECT pg_notify(:channel, '')"), {"channel": OUTBOX_CHANNEL})


_DUE = (_M.state.in_((MessageState.PENDING, MessageState.DELIVERING)),)
# Moving a message on after an attempt, only while the claim is still the finisher's (a
# process whose lease passed must not undo what the next claimant did).
_FINISH = (
    update(_MESSAGE)
    .where(
        _M.id == bindparam("p_id"),
        _M.state == MessageState.DELIVERING,
        _M.claimed_by == bindparam("p_claimed_by"),
        _M.attempts == bindparam("p_attempts"),
    )
    .values(
        state=bindparam("p_state"),
        claimed_by=None,
        claim_expires_at=None,
        delivered_at=bindparam("p_delivered_at"),
        next_attempt_at=bindparam("p_next_attempt_at"),
        last_error=bindparam("p_last_error"),
    )
)


class Outbox:
    """The delivering side of the outbox of one database. Thread-safe."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.schedule = retry_schedule(settings)
        self.lease_s = 2 * settings.webhook_timeout_s + LEASE_MARGIN_S
        self._sessions = make_session_factory(write_engine(engine))
        self._postgres = engine.dialect.name == "postgresql"

    def settle(
        self, done: Sequence[tuple[Message, Outcome]], worker_id: str, *, limit: int
    ) -> tuple[list[MessageState], list[Message]]:
        """`finish` each of `done` and `claim` up to `limit`, in one transaction (a busy
        process delivers faster than it could commit each message on its own): the new
        states, and the messages claimed."""
        with self._sessions.begin() as session:
            if self._postgres:
                # A claim or a finish lost in a crash of PostgreSQL itself only means a
                # message sent again, which receivers dedupe: no need to wait for the WAL.
                session.execute(text("SET LOCAL synchronous_commit = off"))
            states = self._finish_in(session, done) if done else []
            claimed = self._claim_in(session, worker_id, limit) if limit > 0 else []
        return states, claimed

    def _claim_in(self, session: Session, worker_id: str, limit: int) -> list[Message]:
        now = utcnow()
        pick = (
            select(_M.id)
            .where(*_DUE, _M.next_attempt_at <= now)
            .order_by(_M.next_attempt_at)
            .limit(limit)
        )
        if self._postgres:
            pick = pick.with_for_update(skip_locked=True)
        ids = list(session.scalars(pick))
        if not ids:
            return []
        session.execute(
            update(_MESSAGE)
            .where(_M.id.in_(ids))
            .values(
                state=MessageState.DELIVERING,
                claimed_by=worker_id,
                claim_expires_at=now + dt.timedelta(seconds=self.lease_s),
                next_attempt_at=now + dt.timedelta(seconds=self.lease_s),
                attempts=_M.attempts + 1,
            )
        )
        rows = session.execute(
            select(
                _M.id,
                _M.event,
                _M.channel,
                _M.payload,
                _M.attempts,
                _M.endpoint_id,
                _M.email,
                _E.url,
                _E.secret,
                _E.enabled,
            )
            .select_from(_MESSAGE.outerjoin(WebhookEndpoint.__table__, _E.id == _M.endpoint_id))
            .where(_M.id.in_(ids))
            .order_by(_M.created_at)
        )
        return [
            Message(
                id=row.id,
                event=row.event,
                channel=Channel(row.channel),
                payload=row.payload,
                attempt=row.attempts,
                claimed_by=worker_id,
                endpoint_id=row.endpoint_id,
                email=row.email,
                url=row.url,
                secret=row.secret,
                enabled=bool(row.enabled) if row.endpoint_id else True,
            )
            for row in rows
        ]

    def _finish_in(
        self, session: Session, done: Sequence[tuple[Message, Outcome]]
    ) -> list[MessageState]:
        """The attempts logged and the messages moved on, each kind in one statement."""
        now = utcnow()
        session.execute(
            insert(DeliveryAttempt),
            [
                {
                    "message_id": message.id,
                    "at": now,
                    "status": outcome.status,
                    "error": outcome.error,
                    "latency_ms": outcome.latency_ms,
                    "answer": (outcome.answer or None) and outcome.answer[:ANSWER_KEPT_CHARS],
                }
                for message, outcome in done
            ],
        )
        for message, outcome in done:
            if outcome.disable_endpoint and message.endpoint_id:
                session.execute(
                    update(WebhookEndpoint)
                    .where(WebhookEndpoint.id == message.endpoint_id)
                    .values(enabled=False, disabled_reason=outcome.disable_endpoint)
                )
        moved = [self._next(message, outcome, now) for message, outcome in done]
        session.connection().execute(_FINISH, moved)
        return [MessageState(row["p_state"]) for row in moved]

    def _next(self, message: Message, outcome: Outcome, now: dt.datetime) -> dict[str, Any]:
        """Where an attempt leaves a message: delivered, pending until its next try, or
        failed (the parameters of `_FINISH`)."""
        row: dict[str, Any] = {
            "p_id": message.id,
            "p_claimed_by": message.claimed_by,
            "p_attempts": message.attempt,
            "p_state": MessageState.FAILED,
            "p_delivered_at": None,
            "p_next_attempt_at": now,
            "p_last_error": outcome.error,
        }
        if outcome.delivered:
            row.update(p_state=MessageState.DELIVERED, p_delivered_at=now, p_last_error=None)
        elif outcome.retryable and message.attempt <= len(self.schedule):
            delay = self.schedule[message.attempt - 1] * random.uniform(0.8, 1.2)
            if outcome.retry_after_s is not None:
                delay = max(delay, min(outcome.retry_after_s, RETRY_AFTER_MAX_S))
            row.update(
                p_state=MessageState.PENDING,
                p_next_attempt_at=now + dt.timedelta(seconds=delay),
            )
        return row

    def next_due_in(self) -> float | None:
        """Seconds until the next message is due (0 when one is), None when none waits."""
        with self._sessions() as session:
            due = session.scalar(select(func.min(_M.next_attempt_at)).where(*_DUE))
        if due is None:
            return None
        return max(0.0, (due - utcnow()).total_seconds())


def resend(session: Session, message_id: str) -> None:
    """Send a message again (the same id, so receivers may dedupe it): due now, with a
    fresh round of retries. Its earlier attempts stay in the log."""
    session.execute(
        update(_MESSAGE)
        .where(_M.id == message_id)
        .values(
            state=MessageState.PENDING,
            attempts=0,
            next_attempt_at=utcnow(),
            claimed_by=None,
            claim_expires_at=None,
        )
    )
    wake_deliverers(session)


def attempts_of(session: Session, message_ids: Sequence[str]) -> dict[str, list[DeliveryAttempt]]:
    """Each message's attempts, oldest first."""
    found: dict[str, list[DeliveryAttempt]] = {message_id: [] for message_id in message_ids}
    if message_ids:
        for attempt in session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id.in_(message_ids))
            .order_by(DeliveryAttempt.id)
        ):
            found[attempt.message_id].append(attempt)
    return found
