"""An upload cut off midway resumes where it stopped when the person tries again: the
file is created once on the server, and at most one chunk is sent twice."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route, expect

from tests.media import Clip
from tests.service.server import ServeProcess

pytestmark = pytest.mark.timeout(180)

CHUNK = 64 * 1024


def test_an_interrupted_upload_resumes(page: Page, served: ServeProcess, speech_clip: Clip) -> None:
    size = speech_clip.path.stat().st_size
    assert size > 3 * CHUNK  # several chunks, so there is a middle to cut
    page.add_init_script(f"window.STORYTELLER_CHUNK_BYTES = {CHUNK}")
    created, patched_bytes = [], []
    network = {"down": False, "cut": False}

    def tus(route: Route) -> None:
        request = route.request
        if request.method == "POST" and request.url.rstrip("/").endswith("/api/uploads"):
            created.append(request.url)
        if request.method == "PATCH":
            if len(patched_bytes) == 2 and not network["cut"]:
                network["down"] = network["cut"] = True  # the connection drops after two chunks
            if network["down"]:
                route.abort("connectionreset")
                return
            patched_bytes.append(len(request.post_data_buffer or b""))
        route.continue_()

    page.route("**/api/uploads/**", tus)
    page.goto("/")
    page.set_input_files("#files", [str(speech_clip.path)])
    page.get_by_role("button", name="Upload and tell").click()
    expect(page.locator("#send-text")).to_contain_text("The upload stopped", timeout=60_000)
    assert sum(patched_bytes) == 2 * CHUNK

    network["down"] = False
    page.get_by_role("button", name="Upload and tell").click()
    page.wait_for_url("**/?job=*", timeout=60_000)
    expect(page.locator(".row .status")).to_have_text("done", timeout=120_000)
    assert len(created) == 1  # resumed, not started again
    assert size <= sum(patched_bytes) <= size + CHUNK
