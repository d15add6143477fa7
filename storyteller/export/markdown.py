"""A batch as Markdown: every story under its video's name, failures with their reasons.

Names and stories are text, never markup: every character CommonMark (or the HTML it lets
through) could read as syntax is escaped, so `<img src=x onerror=...>.mp4` stays a name.
"""

from __future__ import annotations

import re

from storyteller.export.document import BatchDocument, VideoDocument

# Inline syntax anywhere in a line; `&` would start an entity, `<` a tag or autolink, `$`
# maths where the flavour has it (GitHub).
_INLINE = re.compile(r"([\\`*_{}\[\]<>()!|~&#$])")
# What only counts at the start of a line: a heading, quote, list item or rule. An ordered
# list's number is kept and its `.` or `)` escaped (a backslash before a digit would show).
_LINE_START = re.compile(r"^(\s*)(?:([-+=>])|(\d+)([.)]))")


def escape(text: str) -> str:
    """`text` as Markdown that renders to exactly `text`."""
    escaped = _INLINE.sub(r"\\\1", text)
    return _LINE_START.sub(_escape_line_start, escaped)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, mark, number, closer = match.groups()
    return f"{indent}\\{mark}" if mark else f"{indent}{number}\\{closer}"


def _status_line(video: VideoDocument) -> str:
    if video.reason:
        return f"*{video.status}*: {escape(video.reason)}"
    return f"*{video.status}*"


def render_video(video: VideoDocument) -> list[str]:
    """The lines of one video's section."""
    lines = [f"## {escape(video.name)}", ""]
    story = video.story
    if story is None:
        return [*lines, _status_line(video), ""]
    headline = escape(f'"{story.title}"')
    lines += [f"### {headline}", "", f"**{escape(story.dateline)}**", ""]
    for paragraph in story.paragraphs:
        lines += [escape(paragraph), ""]
    lines += [f"*{escape(story.disclaimer)}*", ""]
    if video.status != "completed":  # a story from before a regenerate that then failed
        lines += [_status_line(video), ""]
    return lines


def render(batch: BatchDocument) -> bytes:
    lines = [f"# {escape(batch.title)}", ""]
    if len(batch.videos) > 1:
        told = sum(video.story is not None for video in batch.videos)
        lines += [f"{told} of {len(batch.videos)} videos have a story.", ""]
    for video in batch.videos:
        lines += render_video(video)
    return "\n".join(lines).encode()
