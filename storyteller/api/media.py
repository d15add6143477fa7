"""A video's own bytes for the page's player, and the small picture of its list row.

`GET /api/videos/{id}/media` serves the uploaded file with range requests (`ranges.py`),
read from the video store a piece at a time (a folder's file, or the S3 object through
ranged GETs: never whole in memory). Its entity tag is the content hash, so a player's
`If-Range` and a browser's revalidation work across restarts and machines. Only the
owner (or an admin) reaches it: the `signed_in` gate answers 404 for another's video.
"""

from __future__ import annotations

import email.utils
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from storyteller.api.deps import DatabaseDep, SettingsDep, VideoStoreDep
from storyteller.api.errors import ApiError
from storyteller.api.ranges import ByteRange, Unsatisfiable, asked_range, if_range_holds
from storyteller.db import crud
from storyteller.pipeline.cache import EvidenceCache
from storyteller.storage.objects import READ_PIECE, VideoMissing, VideoStore
from storyteller.storage.sniff import media_type

router = APIRouter(tags=["videos"])

NO_FILE = (
    "{name} was refused at upload, so its file was not kept: upload a video file to have it played"
)
# The player may keep what it read for an hour, and asks again with If-None-Match after.
CACHE_CONTROL = "private, max-age=3600"
# Bytes read to tell the container (for Content-Type).
HEAD_BYTES = 512

# Media types found, by content hash: read once per process, not at every range request.
_media_types: dict[str, str] = {}
_media_types_lock = threading.Lock()
_MEDIA_TYPES_KEPT = 4096


GONE = (
    "the file of {name} is no longer stored (the storage was cleaned up): "
    "upload it again to play it"
)


def _opened(videos: VideoStore, key: str, start: int, end: int, name: str) -> Iterator[bytes]:
    try:
        return videos.read_range(key, start, end)
    except VideoMissing:
        raise ApiError(410, GONE.format(name=name)) from None


def _read_whole(videos: VideoStore, key: str, part: ByteRange, name: str) -> bytes:
    return b"".join(_opened(videos, key, part.start, part.end, name))


def _media_type_of(videos: VideoStore, key: str, digest: str, name: str) -> str:
    with _media_types_lock:
        known = _media_types.get(digest)
    if known is not None:
        return known
    head = b"".join(_opened(videos, key, 0, HEAD_BYTES - 1, name))
    kind = media_type(head)
    with _media_types_lock:
        if len(_media_types) >= _MEDIA_TYPES_KEPT:
            _media_types.clear()
        _media_types[digest] = kind
    return kind


def content_disposition(name: str) -> str:
    """`inline` with the upload's name: plain ASCII in `filename` (anything else, and
    quotes and backslashes, as `_`), the name itself in `filename*` (RFC 6266)."""
    plain = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"inline; filename=\"{plain or 'video'}\"; filename*=UTF-8''{urllib.parse.quote(name)}"


MEDIA_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"video/mp4": {}}, "description": "The whole file."},
    206: {"content": {"video/mp4": {}}, "description": "The one range asked for."},
    304: {"description": "Not changed since the If-None-Match tag."},
}
RangeHeader = Annotated[str | None, Header(alias="range")]
IfRange = Annotated[str | None, Header()]
IfNoneMatch = Annotated[str | None, Header()]


@router.head(
    "/api/videos/{videoId}/media",
    summary="The headers of the uploaded video (size, type, ranges)",
    response_class=Response,
    responses=MEDIA_RESPONSES,
)
async def video_media_headers(
    videoId: str,
    request: Request,
    database: DatabaseDep,
    videos: VideoStoreDep,
    range_: RangeHeader = None,
    if_range: IfRange = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """What `GET` answers, without the body."""
    return await video_media(videoId, request, database, videos, range_, if_range, if_none_match)


@router.get(
    "/api/videos/{videoId}/media",
    summary="The uploaded video itself, for a player (range requests)",
    response_class=StreamingResponse,
    responses=MEDIA_RESPONSES,
)
async def video_media(
    videoId: str,
    request: Request,
    database: DatabaseDep,
    videos: VideoStoreDep,
    range_: RangeHeader = None,
    if_range: IfRange = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The file as uploaded, with `Accept-Ranges: bytes`: one range gets 206 with
    `Content-Range` (`bytes=0-0`, `bytes=-500`, `bytes=1000-`), a range past the end
    416, several ranges the whole file (200). `If-Range` (the ETag, which is the content
    hash, or the Last-Modified date) and `If-None-Match` are honoured; HEAD answers the
    headers alone. 410 when the file is no longer stored (the storage cleaned up)."""
    video = await database.quick_read(crud.get_video, videoId)
    if video is None:
        raise ApiError(404, "no video with that id")
    if not video.storage_path:
        raise ApiError(404, NO_FILE.format(name=video.original_name))
    size, key, digest = video.size_bytes, video.storage_path, video.content_hash
    etag = f'"{digest}"'
    last_modified = email.utils.format_datetime(video.created_at, usegmt=True)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": last_modified,
        "Cache-Control": CACHE_CONTROL,
        "Content-Disposition": content_disposition(video.original_name),
    }
    if if_none_match is not None and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    name = video.original_name
    kind = await anyio.to_thread.run_sync(_media_type_of, videos, key, digest, name)
    asked: ByteRange | None = None
    if if_range_holds(if_range, etag=etag, last_modified=last_modified):
        try:
            asked = asked_range(range_, size)
        except Unsatisfiable:
            return Response(
                status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"}
            )
    part = asked or ByteRange(0, size - 1, size)
    headers["Content-Length"] = str(part.length)
    status = 200
    if asked is not None:
        status = 206
        headers["Content-Range"] = asked.content_range()
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=kind)
    if part.length <= READ_PIECE:  # a player's probe or a small seek: one trip to a thread
        body = await anyio.to_thread.run_sync(_read_whole, videos, key, part, name)
        return Response(body, status_code=status, headers=headers, media_type=kind)
    pieces = await anyio.to_thread.run_sync(_opened, videos, key, part.start, part.end, name)
    return StreamingResponse(pieces, status_code=status, headers=headers, media_type=kind)


@router.get(
    "/api/videos/{videoId}/thumbnail",
    summary="A small picture of the video (JPEG)",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def video_thumbnail(videoId: str, database: DatabaseDep, settings: SettingsDep) -> Any:
    """The first shot's picture, 320 pixels wide: made by the worker as soon as the first
    shot of the video is found, so a waiting video has none yet (404: show a placeholder),
    nor has a file that was refused or could not be read."""
    with database.read() as session:
        video = crud.get_video(session, videoId)
        digest = video.content_hash if video is not None else None
    if digest is None:
        raise ApiError(404, "no video with that id")
    cache = EvidenceCache(settings)
    # Videos analysed before thumbnails were made have their first keyframe instead.
    for path in (cache.thumbnail_path(digest), cache.keyframe_dir(digest) / "scene-000.jpg"):
        if path.is_file():
            return FileResponse(
                path,
                media_type="image/jpeg",
                headers={"Cache-Control": "private, max-age=86400"},
            )
    raise ApiError(404, "no picture of this video yet: it is made once its first shot is found")
