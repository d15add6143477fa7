"""axe-core (shipped inside axe-playwright-python, nothing downloaded) on every page and
state a person meets: idle, files chosen, uploading, a batch in progress, done with a
failure, a story open, a dialog open, history, no such batch, signed in, the account,
/admin. No violation of any impact."""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, Route, expect

from tests.media import Clip
from tests.service.server import ServeProcess
from tests.web.test_sign_in import add_user, sign_in

pytestmark = pytest.mark.timeout(240)

AXE = Axe()


def violations(page: Page) -> list[str]:
    results = AXE.run(page)
    return [
        f"{rule['id']} ({rule['impact']}): {[node['target'] for node in rule['nodes']][:5]}"
        for rule in results.response["violations"]
    ]


def check(page: Page, state: str, found: dict[str, list[str]]) -> None:
    found[state] = violations(page)


def test_no_accessibility_violation_in_any_state(
    page: Page, served: ServeProcess, speech_clip: Clip, bad_inputs: dict[str, Path], tmp_path: Path
) -> None:
    found: dict[str, list[str]] = {}
    page.goto("/")
    expect(page.locator("#teller option")).not_to_have_count(0)
    check(page, "idle", found)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bad_inputs["no_moov"].read_bytes())
    page.set_input_files("#files", [str(speech_clip.path), str(broken)])
    check(page, "chosen", found)

    # Uploading: the transfers held until axe has looked.
    held: list[Route] = []
    page.route("**/api/uploads/**", lambda route: held.append(route))
    page.get_by_role("button", name="Upload and tell").click()
    expect(page.locator("#sending")).to_be_visible()
    check(page, "uploading", found)
    for route in held:
        route.continue_()
    page.unroute("**/api/uploads/**")

    page.wait_for_url("**/?job=*")
    expect(page.locator(".row")).to_have_count(2)
    check(page, "in progress", found)
    expect(page.locator("#job-status")).to_have_text("1 done, 1 failed", timeout=120_000)
    check(page, "done with a failure", found)
    page.get_by_role("button", name="Show the story of speech.mp4").click()
    expect(page.locator(".story")).to_be_visible()
    page.get_by_text("What the story stands on").click()
    check(page, "story open", found)

    page.get_by_role("link", name="History").click()
    expect(page.locator("#jobs li")).to_have_count(1)
    check(page, "history", found)
    page.get_by_role("button", name="Delete the batch").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    check(page, "dialog open", found)
    page.keyboard.press("Escape")

    page.goto("/?job=no-such-batch")
    expect(page.get_by_role("heading", name="No such batch")).to_be_visible()
    check(page, "no such batch", found)

    add_user(served, "ann", role="admin")
    page.goto("/")
    sign_in(page, "ann")
    expect(page.locator("#who")).to_have_text("ann (admin)")
    check(page, "signed in", found)
    page.get_by_role("link", name="Account").click()
    expect(page.locator("#users-table tbody tr")).to_have_count(1)
    check(page, "account", found)
    page.goto("/admin")
    expect(page.get_by_role("heading", name="Waiting")).to_be_visible()
    check(page, "/admin", found)

    assert {state: rules for state, rules in found.items() if rules} == {}
