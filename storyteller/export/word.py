"""A batch as a Word document (python-docx) in Word's own styles (Title, Heading 1 and 2,
Normal, Caption, plus Dateline and Disclaimer based on Normal), so an editor restyles the
whole document by changing a style."""

from __future__ import annotations

import io

from docx import Document
from docx.document import Document as WordDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_BREAK
from docx.shared import Cm, Pt, RGBColor

from storyteller.export.document import BatchDocument, VideoDocument, clock
from storyteller.export.document import appendix as appendix_of

PICTURE_WIDTH = Cm(14)


def _add_styles(document: WordDocument) -> None:
    styles = document.styles
    dateline = styles.add_style("Dateline", WD_STYLE_TYPE.PARAGRAPH)
    dateline.base_style = styles["Normal"]
    dateline.font.bold = True
    dateline.font.small_caps = True
    disclaimer = styles.add_style("Disclaimer", WD_STYLE_TYPE.PARAGRAPH)
    disclaimer.base_style = styles["Normal"]
    disclaimer.font.italic = True
    disclaimer.font.size = Pt(9)
    disclaimer.font.color.rgb = RGBColor(0x55, 0x55, 0x55)
    for name in ("Normal", "Dateline", "Disclaimer", "Caption"):
        styles[name].paragraph_format.space_after = Pt(6)


def _video(document: WordDocument, video: VideoDocument, *, with_appendix: bool) -> None:
    story = video.story
    document.add_heading(f'"{story.title}"' if story else video.name, level=1)
    if video.keyframe is not None:
        document.add_picture(io.BytesIO(video.keyframe.jpeg), width=PICTURE_WIDTH)
        document.add_paragraph(
            f"{video.name} — scene {video.keyframe.scene + 1} at {clock(video.keyframe.at_s)}",
            style="Caption",
        )
    if story is not None:
        document.add_paragraph(story.dateline, style="Dateline")
        for paragraph in story.paragraphs:
            document.add_paragraph(paragraph, style="Normal")
        document.add_paragraph(story.disclaimer, style="Disclaimer")
    if video.reason:
        document.add_paragraph(f"{video.name}: {video.status}: {video.reason}", style="Normal")
    if with_appendix and video.shots:
        document.add_heading(f"What the story stands on: {video.name}", level=2)
        for section in appendix_of(video):
            document.add_paragraph(section.heading, style="Heading 3")
            for line in section.lines:
                document.add_paragraph(line, style="Normal")


def render(batch: BatchDocument, *, appendix: bool = False) -> bytes:
    document = Document()
    _add_styles(document)
    document.core_properties.title = batch.title
    document.core_properties.author = "Video Storyteller"
    if len(batch.videos) > 1:
        document.add_paragraph(batch.title, style="Title")
        told = sum(video.story is not None for video in batch.videos)
        document.add_paragraph(
            f"{told} of {len(batch.videos)} videos have a story. "
            f"Exported {batch.exported_at:%Y-%m-%d %H:%M} UTC.",
            style="Normal",
        )
        document.add_heading("Contents", level=2)
        for number, video in enumerate(batch.videos, 1):
            story = video.story
            entry = f'"{story.title}"' if story else f"failed: {video.reason or video.status}"
            document.add_paragraph(f"{number}. {video.name} — {entry}", style="Normal")
    for index, video in enumerate(batch.videos):
        if index or len(batch.videos) > 1:
            document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        _video(document, video, with_appendix=appendix)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
