"""The ways a message leaves: a signed webhook, or an e-mail over SMTP.

Each channel is `send(settings, message) -> Outcome`. E-mail is written by
`storyteller.notifications.mail` (`send_event(settings, to, event)`, raising `MailError`
with `.retryable`); with no SMTP server set up (`STORYTELLER_SMTP_HOST`) an e-mail
message fails at once with that reason: e-mail messages are still written then, so that
the person's choice is kept, but none waits to flood out when SMTP is set up later.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable

from storyteller.config import Settings
from storyteller.db.models import Channel
from storyteller.notifications import events, webhooks
from storyteller.notifications.outbox import Message, Outcome

Send = Callable[[Settings, Message], Outcome]

MAIL_NOT_CONFIGURED = "e-mail is not configured (set STORYTELLER_SMTP_HOST)"


def mail_configured(settings: Settings) -> bool:
    """Whether an SMTP server is set up (the setting comes with the e-mail module)."""
    return bool(getattr(settings, "smtp_host", None))


def send_email(settings: Settings, message: Message) -> Outcome:
    if not mail_configured(settings) or message.email is None:
        return Outcome(delivered=False, error=MAIL_NOT_CONFIGURED)
    try:
        mail = importlib.import_module("storyteller.notifications.mail")
    except ImportError:
        return Outcome(delivered=False, error=MAIL_NOT_CONFIGURED)
    started = time.monotonic()
    try:
        mail.send_event(settings, message.email, events.finished(message.payload, settings))
    except mail.MailError as error:
        return Outcome(
            delivered=False,
            retryable=bool(getattr(error, "retryable", False)),
            error=str(error),
            latency_ms=int((time.monotonic() - started) * 1000),
        )
    return Outcome(delivered=True, latency_ms=int((time.monotonic() - started) * 1000))


CHANNELS: dict[Channel, Send] = {Channel.WEBHOOK: webhooks.deliver, Channel.EMAIL: send_email}
