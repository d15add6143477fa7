"""A test e-mail from the settings page, to the signed-in person's own saved address (never
another: the service must not become a way to send mail to anyone)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from storyteller.api.deps import CurrentUserDep, DatabaseDep, SettingsDep
from storyteller.api.errors import ApiError
from storyteller.notifications import preferences
from storyteller.notifications.mail import send_test

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


class TestEmailSent(BaseModel):
    email: str


@router.post("/test-email", response_model=TestEmailSent, summary="Send yourself a test e-mail")
def test_email(user: CurrentUserDep, database: DatabaseDep, settings: SettingsDep) -> TestEmailSent:
    """Send a test message to your saved address with the service's SMTP settings; 409 when
    e-mail is off or no address is saved, 502 with the reason when the SMTP server cannot
    be reached or refuses it. Blocks until the server has answered (a worker thread)."""
    if not settings.mail_configured:
        raise ApiError(
            409, "e-mail is off on this service: its operator sets STORYTELLER_SMTP_HOST"
        )
    with database.write() as session:  # the local user's row may be made on first read
        address = preferences.read(session, user.id).email
    if not address:
        raise ApiError(409, "save your e-mail address first, then send the test")
    send_test(settings, address)
    return TestEmailSent(email=address)
