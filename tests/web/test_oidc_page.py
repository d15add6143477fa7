"""Signing in on the page through an OpenID Connect provider, in Chromium: the form shows
"Sign in with HOST", the link goes to the provider and back, and the user is signed in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from typer.testing import CliRunner

from storyteller.cli import app
from tests.accounts.provider import CLIENT_ID, CLIENT_SECRET, Provider, provider_served
from tests.service.server import ServeProcess

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def provider() -> Iterator[Provider]:
    with provider_served() as state:
        yield state


@pytest.fixture
def served(tmp_path: Path, provider: Provider) -> Iterator[ServeProcess]:
    """`storyteller serve` signing in through the test's provider."""
    server = ServeProcess(
        tmp_path / "data",
        STORYTELLER_OIDC_ISSUER=provider.issuer,
        STORYTELLER_OIDC_CLIENT_ID=CLIENT_ID,
        STORYTELLER_OIDC_CLIENT_SECRET=CLIENT_SECRET,
    )
    server.start()
    yield server
    server.kill()


def test_sign_in_with_the_provider_from_the_page(page: Page, served: ServeProcess) -> None:
    env = {"STORYTELLER_DATA_DIR": served.env["STORYTELLER_DATA_DIR"]}
    added = CliRunner().invoke(
        app, ["users", "add", "ann", "--role", "member", "--no-password"], env=env
    )
    assert added.exit_code == 0, added.output

    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("link", name="Sign in with 127.0.0.1").click()
    page.wait_for_url(f"{served.url}/")
    expect(page.get_by_role("heading", name="Turn videos into stories")).to_be_visible()
    expect(page.locator("#who")).to_have_text("ann (member)")
