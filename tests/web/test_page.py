"""The page as a person uses it, in Chromium: choose videos (adding, removing), upload
them, follow each row to its end, read a story beside its video, copy it, reload and see
the same, download; Cancel that asks once; the whole way by keyboard alone."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from tests.media import Clip
from tests.service.server import ServeProcess
from tests.web.conftest import screenshot

pytestmark = pytest.mark.timeout(240)


def server_is_busy(served: ServeProcess, job_id: str) -> bool:
    return any(v["status"] in ("pending", "processing") for v in served.job(job_id)["videos"])


def row(page: Page, name: str) -> Locator:
    return page.locator(".row", has=page.get_by_role("heading", name=name, exact=True))


def tab_to(page: Page, target: Locator, presses: int = 60) -> None:
    """Press Tab until `target` has the focus, as a keyboard user moves through the page."""
    for _ in range(presses):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} is not reached by Tab")


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
    extra = tmp_path / "extra.webm"
    extra.write_bytes(snow_clip.path.read_bytes())
    # Chosen, then more dropped on the drop zone: the list grows, the same file once.
    page.set_input_files("#files", [str(speech_clip.path)])
    page.locator("#drop").drop({"files": [str(snow_clip.path), str(broken), str(extra)]})
    page.locator("#drop").drop({"files": [str(speech_clip.path)]})
    expect(page.locator("#chosen li")).to_have_count(4)
    page.get_by_role("button", name="Remove extra.webm").click()
    expect(page.locator("#chosen li")).to_have_count(3)
    expect(page.locator("#chosen")).not_to_contain_text("extra.webm")
    screenshot(page, "chosen")
    page.get_by_role("button", name="Upload and tell").click()

    page.wait_for_url("**/?job=*")
    job_id = page.url.split("job=")[1]
    expect(page.get_by_role("heading", name="A batch of 3 videos", level=1)).to_be_focused()
    expect(page.locator(".row")).to_have_count(3)
    # A reload while the videos are processing shows the same batch, still live.
    assert server_is_busy(served, job_id)
    screenshot(page, "batch-running")
    page.reload()
    expect(page.locator(".row")).to_have_count(3)
    done, failed = row(page, "speech.mp4"), row(page, "broken.mp4")
    expect(done.locator(".status")).to_have_text("done", timeout=120_000)
    expect(row(page, "snow.webm").locator(".status")).to_have_text("done", timeout=120_000)
    expect(failed.locator(".status")).to_have_text("failed")
    expect(failed.locator(".reason")).to_contain_text("broken.mp4")
    # The truth, and the failure first.
    expect(page.locator("#job-status")).to_have_text("2 done, 1 failed")
    expect(page.locator(".row").first).to_have_attribute("data-state", "failed")
    expect(page).to_have_title("2/3 done, 1 failed – Video Storyteller")
    # Each row offers what fits its state, named with its file.
    expect(done.get_by_role("button", name="Show the story of speech.mp4")).to_be_visible()
    for name in ("Retry speech.mp4", "Cancel speech.mp4"):
        expect(done.get_by_role("button", name=name)).to_be_hidden()
    expect(done.locator(".progress-line")).to_be_hidden()
    expect(failed.get_by_role("button", name="Show the story of broken.mp4")).to_be_hidden()
    story = served.job(job_id)["videos"][0]["story"]
    title = story.split("\n")[0].strip('"')
    expect(done.locator(".row-title")).to_have_text(title)
    screenshot(page, "batch-done")

    # The story opened on demand, beside its video; Copy tells next to itself.
    done.get_by_role("button", name="Show the story of speech.mp4").click()
    expect(done.get_by_role("button", name="Hide the story of speech.mp4")).to_have_attribute(
        "aria-expanded", "true"
    )
    expect(done.locator("video")).to_have_attribute(
        "src", f"/api/videos/{done.get_attribute('id')[6:]}/media"
    )
    expect(done.locator(".story h3")).to_have_text(title)
    expect(page.locator(".story")).to_have_count(1)  # the others stay closed
    done.get_by_role("button", name="Copy the story of speech.mp4").click()
    expect(done.locator(".story-box .message")).to_contain_text("copied")
    assert page.evaluate("navigator.clipboard.readText()") == story

    # The evidence behind it: a keyframe per scene, what was heard, what was read.
    done.get_by_text("What the story stands on").click()
    expect(done.locator(".scenes img")).to_have_count(3)  # the clip's three shots
    expect(done.locator(".evidence")).to_contain_text("CITY MARATHON")
    expect(done.locator(".evidence")).to_contain_text("marathon starts")
    for image in done.locator(".scenes img").all():  # real pictures, served
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("image => image.naturalWidth") > 0
    screenshot(page, "story")

    # A reload shows the same batch, from the address alone.
    page.reload()
    expect(page.locator(".row")).to_have_count(3)
    expect(row(page, "speech.mp4").locator(".row-title")).to_have_text(title)

    # Download all: a .txt per story, the JSON and the Markdown.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download all").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes()))
    assert sorted(archive.namelist()) == ["snow.txt", "speech.txt", "stories.json", "stories.md"]
    assert archive.read("speech.txt").decode().strip() == story.strip()
    assert json.loads(archive.read("stories.json"))["id"] == job_id
    # Download as: the batch as a PDF, and one story as Word, from their menus.
    page.get_by_text("Download as").click()
    with page.expect_download() as download_info:
        page.locator("#download-as").get_by_role("link", name="PDF").click()
    assert Path(download_info.value.path()).read_bytes().startswith(b"%PDF")
    done = row(page, "speech.mp4")
    done.get_by_role("button", name="Show the story of speech.mp4").click()
    done.get_by_text("Download the story").click()
    with page.expect_download() as download_info:
        done.get_by_role("link", name="Word (.docx)").click()
    assert download_info.value.suggested_filename == "speech.docx"


def test_cancel_asks_once_and_looks_cancelled(
    page: Page, served: ServeProcess, speech_clip: Clip, snow_clip: Clip, beach_clip: Clip
) -> None:
    page.goto("/")
    # One video at a time (the fixture): the last of three waits long enough to cancel.
    page.set_input_files(
        "#files", [str(speech_clip.path), str(snow_clip.path), str(beach_clip.path)]
    )
    page.get_by_role("button", name="Upload and tell").click()
    page.wait_for_url("**/?job=*")
    last = row(page, "beach.mov")
    cancel = last.get_by_role("button", name="Cancel beach.mov")
    cancel.click()
    dialog = page.get_by_role("dialog", name="Cancel beach.mov?")
    expect(dialog).to_be_visible()
    screenshot(page, "cancel-dialog")
    dialog.get_by_role("button", name="Keep it going").click()
    expect(dialog).to_be_hidden()
    expect(cancel).to_be_focused()  # back where it was
    expect(last).not_to_have_attribute("data-state", "cancelled")
    cancel.click()
    dialog.get_by_role("button", name="Cancel beach.mov").click()
    expect(last).to_have_attribute("data-state", "cancelled")
    expect(last.locator(".status")).to_have_text("cancelled")
    expect(last.get_by_role("heading", name="beach.mov")).to_be_focused()  # the row keeps it
    expect(last.locator(".message")).to_have_text("beach.mov is cancelled.")
    # Neutral, not an error: no red.
    assert "error" not in (last.locator(".reason").get_attribute("class") or "")
    colours = last.locator(".status").evaluate(
        "badge => [getComputedStyle(badge).color, getComputedStyle(document.querySelector('.row')).color]"
    )
    assert colours[0] != "rgb(163, 20, 27)"  # --bad
    expect(last.get_by_role("button", name="Retry beach.mov")).to_be_visible()


def test_the_teller_without_its_key_is_offered_disabled(page: Page, served: ServeProcess) -> None:
    page.goto("/")
    gemini = page.locator("#teller option[value=gemini]")
    expect(gemini).to_be_disabled()
    expect(page.locator("#teller")).to_have_value("local")
    expect(page.locator("#teller-note")).to_contain_text("GEMINI_API_KEY")


@pytest.mark.slow  # about 30 s; the keys it presses are also checked by the tests above
def test_keyboard_alone_from_upload_to_a_copied_story(
    page: Page, served: ServeProcess, speech_clip: Clip
) -> None:
    page.goto("/")
    # A file chooser cannot be driven by keys in a test: the files are set on the input.
    page.set_input_files("#files", [str(speech_clip.path)])
    send = page.get_by_role("button", name="Upload and tell")
    tab_to(page, send)
    page.keyboard.press("Enter")
    page.wait_for_url("**/?job=*")
    expect(page.locator("#job-title")).to_be_focused()
    speech = row(page, "speech.mp4")
    expect(speech.locator(".status")).to_have_text("done", timeout=120_000)
    opener = speech.get_by_role("button", name="Show the story of speech.mp4")
    tab_to(page, opener)
    page.keyboard.press("Space")
    copy = speech.get_by_role("button", name="Copy the story of speech.mp4")
    tab_to(page, copy)
    page.keyboard.press("Enter")
    expect(speech.locator(".story-box .message")).to_contain_text("copied")
    job_id = page.url.split("job=")[1]
    assert (
        page.evaluate("navigator.clipboard.readText()") == served.job(job_id)["videos"][0]["story"]
    )


def test_history_finds_opens_and_deletes_batches(
    page: Page, served: ServeProcess, speech_clip: Clip, snow_clip: Clip
) -> None:
    for clip in (speech_clip, snow_clip):
        page.goto("/")
        page.set_input_files("#files", [str(clip.path)])
        page.get_by_role("button", name="Upload and tell").click()
        page.wait_for_url("**/?job=*")
    page.get_by_role("link", name="History").click()
    expect(page.locator("#jobs li")).to_have_count(2)
    expect(page.locator("#jobs")).to_contain_text("speech.mp4")
    page.get_by_label("Search by video name or story title").fill("snow")
    expect(page.locator("#jobs li")).to_have_count(1)
    expect(page.locator("#jobs li")).to_contain_text("snow.webm")
    screenshot(page, "history")
    page.get_by_role("button", name="Delete the batch").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete it").click()
    expect(page.locator("#jobs li")).to_have_count(0)
    expect(page.locator("#history-status")).to_contain_text("deleted")
    page.get_by_label("Search by video name or story title").fill("")
    expect(page.locator("#jobs li")).to_have_count(1)
    page.locator("#jobs li a").click()
    expect(page.locator(".row")).to_have_count(1)
    # A batch that is not there: said plainly, with a way back, nothing to press.
    page.goto("/?job=no-such-batch")
    expect(page.get_by_role("heading", name="No such batch")).to_be_visible()
    expect(page.locator("#job")).to_be_hidden()
    page.get_by_role("link", name="Start a new batch").click()
    expect(page.get_by_role("heading", name="Turn videos into stories")).to_be_visible()


def test_files_that_cannot_be_sent_are_refused_before_the_upload(
    page: Page, tmp_path: Path, speech_clip: Clip
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    page.goto("/")
    page.set_input_files("#files", [str(notes), str(speech_clip.path)])
    expect(page.locator("#chosen li.refused")).to_contain_text("not a video file")
    send = page.get_by_role("button", name="Upload and tell")
    expect(send).to_be_enabled()
    # An upload under way can be cancelled: nothing is sent, the chosen files stay.
    held: list[Route] = []
    page.route("**/api/uploads/**", lambda route: held.append(route))
    send.click()
    expect(send).to_be_disabled()
    page.get_by_role("button", name="Cancel the upload").click()
    expect(page.locator("#send-message")).to_contain_text("The upload is cancelled")
    expect(page.locator("#chosen li:not(.refused)")).to_have_text(re.compile("speech.mp4"))
    expect(send).to_be_enabled()
    expect(send).to_be_focused()
    assert page.url.endswith("/")  # no batch was made
