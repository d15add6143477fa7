"""A batch as PDF, typeset by Typst (the `typst` package ships the compiler): a contents
page, then each story as a printed news item, and an optional appendix of what each story
stands on.

User strings never become Typst markup: they go to the template as data (a JSON file it
reads), and Typst shows strings as text. Fonts ship with the packages, never found on the
machine or fetched: Typst's own Libertinus Serif (Latin, Greek, Cyrillic) and Noto Sans
CJK (the `noto-cjk-sans-otc` package) for Chinese, Japanese and Korean.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import typst

from storyteller.export.document import BatchDocument, VideoDocument, clock
from storyteller.export.document import appendix as appendix_of

TEMPLATE = "news.typ"
SERIF = "Libertinus Serif"
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\u1100-\u11ff\uac00-\ud7af]")
_lock = threading.Lock()


class PdfError(RuntimeError):
    """Typst refused the document (a bug of ours: user text cannot cause it)."""


@cache
def _cjk_font_dir() -> str:
    import noto_cjk_sans_otc

    return str(Path(str(noto_cjk_sans_otc.FONT_PATH)).parent)


@cache
def _compiler() -> typst.Compiler:
    """One compiler for the process: it keeps the fonts it has read."""
    return typst.Compiler(font_paths=[_cjk_font_dir()], ignore_system_fonts=True)


def _fonts(*texts: str) -> list[str]:
    """Libertinus Serif, then the CJK face whose glyph forms fit the text's language."""
    joined = "".join(texts)
    region = "JP" if _KANA.search(joined) else "KR" if _HANGUL.search(joined) else "SC"
    return [SERIF, f"Noto Sans CJK {region}"]


def _video(video: VideoDocument, keyframe: str | None, number: int, count: int) -> dict[str, Any]:
    story = video.story
    return {
        "name": video.name,
        "kicker": f"{video.name} · {number} of {count}" if count > 1 else video.name,
        "status": video.status,
        "reason": video.reason,
        "headline": f"“{story.title}”" if story else f"{video.name} — {video.status}",
        "keyframe": keyframe,
        "caption": (
            f"{video.name} — scene {video.keyframe.scene + 1} at {clock(video.keyframe.at_s)}"
            if video.keyframe
            else ""
        ),
        "story": (
            {
                "dateline": story.dateline,
                "paragraphs": list(story.paragraphs),
                "disclaimer": story.disclaimer,
            }
            if story
            else None
        ),
        "fonts": _fonts(video.name, story.text if story else ""),
    }


def _appendix(video: VideoDocument) -> dict[str, Any]:
    sections = appendix_of(video)
    return {
        "name": video.name,
        "sections": [{"heading": s.heading, "lines": list(s.lines)} for s in sections],
        "fonts": _fonts(video.name, *(line for s in sections for line in s.lines)),
    }


def render(batch: BatchDocument, *, appendix: bool = False) -> bytes:
    told = sum(video.story is not None for video in batch.videos)
    with tempfile.TemporaryDirectory(prefix="storyteller-pdf-") as folder:
        root = Path(folder)
        videos = []
        for number, video in enumerate(batch.videos):
            keyframe = None
            if video.keyframe is not None:
                keyframe = f"keyframe-{number:05d}.jpg"  # our name, never the user's
                (root / keyframe).write_bytes(video.keyframe.jpeg)
            videos.append(_video(video, keyframe, number + 1, len(batch.videos)))
        data = {
            "title": batch.title,
            "summary": f"{told} of {len(batch.videos)} videos have a story · "
            f"exported {batch.exported_at:%B %-d, %Y, %H:%M} UTC",
            "contents": len(batch.videos) > 1,
            "fonts": _fonts(batch.title),
            "videos": videos,
            "appendix": (
                [_appendix(video) for video in batch.videos if video.shots] if appendix else None
            ),
        }
        (root / "document.json").write_text(json.dumps(data, ensure_ascii=False))
        template = resources.files(__package__).joinpath(TEMPLATE).read_bytes()
        (root / TEMPLATE).write_bytes(template)
        try:
            with _lock:  # one compile at a time per process: the compiler is shared
                pdf = _compiler().compile(input=str(root / TEMPLATE), root=str(root))
        except typst.TypstError as exc:
            raise PdfError(f"the PDF could not be typeset: {exc.message}") from exc
    if not isinstance(pdf, bytes):
        raise PdfError("the PDF could not be typeset: Typst gave no document")
    return pdf
