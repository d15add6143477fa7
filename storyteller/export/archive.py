"""Stories to take away as one ZIP: a `.txt` per story, `stories.md`, a `stories.json`
given by the caller (the API's view of what was exported), and the formats asked for
(`stories.pdf`, `stories.docx`, `stories.csv`, `record.json`)."""

from __future__ import annotations

import io
import re
import zipfile

from storyteller.export import markdown
from storyteller.export.document import BatchDocument
from storyteller.export.formats import Format


def file_stem(name: str, taken: set[str]) -> str:
    """A safe, unique file name from a video's name: `beach.mp4` -> `beach`."""
    stem = re.sub(r"[^\w\- ]+", "_", name.rsplit(".", 1)[0]).strip() or "video"
    candidate, n = stem, 2
    while candidate.lower() in taken:
        candidate, n = f"{stem}-{n}", n + 1
    taken.add(candidate.lower())
    return candidate


def member_name(chosen: Format) -> str:
    # stories.json is the API's view; the full record sits beside it under its own name.
    return "record.json" if chosen.name == "json" else f"stories.{chosen.extension}"


def render(
    batch: BatchDocument,
    *,
    stories_json: bytes,
    formats: tuple[Format, ...] = (),
    appendix: bool = False,
) -> bytes:
    buffer = io.BytesIO()
    taken: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for video in batch.videos:
            if video.story is not None:
                archive.writestr(f"{file_stem(video.name, taken)}.txt", video.story.text + "\n")
        archive.writestr("stories.json", stories_json)
        archive.writestr("stories.md", markdown.render(batch))
        for chosen in formats:
            if chosen.name != "md":
                archive.writestr(member_name(chosen), chosen.render(batch, appendix))
    return buffer.getvalue()
