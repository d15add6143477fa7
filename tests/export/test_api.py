"""A batch exported through the API in every format, read back with the formats' own
readers (pypdf, python-docx, csv, jsonschema, markdown-it), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from urllib.parse import quote

import docx
import httpx
import jsonschema
import pypdf
import pytest
from markdown_it import MarkdownIt

from storyteller.config import Settings
from storyteller.export.record import schema
from tests.export.conftest import (
    BATCH,
    MARKUP_TITLE,
    SNOW,
    SNOW_OLD,
    StoredBatch,
    current_stories,
    every_line,
    squeeze,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

Exported = tuple[httpx.AsyncClient, StoredBatch]


async def _get(client: httpx.AsyncClient, path: str, **params: str) -> httpx.Response:
    answer = await client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer


async def test_the_pdf_holds_every_story_failure_and_reason(exported: Exported) -> None:
    client, batch = exported
    answer = await _get(client, f"/api/job/{batch.id}/export", format="pdf")
    assert answer.headers["content-type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(answer.content))
    pages = [page.extract_text() for page in reader.pages]
    # The contents, then a page per video (the first beside the contents).
    assert len(pages) == len(BATCH)
    assert squeeze("IN THIS BATCH") in squeeze(pages[0])
    for number, video in enumerate(BATCH, 1):
        assert squeeze(f"{video.name.split(chr(7))[0]}") in squeeze(pages[number - 1])
    whole = squeeze("\n".join(pages))
    for story in current_stories():
        for line in every_line(story):
            assert squeeze(line) in whole, line
    assert squeeze(SNOW_OLD.title) not in whole  # the current version only
    assert squeeze("not a video: it is a text file") in whole
    assert squeeze("cancelled by a user") in whole
    # Typst markup in a title is printed as it is, not obeyed.
    assert squeeze(MARKUP_TITLE) in whole
    # The keyframe is in it: an image on the snow story's page.
    snow_page = 0  # the lead story, under the contents
    assert reader.pages[snow_page].images, "no keyframe on the snow story's page"
    # Every font is embedded (nothing left to the reader's machine).
    for page in reader.pages:
        fonts = page["/Resources"]["/Font"]
        for font in fonts.values():
            descendant = font.get_object()
            if "/DescendantFonts" in descendant:
                descendant = descendant["/DescendantFonts"][0].get_object()
            descriptor = descendant["/FontDescriptor"].get_object()
            assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))


async def test_the_pdf_appendix_lists_what_a_story_stands_on(exported: Exported) -> None:
    client, batch = exported
    plain = await _get(client, f"/api/job/{batch.id}/export", format="pdf")
    answer = await _get(client, f"/api/job/{batch.id}/export", format="pdf", appendix="true")
    text = squeeze(
        "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(answer.content)).pages)
    )
    assert squeeze("What the stories stand on") in text
    assert squeeze("0:00.4–0:03.2 Snow has closed the mountain road.") in text
    assert squeeze("0:03.1–0:05.9 ROAD CLOSED") in text
    assert squeeze("Shot 2: 0:03.0–0:08.0, 1 face") in text
    assert squeeze("What the stories stand on") not in squeeze(
        "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(plain.content)).pages)
    )


async def test_the_word_document_holds_every_story_in_word_styles(exported: Exported) -> None:
    client, batch = exported
    answer = await _get(client, f"/api/job/{batch.id}/export", format="docx")
    assert answer.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    document = docx.Document(io.BytesIO(answer.content))
    paragraphs = [(p.style.name if p.style else "", p.text) for p in document.paragraphs]
    texts = [text for _, text in paragraphs]
    styles = {style for style, _ in paragraphs}
    assert {"Title", "Heading 1", "Normal", "Caption", "Dateline", "Disclaimer"} <= styles
    for story in current_stories():
        assert ("Heading 1", f'"{story.title}"') in paragraphs
        assert ("Dateline", story.parts.dateline) in paragraphs
        for paragraph in story.paragraphs:
            assert ("Normal", paragraph) in paragraphs
        assert ("Disclaimer", story.disclaimer) in paragraphs
    assert not any(SNOW_OLD.title in text for text in texts)
    assert any("not a video: it is a text file" in text for text in texts)
    assert any("cancelled by a user" in text for text in texts)
    # The keyframe, as a picture in the document, captioned.
    assert len(document.inline_shapes) == 1
    assert any(style == "Caption" and "snow.mp4" in text for style, text in paragraphs)
    # No control or bidi override character reached the document.
    assert not any(ch in text for text in texts for ch in "\x07\u202e")


async def test_the_csv_has_a_row_per_video_and_no_formula(exported: Exported) -> None:
    client, batch = exported
    answer = await _get(client, f"/api/job/{batch.id}/export", format="csv")
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["name", "status", "title", "place", "date", "text", "reason"]
    assert len(rows) == 1 + len(BATCH)
    by_name = {row[0]: row for row in rows[1:]}
    snow = by_name["snow.mp4"]
    assert snow[1:5] == ["completed", SNOW.title, "Woodstock, Vermont", "2026-02-26"]
    assert snow[5] == SNOW.parts.text
    japanese = by_name["雪.mov"]
    assert japanese[2] == BATCH[3].stories[-1].title
    # Cells a spreadsheet would run as formulas start with a quote.
    failed = by_name['\'=HYPERLINK("http://evil.example").mp4']
    assert failed[1] == "failed"
    assert failed[6] == "'" + BATCH[5].reason  # type: ignore[operator]
    assert "'+late.mp4" in by_name
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


async def test_the_json_is_the_whole_record_and_fits_its_schema(exported: Exported) -> None:
    client, batch = exported
    answer = await _get(client, f"/api/job/{batch.id}/export", format="json")
    assert answer.headers["content-type"] == "application/json"
    record = answer.json()
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.validate(record, schema(), cls=jsonschema.Draft202012Validator)
    assert record["batch"]["id"] == batch.id
    snow = record["videos"][0]
    assert [s["title"] for s in snow["stories"]] == [SNOW_OLD.title, SNOW.title]
    assert snow["story"]["title"] == SNOW.title
    assert snow["story"]["text"] == SNOW.parts.text
    assert snow["costUsd"] == pytest.approx(0.003)
    assert snow["evidence"]["on_screen_text"][0]["text"] == "ROAD CLOSED"
    failed = record["videos"][5]
    assert failed["status"] == "failed" and failed["story"] is None
    assert failed["reason"] == BATCH[5].reason
    assert failed["failedAttempts"][0]["tokensIn"] == 500
    assert failed["name"] == '=HYPERLINK("http://evil.example").mp4'  # controls removed
    # And the schema refuses what does not fit it.
    snow["story"]["paragraphs"] = "one string"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, schema(), cls=jsonschema.Draft202012Validator)


async def test_the_markdown_escapes_names_and_stories(exported: Exported) -> None:
    client, batch = exported
    answer = await _get(client, f"/api/job/{batch.id}/export", format="md")
    assert answer.headers["content-type"] == "text/markdown; charset=utf-8"
    text = answer.content.decode()
    html = MarkdownIt("commonmark").render(text)
    assert "<img" not in html and "<script" not in html and "<a " not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.mp4" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    tokens = MarkdownIt("commonmark").parse(text)
    kinds = {token.type for token in tokens}
    assert not kinds & {"bullet_list_open", "ordered_list_open", "blockquote_open", "hr"}
    # Every story is there, and reads back as its own words: each block's text.
    blocks = {
        "".join(child.content for child in token.children or [] if child.type == "text")
        for token in tokens
        if token.type == "inline"
    }
    for story in current_stories():
        assert f'"{story.title}"' in blocks
        assert story.parts.dateline in blocks
        assert set(story.paragraphs) <= blocks
        assert story.disclaimer in blocks
    assert "<img src=x onerror=alert(1)>.mp4" in blocks
    assert SNOW_OLD.title not in text


async def test_the_zip_adds_the_formats_asked_for(exported: Exported) -> None:
    client, batch = exported
    plain = await _get(client, f"/api/job/{batch.id}/stories.zip")
    names = set(zipfile.ZipFile(io.BytesIO(plain.content)).namelist())
    assert {"stories.json", "stories.md", "snow.txt"} <= names
    assert not names & {"stories.pdf", "stories.docx"}
    answer = await _get(
        client, f"/api/job/{batch.id}/export", format="zip", formats="pdf,docx,csv,json"
    )
    assert answer.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    names = set(archive.namelist())
    assert {"stories.pdf", "stories.docx", "stories.csv", "record.json", "stories.md"} <= names
    assert archive.read("stories.pdf").startswith(b"%PDF")
    assert json.loads(archive.read("stories.json"))["id"] == batch.id
    assert archive.read("snow.txt").decode().strip() == SNOW.parts.text
    assert "<img" not in MarkdownIt("commonmark").render(archive.read("stories.md").decode())


async def test_one_video_exports_under_its_own_name(exported: Exported) -> None:
    client, batch = exported
    russian = batch.video_ids[1]
    answer = await _get(client, f"/api/videos/{russian}/export", format="pdf")
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=")
    assert f"filename*=UTF-8''{quote('Новости.pdf', safe='')}" in disposition
    text = squeeze(
        "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(answer.content)).pages)
    )
    assert squeeze(BATCH[1].stories[-1].title) in text
    assert squeeze(SNOW.title) not in text
    for format, media_type in (
        ("md", "text/markdown; charset=utf-8"),
        ("json", "application/json"),
        ("zip", "application/zip"),
    ):
        answer = await _get(client, f"/api/videos/{batch.video_ids[0]}/export", format=format)
        assert answer.headers["content-type"] == media_type
        assert answer.headers["content-disposition"] == f'attachment; filename="snow.{format}"'


async def test_a_job_exports_under_a_safe_name(exported: Exported) -> None:
    client, batch = exported
    answer = await _get(client, f"/api/job/{batch.id}/export", format="docx")
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="stories-{batch.id[:8]}.docx"'
    )
    hostile = batch.video_ids[4]  # <img src=x onerror=alert(1)>.mp4
    answer = await _get(client, f"/api/videos/{hostile}/export", format="md")
    disposition = answer.headers["content-disposition"]
    fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert all(ch.isalnum() or ch in "._- " for ch in fallback), fallback
    assert "filename*=UTF-8''" in disposition and "<" not in disposition


async def test_unknown_formats_and_ids_are_refused(exported: Exported) -> None:
    client, batch = exported
    for path in (f"/api/job/{batch.id}/export", f"/api/videos/{batch.video_ids[0]}/export"):
        answer = await client.get(path, params={"format": "rtf"})
        assert answer.status_code == 400
        reason = answer.json()["error"]
        assert "rtf" in reason and all(
            n in reason for n in ("pdf", "docx", "md", "json", "csv", "zip")
        )
        answer = await client.get(path)
        assert answer.status_code == 400 and "pdf" in answer.json()["error"]
    answer = await client.get(
        f"/api/job/{batch.id}/export", params={"format": "zip", "formats": "pdf,exe"}
    )
    assert answer.status_code == 400 and "exe" in answer.json()["error"]
    answer = await client.get("/api/job/no-such-job/export", params={"format": "pdf"})
    assert answer.status_code == 404 and answer.json() == {"error": "no job with that id"}
    answer = await client.get("/api/videos/no-such-video/export", params={"format": "pdf"})
    assert answer.status_code == 404 and answer.json() == {"error": "no video with that id"}


async def test_a_missing_or_damaged_keyframe_leaves_the_picture_out(
    exported: Exported, settings: Settings
) -> None:
    client, batch = exported
    keyframes = sorted((settings.cache_dir / "keyframes").glob("*/scene-000.jpg"))
    assert len(keyframes) == 1
    keyframes[0].write_bytes(b"not a JPEG at all")
    answer = await _get(client, f"/api/videos/{batch.video_ids[0]}/export", format="pdf")
    reader = pypdf.PdfReader(io.BytesIO(answer.content))
    assert not reader.pages[0].images
    assert squeeze(SNOW.title) in squeeze(reader.pages[0].extract_text())
    keyframes[0].unlink()
    answer = await _get(client, f"/api/videos/{batch.video_ids[0]}/export", format="docx")
    assert len(docx.Document(io.BytesIO(answer.content)).inline_shapes) == 0
