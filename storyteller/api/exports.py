"""A batch's stories to take away: one ZIP with a `.txt` per story, `stories.json` and the
batch as Markdown."""

from __future__ import annotations

import io
import json
import re
import zipfile

from fastapi import APIRouter, Response

from storyteller.api.deps import DatabaseDep
from storyteller.api.errors import ApiError
from storyteller.api.views import job_view
from storyteller.db import crud

router = APIRouter(tags=["jobs"])


def _file_stem(name: str, taken: set[str]) -> str:
    """A safe, unique file name from a video's name: `beach.mp4` -> `beach`."""
    stem = re.sub(r"[^\w\- ]+", "_", name.rsplit(".", 1)[0]).strip() or "video"
    candidate, n = stem, 2
    while candidate.lower() in taken:
        candidate, n = f"{stem}-{n}", n + 1
    taken.add(candidate.lower())
    return candidate


@router.get(
    "/api/job/{jobId}/stories.zip",
    summary="Download every story of a job",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def stories_zip(jobId: str, database: DatabaseDep) -> Response:
    """`<video>.txt` for each video with a story, `stories.json` (the job view) and
    `stories.md` (every story under its video's name, failures with their reasons)."""
    with database.read() as session:
        rows = crud.batch_status_rows(session, jobId)
    if rows is None:
        raise ApiError(404, "no job with that id")
    view = job_view(*rows)
    buffer = io.BytesIO()
    taken: set[str] = set()
    markdown = [f"# Stories of job {view.id}", ""]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for video in view.videos:
            markdown += [f"## {video.originalName}", ""]
            if video.story:
                archive.writestr(f"{_file_stem(video.originalName, taken)}.txt", video.story + "\n")
                markdown += [video.story, ""]
            else:
                markdown += [
                    f"*{video.statusDetail}*" + (f": {video.error}" if video.error else ""),
                    "",
                ]
        archive.writestr(
            "stories.json", json.dumps(view.model_dump(), indent=2, ensure_ascii=False)
        )
        archive.writestr("stories.md", "\n".join(markdown))
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="stories-{view.id[:8]}.zip"'},
    )
