"""The formats a batch or a video exports to: name, media type, file extension, renderer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from storyteller.export import markdown, pdf, record, table, word
from storyteller.export.document import BatchDocument


@dataclass(frozen=True)
class Format:
    name: str
    media_type: str
    extension: str
    render: Callable[[BatchDocument, bool], bytes]  # (document, with the appendix) -> bytes


def _without_appendix(render: Callable[[BatchDocument], bytes]) -> Callable[..., bytes]:
    return lambda document, _appendix: render(document)


FORMATS: dict[str, Format] = {
    "pdf": Format("pdf", "application/pdf", "pdf", lambda d, a: pdf.render(d, appendix=a)),
    "docx": Format(
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
        lambda d, a: word.render(d, appendix=a),
    ),
    "md": Format("md", "text/markdown; charset=utf-8", "md", _without_appendix(markdown.render)),
    "json": Format("json", "application/json", "json", _without_appendix(record.render)),
    "csv": Format("csv", "text/csv; charset=utf-8", "csv", _without_appendix(table.render)),
}
# A ZIP of the stories as text (and of the formats asked for): `archive.py`.
ZIP = "zip"
EXPORT_FORMATS = (*FORMATS, ZIP)


class UnknownFormat(ValueError):
    """A format we do not export to; the message names those we do."""

    def __init__(self, name: str, allowed: tuple[str, ...] = EXPORT_FORMATS) -> None:
        super().__init__(f"unknown format {name!r}: choose one of {', '.join(allowed)}")


def parse_formats(names: str) -> tuple[Format, ...]:
    """`pdf,docx` -> those formats, in the order given, each once (for the ZIP)."""
    chosen: dict[str, Format] = {}
    for name in (part.strip().lower() for part in names.split(",")):
        if not name:
            continue
        if name not in FORMATS:
            raise UnknownFormat(name, tuple(FORMATS))
        chosen[name] = FORMATS[name]
    return tuple(chosen.values())
