"""Which events a person has sent to their e-mail address, and where that is.

A user's choices are on their row; the open loopback mode's local user, who has no row,
keeps theirs on the service's own row (`service_state`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from storyteller.db.models import EMAIL_LENGTH, ServiceState, User
from storyteller.errors import StorytellerError
from storyteller.notifications import events

# Deliberately plain: one @, no spaces or brackets, a domain with a dot. The mail server
# has the last word; this catches slips, not every address RFC 5322 allows.
_EMAIL = re.compile(
    r"^[^\s@<>()\[\],;:\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


class InvalidEmail(StorytellerError):
    """An e-mail address that cannot be one."""


class InvalidEvent(StorytellerError):
    """An event name that is not one of the events."""


@dataclass(frozen=True)
class MailChoices:
    email: str | None
    events: list[str]


def checked_email(address: str | None) -> str | None:
    """The address, trimmed (None for none); raises InvalidEmail saying what is wrong."""
    if address is None or not address.strip():
        return None
    address = address.strip()
    if len(address) > EMAIL_LENGTH or not _EMAIL.match(address):
        raise InvalidEmail(
            f"{address[:80]!r} is not an e-mail address: write it as name@example.com"
        )
    return address


def checked_events(chosen: list[str]) -> list[str]:
    unknown = sorted(set(chosen) - set(events.EVENT_NAMES))
    if unknown:
        raise InvalidEvent(
            f"unknown event {unknown[0]!r}: choose from {', '.join(events.EVENT_NAMES)}"
        )
    return [name for name in events.EVENT_NAMES if name in chosen]


def _holder(session: Session, user_id: str | None) -> User | ServiceState:
    if user_id is None:
        state = session.get(ServiceState, 1)
        if state is None:  # made by migration 0007; a bare test schema may lack it
            state = ServiceState(id=1, paused=False)
            session.add(state)
        return state
    user = session.get(User, user_id)
    if user is None:
        raise InvalidEmail("no such user")
    return user


def read(session: Session, user_id: str | None) -> MailChoices:
    holder = _holder(session, user_id)
    return MailChoices(email=holder.email, events=list(holder.email_events or []))


def choose(
    session: Session, user_id: str | None, *, email: str | None, chosen: list[str]
) -> MailChoices:
    """Set the address and the events sent to it (checked first)."""
    address, names = checked_email(email), checked_events(chosen)
    holder = _holder(session, user_id)
    holder.email = address
    holder.email_events = names
    session.flush()
    return MailChoices(email=address, events=names)
