"""The /admin page in Chromium, against a real server whose engine runs the scripted jobs
of tests/jobs: it shows the database's numbers for a seeded mix of states (light, dark
and a phone's width), and its buttons pause, resume and drain for real."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from storyteller.app import create_app
from storyteller.config import Settings
from storyteller.db.models import Video, VideoStatus
from storyteller.db.session import make_engine
from tests.admin.seed import seed
from tests.jobs.scripted import SCRIPTED
from tests.service.server import served_in_thread
from tests.web.conftest import screenshot

pytestmark = pytest.mark.timeout(180)

SOME_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(4096)  # passes the first-bytes check


@dataclass
class Served:
    url: str
    database_url: str


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The service in this process (uvicorn in a thread), one video at a time, its engine
    running the scripted jobs; replaces the `storyteller serve` of the page's tests."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=url,
        max_concurrent_jobs=1,
        daily_budget_usd=2.0,
    )
    with served_in_thread(create_app(settings, job=SCRIPTED)) as address:
        yield Served(address, url)


def upload(served: Served, *names: str) -> dict:
    files = [("videos", (name, SOME_BYTES + name.encode(), "video/mp4")) for name in names]
    answer = httpx.post(f"{served.url}/api/upload", files=files, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def statuses(served: Served, job_id: str) -> list[str]:
    job = httpx.get(f"{served.url}/api/job/{job_id}", timeout=10).json()
    return [video["statusDetail"] for video in job["videos"]]


def test_the_dashboard_shows_the_numbers_of_the_database(page: Page, served: Served) -> None:
    httpx.post(f"{served.url}/api/admin/pause", timeout=10)  # the seeded queue stays as it is
    db = make_engine(served.database_url)
    try:
        seed(db, videos=300, per_batch=30)
        with db.connect() as connection:
            waiting = dict(
                connection.execute(
                    select(Video.priority, func.count())
                    .where(Video.status == VideoStatus.PENDING)
                    .group_by(Video.priority)
                )
                .tuples()
                .all()
            )
            failed = dict(
                connection.execute(
                    select(Video.error_code, func.count())
                    .where(Video.status == VideoStatus.FAILED)
                    .group_by(Video.error_code)
                )
                .tuples()
                .all()
            )
    finally:
        db.dispose()
    page.goto("/admin")
    expect(page.locator("#state")).to_contain_text("paused")
    for priority in ("high", "normal", "low"):
        expect(page.locator(f"[data-waiting={priority}]")).to_have_text(
            str(waiting.get(priority, 0))
        )
    for code, count in failed.items():
        expect(page.locator(f'[data-failures="{code}"]')).to_have_text(str(count))
    summary = httpx.get(f"{served.url}/api/admin/summary", timeout=10).json()
    for status, count in summary["ended"]["lastDay"].items():
        expect(page.locator(f'[data-ended="lastDay-{status}"]')).to_have_text(str(count))
    # Spending by user: the seeded batches belong to no account (the open mode).
    by_user = page.locator('[data-spending="by-user"] tbody tr')
    expect(by_user).to_have_count(1)
    assert summary["spending"]["byUser"][0]["name"] is None
    expect(by_user).to_contain_text("no account (open mode)")
    expect(by_user.locator("td").nth(2)).to_have_text(
        "$" + f"{summary['spending']['byUser'][0]['monthUsd']:.2f}"
    )
    expect(page.locator("#throughput svg")).to_be_visible()
    expect(page.locator("#stages svg rect")).to_have_count(2 * len(summary["stages"]))
    expect(page.locator("[data-worker]")).to_have_count(1)
    screenshot(page, "admin")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "admin-dark")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#pause")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a phone"
    screenshot(page, "admin-phone")


def test_pause_submit_resume_and_drain_from_the_page(page: Page, served: Served) -> None:
    page.goto("/admin")
    expect(page.locator("[data-worker]")).to_have_count(1)
    page.get_by_role("button", name="Pause all").click()
    expect(page.locator("#state")).to_contain_text("paused")
    job = upload(served, "ok-1.mp4", "ok-2.mp4")
    time.sleep(2.0)
    assert statuses(served, job["jobId"]) == ["pending", "pending"]
    page.get_by_role("button", name="Resume all").click()
    expect(page.locator("#state")).not_to_contain_text("paused")
    deadline = time.monotonic() + 30
    while statuses(served, job["jobId"]) != ["completed", "completed"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)

    # Drain: the running video finishes, the next one waits.
    job = upload(served, "sleep-2.mp4", "ok-3.mp4")
    deadline = time.monotonic() + 30
    while statuses(served, job["jobId"])[0] != "processing":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    page.get_by_role("button", name="Drain").click()
    expect(page.locator(".tag.drained")).to_be_visible(timeout=20_000)
    assert statuses(served, job["jobId"]) == ["completed", "pending"]
    time.sleep(1.5)
    assert statuses(served, job["jobId"]) == ["completed", "pending"]
    page.get_by_role("button", name="Undrain").click()
    deadline = time.monotonic() + 30
    while statuses(served, job["jobId"]) != ["completed", "completed"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
