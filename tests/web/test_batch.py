"""A batch of 100 videos on the page, in Chromium: dropped at once, every row appears,
the filters and counts add up, failures come first, the page stays smooth while the
updates stream in (no main-thread task over 200 ms, each update drawn soon after the
server sent it), the tab title counts, and a system notification says when it ended."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.media import SceneSpec, make_clip
from tests.service.server import ServeProcess
from tests.web.conftest import screenshot

# About 40 s (100 uploads and videos): behind `slow`.
pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

# Injected before the page's own scripts: what the page does is recorded, not changed
# (except Notification, whose system pop-up cannot be observed: it is counted instead).
WATCH = """
window.__longTasks = [];
window.__longTaskStarts = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    window.__longTasks.push(entry.duration);
    window.__longTaskStarts.push(entry.startTime);
  }
}).observe({ type: "longtask", buffered: true });
window.__lagMs = [];
new MutationObserver((records) => {
  const now = Date.now();
  for (const record of records) window.__lagMs.push(now - Number(record.target.dataset.at));
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-at"] });
window.__notifications = [];
const RealNotification = window.Notification;
window.Notification = class {
  constructor(title, options) { window.__notifications.push({ title, body: options.body }); }
  static get permission() { return RealNotification.permission; }
  static requestPermission() { return RealNotification.requestPermission(); }
};
window.__hidden = false;
Object.defineProperty(document, "visibilityState", { get: () => window.__hidden ? "hidden" : "visible" });
"""

VIDEOS = 100


@pytest.fixture
def served_100(tmp_path: Path) -> Iterator[ServeProcess]:
    server = ServeProcess(tmp_path / "data", STORYTELLER_MAX_BATCH_VIDEOS=str(VIDEOS))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def hundred_files(tmp_path: Path) -> list[Path]:
    """99 tiny real clips (the same bytes under 99 names: the intake takes duplicates)
    and one file that is not a video inside, so that one fails."""
    folder = tmp_path / "hundred"
    folder.mkdir()
    first = make_clip(
        folder / "clip-001.mp4", [SceneSpec(0.2, "beach")], size=(64, 36), audio=False
    )
    files = [first]
    for number in range(2, VIDEOS):
        files.append(folder / f"clip-{number:03}.mp4")
        shutil.copyfile(first, files[-1])
    broken = folder / "broken.mp4"
    broken.write_bytes(b"not a video at all " * 100)
    return [*files, broken]


@pytest.fixture
def watched(browser, served_100: ServeProcess) -> Iterator[tuple[BrowserContext, Page]]:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=served_100.url, viewport={"width": 1100, "height": 900})
    context.grant_permissions(["notifications"], origin=served_100.url)
    context.add_init_script(WATCH)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield context, page
    context.close()


def test_a_hundred_videos_at_a_glance(
    watched: tuple[BrowserContext, Page], hundred_files: list[Path]
) -> None:
    _, page = watched
    page.goto("/")
    page.locator("#drop").drop({"files": [str(path) for path in hundred_files]})
    expect(page.locator("#chosen li")).to_have_count(VIDEOS)
    expect(page.locator("#chosen-summary")).to_contain_text(f"{VIDEOS} videos to send")
    page.get_by_role("button", name="Upload and tell").click()
    page.wait_for_url("**/?job=*", timeout=120_000)
    # The tab in the background from now on: the end is told by a system notification.
    page.evaluate("window.__hidden = true")
    expect(page.locator("#videos .row")).to_have_count(VIDEOS)
    expect(page).to_have_title(re.compile(rf"^\d+/{VIDEOS} done"))
    expect(page.locator("#job-title")).to_be_focused()  # the focus went to what the upload made
    expect(page.locator("#job-status")).to_have_text(
        f"{VIDEOS - 1} done, 1 failed", timeout=180_000
    )
    assert page.title() == f"{VIDEOS - 1}/{VIDEOS} done, 1 failed – Video Storyteller"

    # Smooth: no main-thread task over 200 ms, and each update drawn soon after it was sent.
    long_tasks = page.evaluate("window.__longTasks")
    assert max(long_tasks, default=0) < 200, long_tasks
    lags = sorted(page.evaluate("window.__lagMs"))
    assert len(lags) >= VIDEOS, len(lags)
    assert lags[int(0.99 * len(lags))] < 1000, lags[-10:]

    # Told once, in the background, in the badge's words.
    notifications = page.evaluate("window.__notifications")
    assert notifications == [
        {"title": "Your videos are told", "body": f"{VIDEOS - 1} done, 1 failed"}
    ]

    # Failures first; the filters' counts add up to the batch.
    expect(page.locator("#videos .row").first.locator(".name")).to_have_text("broken.mp4")
    filters = page.locator("#filters button")
    counts = {
        name: int(filters.filter(has_text=name).locator(".n").inner_text())
        for name in ("All", "Done", "Failed")
    }
    assert counts == {"All": VIDEOS, "Done": VIDEOS - 1, "Failed": 1}
    expect(filters.filter(has_text="Waiting")).to_be_hidden()  # none: no empty filter offered
    screenshot(page, "batch-100")
    filters.filter(has_text="Failed").click()
    expect(filters.filter(has_text="Failed")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#videos .row:visible")).to_have_count(1)
    filters.filter(has_text="Done").click()
    expect(page.locator("#videos .row:visible")).to_have_count(VIDEOS - 1)
    filters.filter(has_text="All").click()
    expect(page.locator("#videos .row:visible")).to_have_count(VIDEOS)
    # Honest controls: the one failure is the file itself, so no Retry (and why); nothing
    # is left to cancel.
    broken = page.locator("#videos .row").first
    expect(broken.get_by_role("button", name="Retry broken.mp4")).to_be_hidden()
    expect(broken.locator(".message")).to_contain_text("upload a different file")
    expect(page.get_by_role("button", name="Retry failed")).to_be_disabled()
    expect(page.get_by_role("button", name="Cancel the rest")).to_be_disabled()
