"""Signing in on the page, in Chromium: the sign-in form, an upload, only one's own
batches (another member's batch is never shown), API keys, signing out."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from typer.testing import CliRunner

from storyteller.cli import app
from tests.media import Clip
from tests.service.server import ServeProcess
from tests.web.conftest import screenshot

pytestmark = pytest.mark.timeout(240)

PASSWORD = "long enough pass"


def add_user(served: ServeProcess, name: str, role: str = "member") -> str:
    """Add a user with `storyteller users add` on the server's data folder; their new key."""
    env = {"STORYTELLER_DATA_DIR": served.env["STORYTELLER_DATA_DIR"]}
    runner = CliRunner()
    added = runner.invoke(
        app, ["users", "add", name, "--role", role, "--password-stdin"], env=env, input=PASSWORD
    )
    assert added.exit_code == 0, added.output
    made = runner.invoke(app, ["keys", "create", name], env=env)
    assert made.exit_code == 0, made.output
    return made.output.strip().splitlines()[-1]


def sign_in(page: Page, name: str, password: str = PASSWORD) -> None:
    form = page.locator("#sign-in-form")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def test_sign_in_upload_see_only_ones_own_and_sign_out(
    page: Page, served: ServeProcess, speech_clip: Clip, tmp_path: Path
) -> None:
    add_user(served, "ann")
    bob_key = add_user(served, "bob")
    secret = tmp_path / "bobs-secret.mp4"
    secret.write_bytes(speech_clip.path.read_bytes())
    with secret.open("rb") as opened:
        bobs = httpx.post(
            f"{served.url}/api/upload",
            files=[("videos", ("bobs-secret.mp4", opened, "video/mp4"))],
            headers={"Authorization": f"Bearer {bob_key}"},
            timeout=60,
        )
    assert bobs.status_code == 200, bobs.text
    bobs_job = bobs.json()["jobId"]

    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(page, "ann", "not the password")
    expect(page.locator("#sign-in-error")).to_have_text("wrong name or password")
    sign_in(page, "ann")
    expect(page.get_by_role("heading", name="Turn videos into stories")).to_be_visible()
    expect(page.locator("#who")).to_have_text("ann (member)")
    screenshot(page, "signed-in")

    page.set_input_files("#files", [str(speech_clip.path)])
    page.get_by_role("button", name="Upload and tell").click()
    page.wait_for_url("**/?job=*")
    expect(page.locator(".row")).to_have_count(1)

    page.get_by_role("link", name="History").click()
    expect(page.locator("#jobs li")).to_have_count(1)
    expect(page.locator("body")).not_to_contain_text("bobs-secret")

    # Another member's batch, even by its address, is not shown.
    page.goto(f"/?job={bobs_job}")
    expect(page.get_by_role("heading", name="No such batch")).to_be_visible()
    expect(page.locator("#job")).to_be_hidden()  # no badge, no live buttons
    expect(page.locator(".row")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("bobs-secret")

    # A key, shown once.
    page.get_by_role("link", name="Account").click()
    page.get_by_role("button", name="Create a key").click()
    expect(page.locator("#new-key-value")).to_contain_text("st_")
    expect(page.locator("#users-panel")).to_be_hidden()  # a member manages no users

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/?view=history")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#jobs li")).to_have_count(0)


def test_an_admin_adds_a_user_on_the_page(page: Page, served: ServeProcess) -> None:
    add_user(served, "boss", role="admin")
    page.goto("/")
    sign_in(page, "boss")
    expect(page.locator("#who")).to_have_text("boss (admin)")
    page.get_by_role("link", name="Account").click()
    expect(page.locator("#users-table tbody tr")).to_have_count(1)
    page.locator("#add-user-name").fill("carl")
    page.locator("#add-user-password").fill("a long password")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#users-table tbody tr")).to_have_count(2)
    expect(page.locator("#users-table")).to_contain_text("carl")
