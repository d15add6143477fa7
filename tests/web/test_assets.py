"""The page loads fast and alone: under 100 KB in all, nothing fetched from elsewhere."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

from tests.service.server import ServeProcess

pytestmark = pytest.mark.timeout(60)


def test_first_paint_is_small_and_local(page: Page, served: ServeProcess) -> None:
    sizes: dict[str, int] = {}
    elsewhere: list[str] = []

    def seen(response) -> None:  # type: ignore[no-untyped-def]
        if not response.url.startswith(served.url):
            elsewhere.append(response.url)
        elif response.request.resource_type in ("document", "stylesheet", "script"):
            sizes[response.url] = len(response.body())

    page.on("response", seen)
    page.goto("/", wait_until="networkidle")
    assert elsewhere == []
    assert {re.sub(r"^https?://[^/]+", "", url) for url in sizes} == {
        "/", "/assets/app.css", "/assets/app.js",
    }  # fmt: skip
    assert sum(sizes.values()) < 100 * 1024, sizes
