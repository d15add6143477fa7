"""Notification e-mails over SMTP: a message per event (`mail_message.py` says what it
reads), the batch's stories attached when small, sent with the standard library's
`smtplib` in plain, STARTTLS or TLS mode, with or without a sign-in.

Sending is synchronous (a delivery loop runs it in a worker thread). Every failure is a
`MailError` that says whether trying again later may help (`retryable`: the server is
down, slow or answers 4xx) or not (a 5xx such as a refused recipient, bad credentials, a
TLS mode that does not fit the server), and, for the latter, which setting to fix.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from storyteller.config import Settings
from storyteller.db.database import Database
from storyteller.errors import StorytellerError
from storyteller.export import archive, pdf
from storyteller.export.document import load_batch
from storyteller.notifications.mail_message import BATCH_COMPLETED, Message, message_of

log = logging.getLogger(__name__)

# The header a receiving script (or a person's filter) dedupes by: the event's message
# id, the same as a webhook's `webhook-id`, kept across retries of one notification.
EVENT_ID_HEADER = "X-Storyteller-Message-Id"
EVENT_TYPE_HEADER = "X-Storyteller-Event"
_MB = 1024 * 1024
_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]")


class MailError(StorytellerError):
    """An e-mail could not be sent; `retryable` says whether a later try may succeed."""

    code = "mail_failed"

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


@dataclass(frozen=True)
class Attachment:
    file_name: str
    content_type: str  # maintype/subtype
    body: bytes


def recipient(to: str) -> str:
    """`to` as one bare address (`name@example.com`), or a MailError (not retryable)."""
    candidate = to.strip()
    problem = f"{to!r} is not an e-mail address: give one like name@example.com"
    if not candidate or any(c in candidate for c in "\r\n\x00<>,;") or " " in candidate:
        raise MailError(problem, retryable=False)
    local, at, domain = candidate.rpartition("@")
    if not (local and at and domain) or "@" in local:
        raise MailError(problem, retryable=False)
    try:
        # The standard library refuses a local part beyond ASCII (`josé@...`), which SMTP
        # carries with SMTPUTF8: check its ASCII stand-in instead.
        plain = local if local.isascii() else "x" * len(local.encode())
        Address(addr_spec=f"{plain}@{domain}")
    # AttributeError: the parser trips over some malformed domains (`a@[x`) on 3.11.
    except (ValueError, IndexError, AttributeError, HeaderParseError) as exc:
        raise MailError(problem, retryable=False) from exc
    return candidate


def _sender(settings: Settings) -> tuple[str, str]:
    """The From header and the envelope sender's bare address."""
    if not settings.mail_configured:
        raise MailError(
            "e-mail is off: set STORYTELLER_SMTP_HOST (and STORYTELLER_MAIL_FROM) to the SMTP "
            "server that sends the notifications",
            retryable=False,
        )
    header = (settings.mail_from or "").strip()
    _, bare = parseaddr(header)
    if "@" not in bare:
        raise MailError(
            f"STORYTELLER_MAIL_FROM {header!r} holds no e-mail address: set it to one like "
            "stories@example.com",
            retryable=False,
        )
    return header, bare


def compose(
    settings: Settings,
    to: str,
    message: Message,
    *,
    message_id: str | None = None,
    event_type: str | None = None,
    attachment: Attachment | None = None,
) -> EmailMessage:
    """The MIME message: text and HTML alternatives, and the attachment if any."""
    header_from, bare_from = _sender(settings)
    domain = bare_from.rpartition("@")[2]
    mail = EmailMessage(policy=policy.SMTP)
    mail["Subject"] = message.subject
    mail["From"] = header_from
    mail["To"] = recipient(to)
    mail["Date"] = formatdate(usegmt=True)
    # One event, one Message-ID: a retried notification is the same message to mail apps.
    safe_id = _ID_CHARACTERS.sub("", message_id or "")[:100]
    mail["Message-ID"] = f"<{safe_id}@{domain}>" if safe_id else make_msgid(domain=domain)
    if safe_id:
        mail[EVENT_ID_HEADER] = safe_id
    if event_type:
        mail[EVENT_TYPE_HEADER] = _ID_CHARACTERS.sub("", event_type)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    mail.set_content(message.text())
    mail.add_alternative(message.html(), subtype="html")
    if attachment is not None:
        maintype, _, subtype = attachment.content_type.partition("/")
        mail.add_attachment(
            attachment.body, maintype=maintype, subtype=subtype, filename=attachment.file_name
        )
    return mail


def batch_attachment(
    database: Database, settings: Settings, event: Mapping[str, Any]
) -> tuple[Attachment | None, str | None]:
    """The batch's stories to attach (its PDF, or a ZIP of text and Markdown when the PDF
    is too big) and a note for the message when there is none or it is the ZIP."""
    limit = int(settings.mail_attachment_max_mb * _MB)
    batch_id = str((event.get("data") or {}).get("batch", {}).get("id") or "")
    if not limit or not batch_id:
        return None, None
    stem = f"stories-{batch_id[:8]}"
    download = (
        f" Download them from {settings.public_url.rstrip('/')}/api/job/{batch_id}/export?format=pdf"
        if settings.public_url
        else " Download them from the batch page."
    )
    try:
        with database.read() as session:
            document = load_batch(session, batch_id, settings)
        if document is None:
            return None, "The stories could not be attached: the batch has been deleted."
        note = None
        try:
            body = pdf.render(document)
            if len(body) <= limit:
                return Attachment(f"{stem}.pdf", "application/pdf", body), None
            note = f"The PDF is too big to attach ({len(body) / _MB:.1f} MB)."
        except pdf.PdfError as exc:
            log.warning("the PDF of batch %s could not be made for its e-mail: %s", batch_id, exc)
            note = "The PDF could not be made."
        stories_json = json.dumps(event.get("data"), ensure_ascii=False, indent=2).encode()
        body = archive.render(document, stories_json=stories_json)
        if len(body) <= limit:
            return (
                Attachment(f"{stem}.zip", "application/zip", body),
                f"{note} The stories are attached as a ZIP of text and Markdown.",
            )
        return None, f"The stories are too big to attach.{download}"
    except Exception as exc:  # an attachment is a courtesy: the message goes without it
        log.warning("the stories of batch %s could not be attached", batch_id, exc_info=exc)
        return None, f"The stories could not be attached (the service's log says why).{download}"


def send_event(
    settings: Settings,
    to: str,
    event: Mapping[str, Any],
    *,
    message_id: str | None = None,
    database: Database | None = None,
) -> None:
    """Send the e-mail of `event` (`batch.completed`, `video.completed`, `video.failed`,
    the webhook payload) to `to`. Synchronous: blocks for at most a few times
    `SMTP_TIMEOUT_S`. `message_id` (the outbox's) makes the Message-ID and the dedupe
    header; with `database`, a `batch.completed` message carries the batch's stories.
    Raises MailError."""
    try:
        message = message_of(event, public_url=settings.public_url)
    except ValueError as exc:  # an event no e-mail is written for: trying again cannot help
        raise MailError(str(exc), retryable=False) from exc
    attachment = None
    if database is not None and event.get("type") == BATCH_COMPLETED:
        attachment, note = batch_attachment(database, settings, event)
        if note:
            message = dataclasses.replace(message, notes=(*message.notes, note))
    mail = compose(
        settings,
        to,
        message,
        message_id=message_id,
        event_type=str(event.get("type") or ""),
        attachment=attachment,
    )
    deliver(settings, mail)


def send_test(settings: Settings, to: str) -> None:
    """A short message that proves the SMTP settings work. Raises MailError."""
    public = f" at {settings.public_url}" if settings.public_url else ""
    message = Message(
        subject="Test message from Video Storyteller",
        heading="E-mail from Video Storyteller works",
        batch_url=None,
        videos=(),
        notes=(
            f"This test message was sent by the Video Storyteller service{public} through "
            f"{settings.smtp_host}:{settings.smtp_port_or_default} "
            f"({settings.smtp_tls}). Notifications of finished batches will come like it.",
        ),
    )
    deliver(settings, compose(settings, to, message, event_type="test"))


def _tls_context(settings: Settings) -> ssl.SSLContext:
    return ssl.create_default_context(
        cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None
    )


def deliver(settings: Settings, mail: EmailMessage) -> None:
    """Hand `mail` to the SMTP server, each failure told as a MailError."""
    host = (settings.smtp_host or "").strip()
    port = settings.smtp_port_or_default
    where = f"{host}:{port}"
    timeout = settings.smtp_timeout_s
    _, envelope_from = _sender(settings)
    try:
        client: smtplib.SMTP
        if settings.smtp_tls == "tls":
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=_tls_context(settings))
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if settings.smtp_tls == "starttls":
                client.starttls(context=_tls_context(settings))
            if settings.smtp_username:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                client.login(settings.smtp_username, password)
            client.send_message(mail, from_addr=envelope_from, to_addrs=[str(mail["To"])])
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(
            f"the SMTP server {where} refused the sign-in ({_said(exc)}): check "
            "STORYTELLER_SMTP_USERNAME and STORYTELLER_SMTP_PASSWORD",
            retryable=False,
        ) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        code, said = next(iter(exc.recipients.values()), (550, b""))
        raise MailError(
            f"the SMTP server {where} refused the recipient {mail['To']} ({code} "
            f"{_text(said)})" + ("" if _temporary(code) else ": check the address"),
            retryable=_temporary(code),
        ) from exc
    except smtplib.SMTPSenderRefused as exc:
        raise MailError(
            f"the SMTP server {where} refused the sender {envelope_from} ({_said(exc)})"
            + ("" if _temporary(exc.smtp_code) else ": check STORYTELLER_MAIL_FROM"),
            retryable=_temporary(exc.smtp_code),
        ) from exc
    except smtplib.SMTPResponseException as exc:
        raise MailError(
            f"the SMTP server {where} refused the message ({_said(exc)})",
            retryable=_temporary(exc.smtp_code),
        ) from exc
    except smtplib.SMTPNotSupportedError as exc:
        if "SMTPUTF8" in str(exc):
            raise MailError(
                f"the SMTP server {where} cannot deliver to {mail['To']}: an address beyond "
                "ASCII needs a server that offers SMTPUTF8",
                retryable=False,
            ) from exc
        raise MailError(
            f"the SMTP server {where} does not offer what the settings ask ({exc}): check "
            "STORYTELLER_SMTP_TLS (starttls needs a server that offers STARTTLS; many offer "
            "a sign-in only after it) and STORYTELLER_SMTP_USERNAME",
            retryable=False,
        ) from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise MailError(
            f"the SMTP server {where} closed the connection ({exc or 'no reason given'}) — "
            "check STORYTELLER_SMTP_TLS and STORYTELLER_SMTP_PORT (a server on port 465 "
            "speaks TLS from the first byte: `tls`)",
            retryable=True,
        ) from exc
    except ssl.SSLCertVerificationError as exc:
        raise MailError(
            f"the certificate of the SMTP server {where} is not trusted ({exc.verify_message}): "
            "check STORYTELLER_SMTP_HOST is the name on it, or set STORYTELLER_SMTP_CA_FILE "
            "to the authority that signed it",
            retryable=False,
        ) from exc
    except ssl.SSLError as exc:
        raise MailError(
            f"TLS with the SMTP server {where} failed ({exc.reason or exc}): check "
            "STORYTELLER_SMTP_TLS (`tls` for port 465, `starttls` for 587) and "
            "STORYTELLER_SMTP_PORT",
            retryable=False,
        ) from exc
    except socket.gaierror as exc:
        raise MailError(
            f"could not find the SMTP server {host} ({exc.strerror}) — check STORYTELLER_SMTP_HOST",
            retryable=True,
        ) from exc
    except TimeoutError as exc:
        raise MailError(
            f"the SMTP server {where} did not answer within {timeout:g} s — check "
            "STORYTELLER_SMTP_HOST/PORT, or raise STORYTELLER_SMTP_TIMEOUT_S",
            retryable=True,
        ) from exc
    except OSError as exc:
        raise MailError(
            f"could not connect to {where} ({exc.strerror or exc}) — check "
            "STORYTELLER_SMTP_HOST/PORT",
            retryable=True,
        ) from exc


def _temporary(code: int) -> bool:
    """SMTP's 4xx replies say "try again later"; 5xx say "never"."""
    return 400 <= code < 500


def _text(said: bytes | str) -> str:
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else said
    return " ".join(text.split())[:200]


def _said(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error)}".strip()
