"""A video held back by a spending budget says so on its card, in the browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.media import Clip
from tests.service.server import ServeProcess

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServeProcess]:
    """The service with a daily budget no Gemini video fits in: the budget holds the
    video before any call, so the key is never used."""
    server = ServeProcess(
        tmp_path / "data",
        MAX_CONCURRENT_JOBS="1",
        STORYTELLER_DAILY_BUDGET_USD="0.000001",
        GEMINI_API_KEY="never-used",
    )
    server.start()
    yield server
    server.kill()


def test_a_video_over_the_budget_waits_with_the_reason_on_its_card(
    page: Page, served: ServeProcess, snow_clip: Clip
) -> None:
    page.goto("/")
    page.locator("#teller").select_option("gemini")
    page.locator("#drop").drop({"files": [str(snow_clip.path)]})
    page.get_by_role("button", name="Upload and tell").click()

    card = page.locator(".row", has=page.locator(".name", has_text="snow.webm"))
    expect(card.locator(".waiting")).to_contain_text("daily budget of $0.000001", timeout=60_000)
    expect(card.locator(".status")).to_have_text("waiting")
    expect(card.locator(".cancel")).to_be_visible()
    job_id = page.url.split("job=")[1]
    [video] = served.job(job_id)["videos"]
    assert video["attempts"] == 0
    assert "daily budget" in video["waiting"]
