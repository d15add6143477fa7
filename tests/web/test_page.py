"""The page as a person uses it, in Chromium: choose three videos (one broken), watch them
end, read the reason, copy a story, reload and see the same, download the ZIP."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.media import Clip
from tests.service.server import ServeProcess
from tests.web.conftest import screenshot

pytestmark = pytest.mark.timeout(240)


def server_is_busy(served: ServeProcess, job_id: str) -> bool:
    return any(v["status"] in ("pending", "processing") for v in served.job(job_id)["videos"])


def card(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(".card", has=page.locator(".name", has_text=name))


def test_a_batch_from_upload_to_stories(
    page: Page,
    served: ServeProcess,
    speech_clip: Clip,
    snow_clip: Clip,
    bad_inputs: dict[str, Path],
    tmp_path: Path,
) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Turn videos into stories")).to_be_visible()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bad_inputs["no_moov"].read_bytes())
    # Dropped on the drop zone, as a person drags them from their files.
    page.locator("#drop").drop({"files": [str(speech_clip.path), str(snow_clip.path), str(broken)]})
    expect(page.locator("#chosen li")).to_have_count(3)
    screenshot(page, "chosen")
    page.get_by_role("button", name="Upload and tell").click()

    page.wait_for_url("**/?job=*")
    job_id = page.url.split("job=")[1]
    expect(page.locator(".card")).to_have_count(3)
    # A reload while the videos are processing shows the same batch, still live.
    assert server_is_busy(served, job_id)
    page.reload()
    expect(page.locator(".card")).to_have_count(3)
    expect(card(page, "speech.mp4").locator(".status")).to_have_text("completed", timeout=120_000)
    expect(card(page, "snow.webm").locator(".status")).to_have_text("completed", timeout=120_000)
    expect(card(page, "broken.mp4").locator(".status")).to_have_text("failed")
    expect(card(page, "broken.mp4").locator(".error")).to_contain_text("broken.mp4")
    expect(page.locator("#job-status")).to_have_text("all done")
    # Each card offers what fits its state, and nothing else.
    done, failed = card(page, "speech.mp4"), card(page, "broken.mp4")
    expect(done.get_by_role("button", name="Copy story")).to_be_visible()
    expect(done.get_by_role("button", name="Write again")).to_be_visible()
    for name in ("Retry", "Cancel"):
        expect(done.get_by_role("button", name=name)).to_be_hidden()
    expect(done.locator(".progress-line")).to_be_hidden()
    expect(failed.get_by_role("button", name="Retry")).to_be_visible()
    for name in ("Copy story", "Write again", "Cancel"):
        expect(failed.get_by_role("button", name=name)).to_be_hidden()
    screenshot(page, "stories")

    # The story shown is the server's, and Copy puts it on the clipboard.
    story = served.job(job_id)["videos"][0]["story"]
    title = story.split("\n")[0]
    expect(card(page, "speech.mp4").locator(".story h3")).to_have_text(title)
    card(page, "speech.mp4").get_by_role("button", name="Copy story").click()
    expect(page.locator("#live")).to_contain_text("copied")
    assert page.evaluate("navigator.clipboard.readText()") == story

    # The evidence behind it: a keyframe per scene, what was heard, what was read.
    expect(done.locator(".thumb")).to_be_visible()
    done.get_by_text("What the story stands on").click()
    expect(done.locator(".scenes img")).to_have_count(3)  # the clip's three shots
    expect(done.locator(".evidence-body")).to_contain_text("CITY MARATHON")
    expect(done.locator(".evidence-body")).to_contain_text("marathon starts")
    widths = done.locator(".scenes img").evaluate_all("images => images.map(i => i.naturalWidth)")
    assert all(width > 0 for width in widths)  # real pictures, served
    screenshot(page, "evidence")

    # A reload shows the same batch, from the address alone.
    page.reload()
    expect(page.locator(".card")).to_have_count(3)
    expect(card(page, "speech.mp4").locator(".story h3")).to_have_text(title)
    expect(card(page, "broken.mp4").get_by_role("button", name="Retry")).to_be_visible()

    # Download all: a .txt per story, the JSON and the Markdown.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download all").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes()))
    assert sorted(archive.namelist()) == ["snow.txt", "speech.txt", "stories.json", "stories.md"]
    assert archive.read("speech.txt").decode().strip() == story.strip()
    assert json.loads(archive.read("stories.json"))["id"] == job_id
    assert "broken.mp4" in archive.read("stories.md").decode()

    # Download as: the batch as a PDF, and one story as Word, from their menus.
    page.get_by_text("Download as").click()
    with page.expect_download() as download_info:
        page.locator("#download-as").get_by_role("link", name="PDF").click()
    assert download_info.value.suggested_filename == f"stories-{job_id[:8]}.pdf"
    assert Path(download_info.value.path()).read_bytes().startswith(b"%PDF")
    done.get_by_text("Download story").click()
    with page.expect_download() as download_info:
        done.get_by_role("link", name="Word (.docx)").click()
    assert download_info.value.suggested_filename == "speech.docx"
    expect(failed.get_by_text("Download story")).to_be_hidden()


def test_files_that_cannot_be_sent_are_refused_before_the_upload(
    page: Page, tmp_path: Path, speech_clip: Clip
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    page.goto("/")
    page.set_input_files("#files", [str(notes), str(speech_clip.path)])
    expect(page.locator("#chosen li.refused")).to_contain_text("not a video file")
    expect(page.get_by_role("button", name="Upload and tell")).to_be_enabled()


def test_history_lists_earlier_batches(page: Page, served: ServeProcess, speech_clip: Clip) -> None:
    page.goto("/")
    page.set_input_files("#files", [str(speech_clip.path)])
    page.get_by_role("button", name="Upload and tell").click()
    page.wait_for_url("**/?job=*")
    page.get_by_role("link", name="History").click()
    expect(page.locator("#jobs li")).to_have_count(1)
    page.locator("#jobs li a").click()
    expect(page.locator(".card")).to_have_count(1)
