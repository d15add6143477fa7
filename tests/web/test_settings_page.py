"""The /settings page in Chromium, against a real server and a real webhook receiver on
127.0.0.1 (allowed by STORYTELLER_WEBHOOK_ALLOWED_HOSTS): the e-mail choice is kept, an
endpoint is added and its secret shown once, a test event arrives and its attempt shows in
the delivery log; axe-core finds no accessibility violation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from storyteller.app import create_app
from storyteller.config import Settings
from tests.service.server import served_in_thread
from tests.web.conftest import screenshot

pytestmark = pytest.mark.timeout(120)

ANSWER = "thanks, got it"


@dataclass
class Receiver:
    url: str
    received: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 that answers every POST 200 and keeps its headers."""
    got: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append({k.lower(): v for k, v in self.headers.items()})
            body = ANSWER.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_port}/hooks/stories", got)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """The service in this process (uvicorn in a thread), no e-mail server set up, webhooks
    allowed to reach 127.0.0.1."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        max_concurrent_jobs=1,
        webhook_allowed_hosts="127.0.0.1",
        webhook_retry_schedule="1,1,1",
    )
    with served_in_thread(create_app(settings)) as address:
        yield address


@pytest.fixture
def settings_page(browser: Browser, served: str) -> Iterator[Page]:
    context = browser.new_context(base_url=served, viewport={"width": 1000, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmations of rotate/delete
    yield page
    context.close()


def _no_violations(page: Page) -> None:
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_email_webhook_secret_test_event_and_delivery_log(
    settings_page: Page, receiver: Receiver
) -> None:
    page = settings_page
    page.goto("/settings")
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    expect(page.locator("#mail-off")).to_be_visible()  # no SMTP server on this service

    # E-mail: a bad address is refused beside its field, a good one is kept.
    email = page.get_by_label("Your e-mail address")
    email.fill("not an address")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#email-error")).to_contain_text("not an e-mail address")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_be_focused()
    email.fill("reader@example.com")
    mail = page.get_by_role("region", name="E-mail")
    mail.get_by_label("A video fails (with the reason)").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#mail-saved")).to_have_text("Saved: e-mails go to reader@example.com.")
    expect(page.locator("#email-error")).to_be_hidden()

    # A private address without the setting's leave is refused, the reason beside the field.
    url = page.get_by_label("Address that receives the events")
    url.fill("https://10.0.0.1/hook")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.locator("#hook-url-error")).to_be_visible()
    expect(url).to_be_focused()

    url.fill(receiver.url)
    page.get_by_label("Description").fill("our newsroom's bot")
    page.get_by_role("button", name="Add webhook").click()
    secret_box = page.locator("#secret-box")
    expect(secret_box).to_be_visible()
    expect(page.locator("#secret-title")).to_be_focused()
    secret = page.locator("#secret").inner_text()
    assert secret.startswith("whsec_")
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copied")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    hook = page.locator(".hook", has_text=receiver.url)
    expect(hook.locator(".tag")).to_have_text("enabled")
    screenshot(page, "settings-secret")
    page.get_by_role("button", name="I have saved it").click()
    expect(secret_box).to_be_hidden()
    expect(hook.get_by_role("heading")).to_be_focused()

    # Shown once: after a reload, the secret is nowhere on the page.
    page.reload()
    expect(page.get_by_label("Your e-mail address")).to_have_value("reader@example.com")
    expect(mail.get_by_label("A video fails (with the reason)")).to_be_checked()
    hook = page.locator(".hook", has_text=receiver.url)
    expect(hook).to_be_visible()
    assert secret not in page.content()

    # A test event reaches the receiver; its attempt shows in the log.
    hook.get_by_role("button", name="Send a test event").click()
    log = hook.locator("details.log")
    expect(log).to_have_attribute("open", "")
    delivery = log.locator(".delivery").first
    expect(delivery.locator(".tag")).to_have_text("delivered", timeout=20_000)
    row = delivery.locator("tbody tr").first
    expect(row.locator("td").nth(1)).to_have_text("200")
    expect(row.locator("td").nth(3)).to_have_text(ANSWER)
    assert len(receiver.received) == 1
    assert (
        receiver.received[0]["webhook-id"]
        == delivery.locator(".muted").inner_text().split(" · ")[1]
    )
    screenshot(page, "settings")
    _no_violations(page)

    # Send again: the same message id, once more.
    delivery.get_by_role("button", name="Send again").click()
    expect(delivery.get_by_role("button", name="Send again")).to_be_focused()
    expect(log.locator("tbody tr")).to_have_count(2, timeout=20_000)
    assert len(receiver.received) == 2
    assert receiver.received[0]["webhook-id"] == receiver.received[1]["webhook-id"]

    # Disable, enable, rotate (a new secret, shown once), delete.
    hook.get_by_role("button", name="Disable").click()
    expect(hook.locator(".tag").first).to_have_text("disabled")
    hook.get_by_role("button", name="Enable").click()
    expect(hook.locator(".tag").first).to_have_text("enabled")
    hook.get_by_role("button", name="Rotate secret").click()
    expect(secret_box).to_be_visible()
    rotated = page.locator("#secret").inner_text()
    assert rotated.startswith("whsec_") and rotated != secret
    page.get_by_role("button", name="I have saved it").click()
    hook.get_by_role("button", name="Delete").click()
    expect(page.locator(".hook")).to_have_count(0)
    expect(page.locator("#no-hooks")).to_be_visible()
    expect(page.locator("#hooks-title")).to_be_focused()


def test_at_a_phones_width_in_dark_mode(browser: Browser, served: str) -> None:
    context = browser.new_context(
        base_url=served, viewport={"width": 390, "height": 844}, color_scheme="dark"
    )
    page = context.new_page()
    try:
        page.goto("/settings")
        expect(page.get_by_role("button", name="Add webhook")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        _no_violations(page)
        screenshot(page, "settings-phone-dark")
    finally:
        context.close()
