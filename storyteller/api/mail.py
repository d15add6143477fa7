"""A test e-mail from the settings page, to the signed-in person's own saved address (never
another: the service must not become a way to send mail to anyone). The saved address is
not verified, so one test a minute per person: anyone may save a stranger's address, and
without the limit this route would mail them as often as it is called."""

from __future__ import annotations

import threading
import time

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.datastructures import State

from storyteller.api.deps import CurrentUserDep, DatabaseDep, SettingsDep
from storyteller.api.errors import ApiError
from storyteller.notifications import preferences
from storyteller.notifications.mail import send_test

router = APIRouter(prefix="/api/notifications", tags=["notifications"])

TEST_EVERY_S = 60.0
_last_test_lock = threading.Lock()


def _one_a_minute(state: State, user_id: str) -> None:
    """When each person last asked for a test is kept by the app, in its process (with
    several web processes, each keeps its own: at most one a minute from each)."""
    now = time.monotonic()
    with _last_test_lock:
        last: dict[str, float] = state.__dict__.setdefault("last_test_email", {})
        wait = last.get(user_id, -TEST_EVERY_S) + TEST_EVERY_S - now
        if wait > 0:
            raise ApiError(
                429,
                f"one test e-mail a minute: try again in {int(wait) + 1} s",
                {"Retry-After": str(int(wait) + 1)},
            )
        last[user_id] = now


class TestEmailSent(BaseModel):
    email: str


@router.post("/test-email", response_model=TestEmailSent, summary="Send yourself a test e-mail")
def test_email(
    request: Request, user: CurrentUserDep, database: DatabaseDep, settings: SettingsDep
) -> TestEmailSent:
    """Send a test message to your saved address with the service's SMTP settings; 409 when
    e-mail is off or no address is saved, 429 within a minute of the last test, 502 with the reason when the SMTP server cannot
    be reached or refuses it. Blocks until the server has answered (a worker thread)."""
    if not settings.mail_configured:
        raise ApiError(
            409, "e-mail is off on this service: its operator sets STORYTELLER_SMTP_HOST"
        )
    with database.write() as session:  # the local user's row may be made on first read
        address = preferences.read(session, user.id).email
    if not address:
        raise ApiError(409, "save your e-mail address first, then send the test")
    _one_a_minute(request.app.state, user.id or "")  # "": the open mode's one user
    send_test(settings, address)
    return TestEmailSent(email=address)
