"""Where a person's notifications go: their e-mail address and the events sent to it."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from storyteller.api.deps import CurrentUserDep, DatabaseDep, SettingsDep
from storyteller.notifications import preferences
from storyteller.notifications.events import EVENT_NAMES

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


class MailChoice(BaseModel):
    email: str | None = Field(default=None, description="None or empty: no e-mail.")
    emailEvents: list[str] = Field(default_factory=list, description="Events sent by e-mail.")


class NotificationSettings(MailChoice):
    events: list[str] = Field(description="Every event one may choose.")
    mailConfigured: bool = Field(description="Whether the service can send e-mail at all.")


def _answer(choices: preferences.MailChoices, configured: bool) -> NotificationSettings:
    return NotificationSettings(
        email=choices.email,
        emailEvents=choices.events,
        events=EVENT_NAMES,
        mailConfigured=configured,
    )


@router.get("", response_model=NotificationSettings, summary="Your e-mail notifications")
def read_choices(
    user: CurrentUserDep, database: DatabaseDep, settings: SettingsDep
) -> NotificationSettings:
    with database.write() as session:  # the local user's row may be made on first read
        choices = preferences.read(session, user.id)
    return _answer(choices, settings.mail_configured)


@router.put("", response_model=NotificationSettings, summary="Choose your e-mail notifications")
def choose(
    body: MailChoice, user: CurrentUserDep, database: DatabaseDep, settings: SettingsDep
) -> NotificationSettings:
    """Set the address and the events sent to it (422 for an address or event that is
    not one)."""
    with database.write() as session:
        choices = preferences.choose(session, user.id, email=body.email, chosen=body.emailEvents)
    return _answer(choices, settings.mail_configured)
