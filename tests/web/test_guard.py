"""The page under its Content-Security-Policy, in Chromium: it loads, runs its scripts
and styles with nothing refused; a page on another origin cannot change anything."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.media import Clip
from tests.service.server import ServeProcess

pytestmark = pytest.mark.timeout(120)


def test_the_page_works_under_its_content_security_policy(page: Page, served: ServeProcess) -> None:
    refused: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            refused.append(message.text)

    page.on("console", on_console)
    answer = page.goto("/")
    assert answer is not None
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    expect(page.get_by_role("heading", name="Turn videos into stories")).to_be_visible()
    # app.js ran: it filled the teller list from /api/tellers and the limits from /api/limits.
    expect(page.locator("#teller option")).not_to_have_count(0)
    # app.css applied: the drop zone has its dashed border.
    assert page.locator("#drop").evaluate("e => getComputedStyle(e).borderStyle") == "dashed"
    page.goto("/?view=history")
    expect(page.get_by_role("heading", name="Earlier batches")).to_be_visible()
    assert refused == []


def test_a_page_on_another_site_cannot_change_a_job(
    browser: Browser, served: ServeProcess, speech_clip: Clip
) -> None:
    upload = httpx.post(
        f"{served.url}/api/upload",
        files=[("videos", ("speech.mp4", speech_clip.path.read_bytes(), "video/mp4"))],
    )
    job_id = upload.json()["jobId"]
    httpx.post(f"{served.url}/api/job/{job_id}/cancel")  # no need to tell it
    context = browser.new_context()
    try:
        page = context.new_page()
        # Another site's page with the classic cross-site form: it posts to the service
        # as soon as it is opened, with the visitor's browser (and any sign-in of theirs).
        attack = (
            f'<form id="f" method="POST" action="{served.url}/api/job/{job_id}/retry">'
            '</form><script>document.getElementById("f").submit()</script>'
        )
        page.route(
            "http://localhost:9/",
            lambda route: route.fulfill(body=attack, content_type="text/html"),
        )
        with page.expect_navigation(url=f"{served.url}/api/job/{job_id}/retry"):
            page.goto("http://localhost:9/")
        assert "cross-site request refused" in (page.text_content("body") or "")
        assert served.job(job_id)["videos"][0]["statusDetail"] == "cancelled"  # not retried
        # The service's own page may.
        page.goto(f"{served.url}/")
        status = page.evaluate(
            """async (path) => (await fetch(path, {method: "DELETE"})).status""",
            f"/api/job/{job_id}",
        )
        assert status == 200
    finally:
        context.close()
