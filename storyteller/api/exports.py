"""Documents out over HTTP: a job or one video as PDF, Word, Markdown, JSON, CSV or a ZIP
(`storyteller/export/` renders them; this module only reads and answers)."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Response

from storyteller.api.deps import DatabaseDep, SettingsDep
from storyteller.api.errors import ApiError
from storyteller.api.views import job_view, story_video_view
from storyteller.db import crud
from storyteller.export import archive
from storyteller.export.document import BatchDocument, load_batch, load_video
from storyteller.export.formats import EXPORT_FORMATS, FORMATS, ZIP, UnknownFormat, parse_formats

router = APIRouter(tags=["export"])

ZIP_TYPE = "application/zip"
_MEDIA_TYPES = {name: chosen.media_type for name, chosen in FORMATS.items()} | {ZIP: ZIP_TYPE}
_DOCUMENTS: dict[int | str, dict[str, Any]] = {
    200: {"content": {media_type: {} for media_type in _MEDIA_TYPES.values()}}
}

FormatQuery = Annotated[
    str | None, Query(description=f"One of: {', '.join(EXPORT_FORMATS)}.", alias="format")
]
FormatsQuery = Annotated[
    str,
    Query(
        description="For a ZIP: the formats to add beside the .txt stories, stories.md and "
        "stories.json, comma-separated (e.g. `pdf,docx`)."
    ),
]
AppendixQuery = Annotated[
    bool,
    Query(description="PDF and Word: add what each story stands on (transcript, text, shots)."),
]


def content_disposition(file_name: str) -> str:
    """`attachment` with an ASCII `filename` every client reads and, for any other name,
    the exact one as RFC 6266's `filename*` (UTF-8, percent-encoded)."""
    stem, dot, extension = file_name.rpartition(".")
    if not dot:
        stem, extension = file_name, ""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    ascii_stem = re.sub(r"[^\w.\- ]+", "_", ascii_stem).strip(" ._") or "export"
    fallback = f"{ascii_stem}.{extension}" if extension else ascii_stem
    header = f'attachment; filename="{fallback}"'
    if fallback != file_name:
        header += f"; filename*=UTF-8''{quote(file_name, safe='')}"
    return header


def _answer(
    document: BatchDocument,
    *,
    stem: str,
    chosen: str | None,
    formats: str,
    appendix: bool,
    stories_json: bytes,
) -> Response:
    if not chosen:
        raise ApiError(400, f"say which format: format= one of {', '.join(EXPORT_FORMATS)}")
    name = chosen.strip().lower()
    try:
        if name == ZIP:
            body = archive.render(
                document,
                stories_json=stories_json,
                formats=parse_formats(formats),
                appendix=appendix,
            )
            extension = ZIP
        elif name in FORMATS:
            body = FORMATS[name].render(document, appendix)
            extension = FORMATS[name].extension
        else:
            raise UnknownFormat(chosen)
    except UnknownFormat as exc:
        raise ApiError(400, str(exc)) from exc
    return Response(
        body,
        media_type=_MEDIA_TYPES[name],
        headers={"Content-Disposition": content_disposition(f"{stem}.{extension}")},
    )


@router.get(
    "/api/job/{jobId}/export",
    summary="A job's stories as one document",
    response_class=Response,
    responses=_DOCUMENTS,
)
def export_job(
    jobId: str,
    database: DatabaseDep,
    settings: SettingsDep,
    format: FormatQuery = None,
    formats: FormatsQuery = "",
    appendix: AppendixQuery = False,
) -> Response:
    """Every video of the job in order, its current story or why it has none. PDF and Word
    open with a contents page, then a page per story."""
    with database.read() as session:
        document = load_batch(session, jobId, settings)
        rows = (
            crud.batch_status_rows(session, jobId)
            if (format or "").strip().lower() == ZIP
            else None
        )
    if document is None:
        raise ApiError(404, "no job with that id")
    stories_json = job_view(*rows).model_dump_json(indent=2).encode() if rows else b""
    return _answer(
        document,
        stem=f"stories-{jobId[:8]}",
        chosen=format,
        formats=formats,
        appendix=appendix,
        stories_json=stories_json,
    )


@router.get(
    "/api/videos/{videoId}/export",
    summary="One video's story as a document",
    response_class=Response,
    responses=_DOCUMENTS,
)
def export_video(
    videoId: str,
    database: DatabaseDep,
    settings: SettingsDep,
    format: FormatQuery = None,
    formats: FormatsQuery = "",
    appendix: AppendixQuery = False,
) -> Response:
    """The video's current story (or why it has none), named after the video."""
    with database.read() as session:
        document = load_video(session, videoId, settings)
        video = (
            crud.get_video(session, videoId)
            if document and (format or "").strip().lower() == ZIP
            else None
        )
        view = (
            story_video_view(video, crud.current_story(session, video_id=videoId))
            if video
            else None
        )
    if document is None:
        raise ApiError(404, "no video with that id")
    stem = document.videos[0].name.rsplit(".", 1)[0].strip() or "story"
    return _answer(
        document,
        stem=stem,
        chosen=format,
        formats=formats,
        appendix=appendix,
        stories_json=view.model_dump_json(indent=2).encode() if view else b"",
    )


@router.get(
    "/api/job/{jobId}/stories.zip",
    summary="Download every story of a job",
    response_class=Response,
    responses={200: {"content": {ZIP_TYPE: {}}}},
)
def stories_zip(
    jobId: str,
    database: DatabaseDep,
    settings: SettingsDep,
    formats: FormatsQuery = "",
    appendix: AppendixQuery = False,
) -> Response:
    """`<video>.txt` for each video with a story, `stories.json` (the job view) and
    `stories.md` (every story under its video's name, failures with their reasons), and the
    formats asked for (`?formats=pdf,docx`). The same as `export?format=zip`."""
    return export_job(jobId, database, settings, format=ZIP, formats=formats, appendix=appendix)
