"""A story beside its video, in Chromium: a quoted sentence plays the video from the
moment it quotes, the transcript seeks too; Write again keeps the first version, which
can be made current again."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.media import Clip
from tests.service.server import ServeProcess
from tests.web.conftest import screenshot

pytestmark = pytest.mark.timeout(240)


def playing_near(player: Locator, start_s: float, within_s: float = 1.0) -> None:
    """Wait until the player plays, less than `within_s` after `start_s`."""
    deadline = time.monotonic() + 10
    state = {}
    while time.monotonic() < deadline:
        state = player.evaluate("video => ({ paused: video.paused, time: video.currentTime })")
        if not state["paused"] and start_s <= state["time"] < start_s + within_s:
            return
        time.sleep(0.05)
    raise AssertionError(f"the player is at {state}, not playing from {start_s} s")


def test_the_story_beside_its_video(page: Page, served: ServeProcess, speech_clip: Clip) -> None:
    page.goto("/")
    page.set_input_files("#files", [str(speech_clip.path)])
    page.get_by_role("button", name="Upload and tell").click()
    page.wait_for_url("**/?job=*")
    job_id = page.url.split("job=")[1]
    row = page.locator(".row")
    expect(row.locator(".status")).to_have_text("done", timeout=120_000)
    row.get_by_role("button", name="Show the story of speech.mp4").click()
    player = row.locator("video")
    # The quote: what the voice says, linked to when it says it.
    quote = row.locator(".sentence.from-speech").first
    expect(quote).to_contain_text("marathon")
    start_s = float(quote.get_attribute("data-start") or "nan")
    assert 0 <= start_s < 7.6
    quote.click()
    playing_near(player, start_s)
    screenshot(page, "story-playing")
    # The transcript seeks as well.
    player.evaluate("video => video.pause()")
    row.get_by_text("What the story stands on").click()
    line = row.locator(".evidence .lines .seek").first
    line.click()
    playing_near(player, float(line.get_attribute("data-start") or "nan"))

    # Write again: a second version, the first kept; the focus goes to the new one.
    row.get_by_role("button", name="Write again the story of speech.mp4").click()
    versions = row.get_by_label("Versions of the story of speech.mp4")
    expect(versions.locator("option")).to_have_count(2, timeout=120_000)
    expect(row.locator(".story")).to_be_focused()
    expect(row.locator(".story")).to_have_attribute("aria-label", "Story, version 2")
    assert served.job(job_id)["videos"][0]["storyVersion"] == 2
    screenshot(page, "versions")
    versions.select_option("1")
    expect(row.locator(".story")).to_have_attribute("aria-label", "Story, version 1")
    row.get_by_role("button", name="Make version 1 current for speech.mp4").click()
    expect(row.locator(".story-box .message")).to_have_text(
        "Version 1 of speech.mp4 is now current."
    )
    assert served.job(job_id)["videos"][0]["storyVersion"] == 1
    expect(versions.locator("option:checked")).to_contain_text("Version 1")
    expect(versions.locator("option:checked")).to_contain_text("current")
