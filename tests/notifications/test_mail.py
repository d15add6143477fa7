"""Notification e-mails received by a real SMTP server (aiosmtpd) the tests start: plain,
STARTTLS and implicit TLS with a certificate made here, a sign-in, refusals, a server that
is down, and the message of a batch the real engine finished."""

from __future__ import annotations

import datetime as dt
import email
import html
import io
import ipaddress
import socket
import ssl
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from typer.testing import CliRunner

from storyteller.cli import app as cli
from storyteller.config import Settings
from storyteller.db.database import Database
from storyteller.db.session import make_engine
from storyteller.notifications.events import batch_completed_event
from storyteller.notifications.mail import EVENT_ID_HEADER, MailError, send_event, send_test
from tests.api.conftest import MakeClient, anyio_backend, make_client, video_files, wait_for_job
from tests.media import Clip

__all__ = ["anyio_backend", "make_client"]

PUBLIC_URL = "https://stories.example"
USER, PASSWORD = "teller", "correct horse"
REFUSED = "nobody@refused.example"


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives, and refuses REFUSED with 550."""

    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address == REFUSED:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK: queued"

    def only(self) -> EmailMessage:
        assert len(self.envelopes) == 1, self.envelopes
        content = self.envelopes[0].original_content or b""
        message = email.message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = (
        isinstance(data, LoginPassword)
        and data.login == USER.encode()
        and data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own authority): (cert.pem, key.pem)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SMTP test server")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


@dataclass
class SmtpServer:
    inbox: Inbox
    port: int


def _serve(inbox: Inbox, **options: Any) -> Iterator[SmtpServer]:
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield SmtpServer(inbox, port)
    finally:
        controller.stop()


@pytest.fixture
def plain_server() -> Iterator[SmtpServer]:
    yield from _serve(Inbox())


@pytest.fixture
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[SmtpServer]:
    """STARTTLS required, then a sign-in required (AUTH PLAIN/LOGIN)."""
    yield from _serve(
        Inbox(),
        tls_context=_server_context(certificate),
        require_starttls=True,
        authenticator=_authenticate,
        auth_required=True,
    )


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[SmtpServer]:
    """TLS from the first byte (as on port 465)."""
    yield from _serve(Inbox(), ssl_context=_server_context(certificate))


def _mail_settings(settings: Settings, server: SmtpServer, **overrides: Any) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": server.port,
            "smtp_tls": "none",
            "mail_from": "Video Storyteller <stories@storyteller.example>",
            "public_url": PUBLIC_URL,
            "smtp_timeout_s": 5.0,
            **overrides,
        }
    )


def _video_event(name: str, title: str = "Snow Closes the Mountain Road") -> dict[str, Any]:
    batch = {
        "id": "b1",
        "createdAt": "2026-12-05T09:00:00Z",
        "endedAt": "2026-12-05T09:01:00Z",
        "status": "completed",
        "teller": "local",
        "counts": {"completed": 1, "failed": 0, "cancelled": 0},
        "url": f"{PUBLIC_URL}/?job=b1",
    }
    video = {
        "id": "v1",
        "name": name,
        "status": "completed",
        "title": title,
        "story": f'"{title}"\n\nStowe, Vermont — December 4, 2026\n\nOne.\n\nTwo.\n\nThree.',
        "error": None,
        "errorCode": None,
        "url": f"{PUBLIC_URL}/?job=b1#v1",
    }
    return {
        "type": "video.completed",
        "timestamp": "2026-12-05T09:01:00Z",
        "data": {"batch": batch, "video": video},
    }


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    markup = message.get_body(("html",))
    assert text is not None and markup is not None
    return text.get_content(), markup.get_content()


# --- a batch the real engine finished -----------------------------------------------


@pytest.fixture
async def finished(
    make_client: MakeClient,
    silent_clip: Clip,
    bad_inputs: dict[str, Path],
    plain_server: SmtpServer,
) -> dict[str, Any]:
    """A batch of a real clip (named with non-ASCII) and a text file, ended by the engine
    of a service whose user asked for `batch.completed` by e-mail to the test's server."""
    client = await make_client(
        start_engine=True,
        max_concurrent_jobs=1,
        smtp_host="127.0.0.1",
        smtp_port=plain_server.port,
        smtp_tls="none",
        mail_from="stories@storyteller.example",
        public_url=PUBLIC_URL,
    )
    chosen = {"email": "reader@example.com", "emailEvents": ["batch.completed"]}
    assert (await client.put("/api/notifications", json=chosen)).status_code == 200
    files = video_files(("café 東京.mp4", silent_clip.path), ("notes.mp4", bad_inputs["text"]))
    answer = await client.post("/api/upload", files=files)
    assert answer.status_code == 200, answer.text
    return await wait_for_job(client, answer.json()["jobId"], timeout=60)


def _wait_for_mail(inbox: Inbox, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not inbox.envelopes:
        assert time.monotonic() < deadline, "no e-mail arrived"
        time.sleep(0.1)


@pytest.mark.anyio
async def test_a_finished_batch_arrives_with_every_story_reason_link_and_its_pdf(
    finished: dict[str, Any], settings: Settings, database_url: str, plain_server: SmtpServer
) -> None:
    told = [v for v in finished["videos"] if v["statusDetail"] == "completed"]
    failed = [v for v in finished["videos"] if v["statusDetail"] == "failed"]
    assert len(told) == 1 and len(failed) == 1, finished
    # The service's own delivery loop sends it: the outbox, the e-mail channel, this module.
    _wait_for_mail(plain_server.inbox)
    message = plain_server.inbox.only()
    assert message["Subject"].startswith("1 story ready, 1 failed — batch of ")
    text, _ = _parts(message)
    assert "café 東京.mp4" in text and failed[0]["error"] in text
    assert f"{PUBLIC_URL}/?job={finished['id']}" in text
    # ...named by its outbox message (the same Message-ID on every try), the PDF attached.
    assert message[EVENT_ID_HEADER].startswith("msg_")
    assert message["Message-ID"] == f"<{message[EVENT_ID_HEADER]}@storyteller.example>"
    (pdf,) = message.iter_attachments()
    assert pdf.get_filename() == f"stories-{finished['id'][:8]}.pdf"
    assert pdf.get_content().startswith(b"%PDF-")
    plain_server.inbox.envelopes.clear()

    # The same event sent here, with the database at hand: the stories come attached.
    mail_settings = _mail_settings(settings, plain_server, database_url=database_url)
    database = Database(make_engine(database_url))
    try:
        with database.read() as session:  # the payload a webhook gets, as the outbox builds it
            event = batch_completed_event(session, mail_settings, finished["id"])
        send_event(
            mail_settings, "reader@example.com", event, message_id="msg_2x", database=database
        )
    finally:
        database.engine.dispose()

    message = plain_server.inbox.only()
    assert message["Subject"].startswith("1 story ready, 1 failed — batch of ")
    assert message["To"] == "reader@example.com"
    assert message[EVENT_ID_HEADER] == "msg_2x"
    assert message["Message-ID"] == "<msg_2x@storyteller.example>"
    assert message["Date"]
    text, markup = _parts(message)
    title = told[0]["story"].splitlines()[0].strip().strip('"')
    for body in (text, markup):
        assert "café 東京.mp4" in body
        assert "notes.mp4" in body
        assert f"{PUBLIC_URL}/?job={finished['id']}" in body
    assert title in text and failed[0]["error"] in text
    assert f"{PUBLIC_URL}/settings" in text and f'href="{PUBLIC_URL}/settings"' in markup
    for video in finished["videos"]:  # each video's own link
        assert f"{PUBLIC_URL}/?job={finished['id']}&video={video['id']}" in text
    # Escaped once in the HTML: the story's quotes and the reason's words come through.
    assert html.escape(title) in markup and html.escape(failed[0]["error"]) in markup
    for paragraph in told[0]["story"].split("\n\n")[2:]:
        assert paragraph.strip() in text

    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == [f"stories-{finished['id'][:8]}.pdf"]
    assert attachments[0].get_content().startswith(b"%PDF-")

    # A PDF over the size limit gives way to a ZIP of the stories as text and Markdown.
    plain_server.inbox.envelopes.clear()
    small = mail_settings.model_copy(update={"mail_attachment_max_mb": 0.005})
    database = Database(make_engine(database_url))
    try:
        send_event(small, "reader@example.com", event, database=database)
        message = plain_server.inbox.only()
        (attachment,) = message.iter_attachments()
        assert attachment.get_filename() == f"stories-{finished['id'][:8]}.zip"
        names = zipfile.ZipFile(io.BytesIO(attachment.get_content())).namelist()
        assert "stories.md" in names and any(n.endswith(".txt") for n in names)
        assert "attached as a ZIP" in _parts(message)[0]

        # A batch deleted before its e-mail left: the message goes, without the stories.
        plain_server.inbox.envelopes.clear()
        batch = {**event["data"]["batch"], "id": "gone"}
        send_event(
            mail_settings,
            "reader@example.com",
            {**event, "data": {**event["data"], "batch": batch}},
            database=database,
        )
    finally:
        database.engine.dispose()
    message = plain_server.inbox.only()
    assert not list(message.iter_attachments())
    assert "could not be attached" in _parts(message)[0]


# --- the connection -----------------------------------------------------------------


def test_starttls_and_a_sign_in(
    settings: Settings, starttls_server: SmtpServer, certificate: tuple[Path, Path]
) -> None:
    secure = _mail_settings(
        settings,
        starttls_server,
        smtp_tls="starttls",
        smtp_ca_file=certificate[0],
        smtp_username=USER,
        smtp_password=SecretStr(PASSWORD),
    )
    send_event(secure, "reader@example.com", _video_event("beach.mp4"))
    message = starttls_server.inbox.only()
    assert message["Subject"] == "Story ready: beach.mp4 — Snow Closes the Mountain Road"

    wrong = secure.model_copy(update={"smtp_password": SecretStr("wrong")})
    with pytest.raises(MailError) as refused:
        send_event(wrong, "reader@example.com", _video_event("beach.mp4"))
    assert not refused.value.retryable
    assert "STORYTELLER_SMTP_PASSWORD" in refused.value.reason

    untrusted = secure.model_copy(update={"smtp_ca_file": None})
    with pytest.raises(MailError) as distrusted:
        send_event(untrusted, "reader@example.com", _video_event("beach.mp4"))
    assert not distrusted.value.retryable
    assert "STORYTELLER_SMTP_CA_FILE" in distrusted.value.reason
    assert len(starttls_server.inbox.envelopes) == 1


def test_implicit_tls(
    settings: Settings, tls_server: SmtpServer, certificate: tuple[Path, Path]
) -> None:
    secure = _mail_settings(settings, tls_server, smtp_tls="tls", smtp_ca_file=certificate[0])
    send_event(secure, "reader@example.com", _video_event("東京.mp4"))
    assert tls_server.inbox.only()["Subject"].startswith("Story ready: 東京.mp4")

    plain = secure.model_copy(update={"smtp_tls": "none", "smtp_timeout_s": 1.0})
    with pytest.raises(MailError) as mismatch:  # plain SMTP to a TLS port: no greeting comes
        send_event(plain, "reader@example.com", _video_event("東京.mp4"))
    assert "STORYTELLER_SMTP" in mismatch.value.reason


def test_a_refused_recipient_is_not_retried(settings: Settings, plain_server: SmtpServer) -> None:
    with pytest.raises(MailError) as refused:
        send_event(_mail_settings(settings, plain_server), REFUSED, _video_event("a.mp4"))
    assert not refused.value.retryable
    assert "550" in refused.value.reason and REFUSED in refused.value.reason
    assert plain_server.inbox.envelopes == []


def test_a_server_that_is_down_is_retried(settings: Settings) -> None:
    down = SmtpServer(Inbox(), _free_port())  # nothing listens there
    with pytest.raises(MailError) as unreachable:
        send_event(_mail_settings(settings, down), "reader@example.com", _video_event("a.mp4"))
    assert unreachable.value.retryable
    assert f"could not connect to 127.0.0.1:{down.port}" in unreachable.value.reason
    assert "STORYTELLER_SMTP_HOST/PORT" in unreachable.value.reason


def test_header_injection_in_a_name_or_an_address_adds_no_header(
    settings: Settings, plain_server: SmtpServer
) -> None:
    hostile = "evil.mp4\r\nBcc: victim@example.com\r\nX-Injected: yes"
    event = _video_event(hostile, title="Fine\nBcc: other@example.com")
    send_event(_mail_settings(settings, plain_server), "reader@example.com", event)
    envelope = plain_server.inbox.envelopes[0]
    assert envelope.rcpt_tos == ["reader@example.com"]
    message = plain_server.inbox.only()
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert (
        "\n" not in message["Subject"] and "evil.mp4 Bcc: victim@example.com" in message["Subject"]
    )
    text, _ = _parts(message)
    assert "1. evil.mp4 Bcc: victim@example.com X-Injected: yes — completed" in text

    for address in ("reader@example.com\r\nBcc: victim@example.com", "two@a.example, b@c.example"):
        with pytest.raises(MailError) as refused:
            send_event(_mail_settings(settings, plain_server), address, event)
        assert not refused.value.retryable
    assert len(plain_server.inbox.envelopes) == 1


def test_an_address_beyond_ascii_goes_with_smtputf8(
    settings: Settings, plain_server: SmtpServer
) -> None:
    send_event(_mail_settings(settings, plain_server), "josé@example.com", _video_event("a.mp4"))
    envelope = plain_server.inbox.envelopes[0]
    assert envelope.rcpt_tos == ["josé@example.com"] and envelope.smtp_utf8
    assert plain_server.inbox.only()["To"] == "josé@example.com"
    with pytest.raises(MailError) as unknown:
        send_event(_mail_settings(settings, plain_server), "a@example.com", {"type": "x.y"})
    assert not unknown.value.retryable and "x.y" in unknown.value.reason


def test_markup_in_a_story_is_shown_not_obeyed(
    settings: Settings, plain_server: SmtpServer
) -> None:
    event = _video_event("<img src=x onerror=alert(1)>.mp4", title="<script>alert(1)</script>")
    send_event(_mail_settings(settings, plain_server), "reader@example.com", event)
    _, markup = _parts(plain_server.inbox.only())
    assert "<script>" not in markup and "<img src=x" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup


def test_the_mail_test_command(
    settings: Settings, plain_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORYTELLER_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("STORYTELLER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("STORYTELLER_SMTP_PORT", str(plain_server.port))
    monkeypatch.setenv("STORYTELLER_SMTP_TLS", "none")
    monkeypatch.setenv("STORYTELLER_MAIL_FROM", "stories@storyteller.example")
    runner = CliRunner()
    sent = runner.invoke(cli, ["mail", "test", "reader@example.com"])
    assert sent.exit_code == 0, sent.output
    assert f"through 127.0.0.1:{plain_server.port}" in sent.output
    assert plain_server.inbox.only()["Subject"] == "Test message from Video Storyteller"

    down = _free_port()
    monkeypatch.setenv("STORYTELLER_SMTP_PORT", str(down))
    failed = runner.invoke(cli, ["mail", "test", "reader@example.com"])
    assert failed.exit_code == 1
    assert f"could not connect to 127.0.0.1:{down}" in failed.output
    assert "Traceback" not in failed.output


def test_no_smtp_host_says_which_setting_to_set(settings: Settings) -> None:
    with pytest.raises(MailError) as off:
        send_test(settings, "reader@example.com")
    assert "STORYTELLER_SMTP_HOST" in off.value.reason and not off.value.retryable
    with pytest.raises(ValueError, match="STORYTELLER_MAIL_FROM"):
        Settings(_env_file=None, smtp_host="smtp.example.com")  # type: ignore[call-arg]


@pytest.mark.anyio
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # nothing of the database's
async def test_the_test_email_route_sends_to_your_own_address(
    make_client: MakeClient, plain_server: SmtpServer
) -> None:
    off = await make_client()
    answer = await off.post("/api/notifications/test-email")
    assert answer.status_code == 409 and "STORYTELLER_SMTP_HOST" in answer.json()["error"]

    client = await make_client(
        smtp_host="127.0.0.1",
        smtp_port=plain_server.port,
        smtp_tls="none",
        mail_from="stories@storyteller.example",
    )
    answer = await client.post("/api/notifications/test-email")
    assert answer.status_code == 409 and "save your e-mail address" in answer.json()["error"]
    saved = await client.put(
        "/api/notifications", json={"email": "reader@example.com", "emailEvents": []}
    )
    assert saved.status_code == 200, saved.text
    answer = await client.post("/api/notifications/test-email")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"email": "reader@example.com"}
    assert plain_server.inbox.only()["To"] == "reader@example.com"
    # The saved address is not verified: a second test within the minute is refused, so
    # the route cannot mail a stranger's address over and over.
    again = await client.post("/api/notifications/test-email")
    assert again.status_code == 429 and "one test e-mail a minute" in again.json()["error"]
    assert 0 < int(again.headers["Retry-After"]) <= 60
    assert len(plain_server.inbox.envelopes) == 1

    down = await make_client(
        smtp_host="127.0.0.1", smtp_port=_free_port(), smtp_tls="none", mail_from="s@x.example"
    )
    await down.put("/api/notifications", json={"email": "reader@example.com", "emailEvents": []})
    answer = await down.post("/api/notifications/test-email")
    assert answer.status_code == 502
    assert "could not connect to 127.0.0.1" in answer.json()["error"]
