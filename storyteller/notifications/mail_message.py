"""The e-mail of a notification event: its subject, a text part and an HTML part, built
from the event's payload (the same JSON a webhook receives).

Every string in an event may come from a user (a file name, a story, a reason): in a
header it is made one line of plain characters, so it can never start a header of its own;
in the HTML part it is escaped, and styles are inline (mail apps drop style sheets).
"""

from __future__ import annotations

import datetime as dt
import html
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin

BATCH_COMPLETED = "batch.completed"
VIDEO_COMPLETED = "video.completed"
VIDEO_FAILED = "video.failed"

_SUBJECT_NAME_MAX = 60
_SUBJECT_TITLE_MAX = 50
# Line breaks of any kind, other control characters, and the bidi overrides and isolates
# that would make a name read backwards in a subject line.
_NOT_FOR_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def one_line(text: object, limit: int | None = None) -> str:
    """`text` as one line of visible characters, cut to `limit` with an ellipsis: safe in
    a header (no CR or LF can reach it) and in a subject a person reads."""
    line = " ".join(_NOT_FOR_ONE_LINE.sub(" ", unicodedata.normalize("NFC", str(text))).split())
    if limit is not None and len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


@dataclass(frozen=True)
class VideoLine:
    """One video as the message tells it."""

    name: str
    status: str
    title: str | None
    story: str | None
    reason: str | None
    url: str | None
    story_url: str | None


@dataclass(frozen=True)
class Message:
    """What a notification says, before it becomes MIME."""

    subject: str
    heading: str
    batch_url: str | None
    videos: tuple[VideoLine, ...]
    notes: tuple[str, ...] = ()
    settings_url: str | None = None  # where the reader chooses what they are sent

    def text(self) -> str:
        lines = [self.heading, ""]
        if self.batch_url:
            lines += [f"Open the batch: {self.batch_url}", ""]
        for note in self.notes:
            lines += [note, ""]
        for number, video in enumerate(self.videos, 1):
            lines.append(f"{number}. {one_line(video.name)} — {video.status}")
            if video.title:
                lines.append(f"   {one_line(video.title)}")
            if video.story:
                lines += ["", _story_body(video.story, video.title), ""]
            elif video.story_url:
                lines.append(f"   The story is too long for this message: {video.story_url}")
            if video.reason:
                lines.append(f"   Why: {one_line(video.reason)}")
            if video.url:
                lines.append(f"   Open: {video.url}")
            lines.append("")
        if self.settings_url:
            lines += ["--", f"Choose which notifications you get: {self.settings_url}"]
        return "\n".join(lines).rstrip() + "\n"

    def html(self) -> str:
        parts = [
            '<!doctype html><html><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(self.subject)}</title></head>"
            f'<body style="{_BODY}"><div style="{_PAGE}">'
            f'<h1 style="{_H1}">{_e(self.heading)}</h1>'
        ]
        if self.batch_url:
            parts.append(
                f'<p><a href="{_e(self.batch_url)}" style="{_BUTTON}">Open the batch</a></p>'
            )
        parts += [f'<p style="{_NOTE}">{_e(note)}</p>' for note in self.notes]
        for video in self.videos:
            parts.append(f'<div style="{_CARD}">')
            parts.append(
                f'<p style="{_NAME}">{_e(one_line(video.name))} · '
                f'<span style="{_STATUS.get(video.status, _STATUS["other"])}">'
                f"{_e(video.status)}</span></p>"
            )
            if video.title:
                parts.append(f'<h2 style="{_H2}">{_e(one_line(video.title))}</h2>')
            if video.story:
                body = _story_body(video.story, video.title)
                parts += [
                    f'<p style="{_P}">{_e(paragraph)}</p>'
                    for paragraph in re.split(r"\n\s*\n", body)
                    if paragraph.strip()
                ]
            elif video.story_url:
                parts.append(
                    f'<p style="{_P}">The story is too long for this message: '
                    f'<a href="{_e(video.story_url)}">read it here</a>.</p>'
                )
            if video.reason:
                parts.append(f'<p style="{_REASON}">Why: {_e(one_line(video.reason))}</p>')
            if video.url:
                parts.append(f'<p style="{_P}"><a href="{_e(video.url)}">Open this video</a></p>')
            parts.append("</div>")
        choose = (
            f'<a href="{_e(self.settings_url)}">its settings page</a>'
            if self.settings_url
            else "its settings page"
        )
        parts.append(
            f'<p style="{_FOOT}">Sent by Video Storyteller. Choose which notifications you '
            f"get on {choose}.</p></div></body></html>"
        )
        return "".join(parts)


# Inline styles only: a phone's mail app keeps them and drops everything else.
_BODY = "margin:0;padding:0;background:#f4f4f5;color:#18181b"
_PAGE = (
    "max-width:640px;margin:0 auto;padding:16px;font:16px/1.5 -apple-system,"
    "'Segoe UI',Roboto,Helvetica,Arial,sans-serif;word-wrap:break-word"
)
_H1 = "font-size:20px;line-height:1.3;margin:8px 0 16px"
_H2 = "font-size:18px;line-height:1.3;margin:4px 0 8px"
_BUTTON = (
    "display:inline-block;background:#2563eb;color:#ffffff;padding:10px 16px;"
    "border-radius:6px;text-decoration:none;font-weight:600"
)
_CARD = (
    "background:#ffffff;border:1px solid #e4e4e7;border-radius:8px;padding:12px 16px;margin:12px 0"
)
_NAME = "margin:0;color:#52525b;font-size:14px"
_P = "margin:0 0 12px"
_NOTE = "margin:0 0 12px;color:#52525b;font-size:14px"
_REASON = "margin:0 0 12px;color:#b91c1c"
_FOOT = "color:#71717a;font-size:12px;margin-top:24px"
_STATUS = {
    "completed": "color:#15803d;font-weight:600",
    "failed": "color:#b91c1c;font-weight:600",
    "other": "color:#52525b;font-weight:600",
}


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _story_body(story: str, title: str | None) -> str:
    """The story without its first line when that line is the title shown above it."""
    first, _, rest = story.strip().partition("\n")
    if title and first.strip().strip('"“”') == title.strip().strip('"“”'):
        return rest.strip()
    return story.strip()


def link(public_url: str | None, url: object) -> str | None:
    """An absolute http(s) address for `url` (relative ones join `public_url`), or None
    when there is none a mail app could open."""
    if not isinstance(url, str) or not url.strip():
        return None
    url = url.strip()
    if url.startswith(("https://", "http://")):
        return url
    if public_url and url.startswith("/"):
        return urljoin(public_url.rstrip("/") + "/", url.lstrip("/"))
    return None


def batch_link(public_url: str | None, batch: Mapping[str, Any]) -> str | None:
    """The batch page: the event's `url`, or the page's `/?job=ID` under the public URL."""
    found = link(public_url, batch.get("url"))
    if found is None and batch.get("id"):
        found = link(public_url, f"/?job={quote(str(batch['id']), safe='')}")
    return found


def day_of(moment: object) -> str:
    """`5 Dec` from an ISO 8601 time (the day a batch was sent), or "" when unreadable."""
    try:
        when = dt.datetime.fromisoformat(str(moment).replace("Z", "+00:00"))
    except ValueError:
        return ""
    return f"{when.day} {when:%b}"


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _video(public_url: str | None, video: Mapping[str, Any]) -> VideoLine:
    status = one_line(video.get("status") or "ended")
    reason = video.get("error")
    return VideoLine(
        name=str(video.get("name") or video.get("id") or "a video"),
        status=status,
        title=video.get("title") or None,
        story=video.get("story") or None,
        reason=str(reason) if reason and status != "completed" else None,
        url=link(public_url, video.get("url")),
        story_url=link(public_url, video.get("storyUrl")),
    )


def batch_subject(batch: Mapping[str, Any]) -> str:
    """ "7 stories ready, 1 failed — batch of 5 Dec": the outcome first."""
    counts = batch.get("counts") or {}
    done, failed, cancelled = (
        int(counts.get(k) or 0) for k in ("completed", "failed", "cancelled")
    )
    outcome = _plural(done, "story ready", "stories ready") if done else "No stories"
    others = [f"{failed} failed"] * bool(failed) + [f"{cancelled} cancelled"] * bool(cancelled)
    if others:
        outcome += (", " if done else ": ") + ", ".join(others)
    day = day_of(batch.get("createdAt"))
    return f"{outcome} — batch of {day}" if day else outcome


def message_of(event: Mapping[str, Any], *, public_url: str | None) -> Message:
    """What the e-mail of `event` says (any of the three event types)."""
    kind = event.get("type")
    data = event.get("data") or {}
    batch = data.get("batch") or {}
    batch_url = batch_link(public_url, batch)
    settings_url = link(public_url, "/settings")
    if kind == BATCH_COMPLETED:
        videos = tuple(_video(public_url, v) for v in data.get("videos") or ())
        subject = one_line(batch_subject(batch))
        return Message(subject, subject, batch_url, videos, settings_url=settings_url)
    if kind in (VIDEO_COMPLETED, VIDEO_FAILED):
        video = _video(public_url, data.get("video") or {})
        name = one_line(video.name, _SUBJECT_NAME_MAX)
        if kind == VIDEO_COMPLETED:
            title = one_line(video.title or "", _SUBJECT_TITLE_MAX)
            subject = f"Story ready: {name}" + (f" — {title}" if title else "")
        else:
            subject = f"No story for {name}"
        return Message(subject, subject, batch_url, (video,), settings_url=settings_url)
    raise ValueError(f"no e-mail for an event of type {one_line(kind)!r}")
