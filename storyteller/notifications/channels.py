"""The ways a message leaves: a signed webhook, or an e-mail over SMTP.

Each channel is `send(settings, message) -> Outcome`. E-mail is written by
`storyteller.notifications.mail` (`send_event`, raising `MailError` with `.retryable`);
with no SMTP server set up (`STORYTELLER_SMTP_HOST`) an e-mail message fails at once with
that reason: e-mail messages are still written then, so that the person's choice is
kept, but none waits to flood out when SMTP is set up later.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from storyteller.config import Settings
from storyteller.db.database import Database
from storyteller.db.models import Channel
from storyteller.notifications import events, mail, webhooks
from storyteller.notifications.outbox import Message, Outcome

Send = Callable[[Settings, Message], Outcome]

MAIL_NOT_CONFIGURED = "e-mail is not configured (set STORYTELLER_SMTP_HOST)"


def send_email(settings: Settings, message: Message, *, database: Database | None) -> Outcome:
    """The event's e-mail to the message's address. The outbox's id makes its Message-ID
    (the same on every try, so a mail client shows one message); with `database` a
    finished batch's e-mail carries its stories as a PDF or ZIP when they are small."""
    if not settings.mail_configured or message.email is None:
        return Outcome(delivered=False, error=MAIL_NOT_CONFIGURED)
    started = time.monotonic()
    try:
        mail.send_event(
            settings,
            message.email,
            events.finished(message.payload, settings),
            message_id=message.id,
            database=database,
        )
    except mail.MailError as error:
        return Outcome(
            delivered=False,
            retryable=error.retryable,
            error=str(error),
            latency_ms=int((time.monotonic() - started) * 1000),
        )
    return Outcome(delivered=True, latency_ms=int((time.monotonic() - started) * 1000))


def channels(database: Database | None = None) -> dict[Channel, Send]:
    """Each channel's sender; e-mail reads the batch's stories from `database`."""
    return {
        Channel.WEBHOOK: webhooks.deliver,
        Channel.EMAIL: functools.partial(send_email, database=database),
    }
