"""A batch as CSV: a row per video (name, status, title, place, date, text, reason).

A cell a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab or a
carriage return) gets a leading `'`, as OWASP advises against CSV injection.
"""

from __future__ import annotations

import csv
import io

from storyteller.export.document import BatchDocument

COLUMNS = ("name", "status", "title", "place", "date", "text", "reason")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """`cell` as a spreadsheet shows it, never as a formula it runs."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def render(batch: BatchDocument) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for video in batch.videos:
        story = video.story
        row = (
            video.name,
            video.status,
            story.title if story else "",
            f"{story.place}, {story.region}" if story else "",
            story.date.isoformat() if story else "",
            story.text if story else "",
            video.reason or "",
        )
        writer.writerow([neutralise(cell) for cell in row])
    # A byte-order mark, so that Excel reads the file as UTF-8 (non-Latin names and stories).
    return b"\xef\xbb\xbf" + buffer.getvalue().encode()
