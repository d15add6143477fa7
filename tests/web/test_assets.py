"""The page loads fast and alone: its first load (HTML, CSS, the JavaScript modules, the
favicon; not the video) under 100 KB, as Chromium's network log counts it, and nothing
fetched from elsewhere."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

from tests.service.server import ServeProcess

pytestmark = pytest.mark.timeout(60)

MODULES = ["app", "common", "upload", "batch", "story", "history", "account"]


def first_load(page: Page, base: str) -> tuple[dict[str, int], list[str]]:
    """The page's own files by path and their sizes, and what came from elsewhere."""
    sizes: dict[str, int] = {}
    elsewhere: list[str] = []

    def seen(response) -> None:  # type: ignore[no-untyped-def]
        if not response.url.startswith(base):
            elsewhere.append(response.url)
        elif "/api/" not in response.url:
            sizes[re.sub(r"^https?://[^/]+", "", response.url)] = len(response.body())

    page.on("response", seen)
    page.goto("/", wait_until="networkidle")
    page.remove_listener("response", seen)
    return sizes, elsewhere


def test_first_load_is_small_and_local(page: Page, served: ServeProcess) -> None:
    sizes, elsewhere = first_load(page, served.url)
    assert elsewhere == []
    assert set(sizes) == {
        "/", "/assets/app.css", "/assets/favicon.svg", *(f"/assets/{name}.js" for name in MODULES),
    }  # fmt: skip
    assert sum(sizes.values()) < 100 * 1024, sizes
