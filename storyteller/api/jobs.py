"""The original app's job paths (`/api/job/...`) and what users do to a job and its videos."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from storyteller.api.deps import (
    ActionsDep,
    DatabaseDep,
    LiveChangesDep,
    SettingsDep,
    SignedInDep,
    VideoStoreDep,
)
from storyteller.api.errors import ApiError
from storyteller.api.views import (
    ActionAnswer,
    JobPage,
    JobView,
    VideoRecord,
    VideoView,
    job_page,
    job_view,
    story_video_view,
    video_record,
)
from storyteller.batches.choices import choose_model, choose_teller, require_ready
from storyteller.batches.deletion import delete_batch
from storyteller.batches.listing import list_batches
from storyteller.db import crud
from storyteller.db.database import Database
from storyteller.db.models import Video, VideoStatus
from storyteller.jobs.line import read_line
from storyteller.pipeline.cache import EvidenceCache

router = APIRouter(tags=["jobs"])

NO_JOB = "no job with that id"
# Past any list there will be; the database's integers end at 2**63 - 1.
MAX_OFFSET = 1_000_000_000
NO_VIDEO = "no video with that id in this job"
NOTHING_TO_RETRY = (
    "nothing to retry: no video of this job has failed or been cancelled "
    "(a file refused at upload has to be uploaded again)"
)
NOTHING_TO_CANCEL = "nothing to cancel: every video of this job has already ended"


def _videos(count: int) -> str:
    return f"{count} video{'' if count == 1 else 's'}"


@router.get("/api/job/{jobId}", response_model=JobView, summary="A job and all its videos")
async def get_job(jobId: str, database: DatabaseDep) -> Response:
    """Every video of the job is listed from the first answer on, with its story once
    written, and while it runs the counts by state, each waiting video's place in line
    and the time left. The original front end polls this every few seconds."""
    rows = await database.quick_read(crud.batch_status_rows, jobId)
    if rows is None:
        raise ApiError(404, NO_JOB)
    batch, videos = rows
    # Places in line and times left: only while something of the batch has not ended.
    unended = any(not VideoStatus(video.status).ended for video in videos)
    line = await database.quick_read(read_line) if unended else None
    # Serialised here, not again by FastAPI: this is the path polled the most.
    return Response(job_view(batch, videos, line).model_dump_json(), media_type="application/json")


@router.get(
    "/api/job/{jobId}/video/{videoId}", response_model=VideoView, summary="One video of a job"
)
def get_job_video(jobId: str, videoId: str, database: DatabaseDep) -> VideoView:
    return _video_view(database, videoId, batch_id=jobId)


@router.get("/api/jobs", response_model=JobPage, summary="Jobs, newest first, a page at a time")
def list_jobs(
    database: DatabaseDep,
    user: SignedInDep,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Only jobs with a file name or story title containing this, "
            "case aside (`%` and `_` are plain characters).",
        ),
    ] = None,
) -> JobPage:
    """Each with its counts by state, first file names, up to four videos with a
    picture and its first story's title. A member sees their own jobs, an admin all."""
    with database.read() as session:
        page = list_batches(
            session,
            offset=offset,
            limit=limit,
            owner_id=user.owner_filter,
            search=q.strip() if q else None,
        )
        return job_page(page, offset=offset, limit=limit)


@router.get("/api/videos/{videoId}", response_model=VideoRecord, summary="Everything about a video")
def get_video_record(videoId: str, database: DatabaseDep) -> VideoRecord:
    """Its state, the evidence its story was written from, and every story version."""
    with database.read() as session:
        video = crud.get_video(session, videoId)
        if video is None:
            raise ApiError(404, "no video with that id")
        return _record(session, video)


def _record(session: Session, video: Video) -> VideoRecord:
    return video_record(
        video,
        crud.story_versions(session, video_id=video.id),
        crud.attempt_costs(session, video_id=video.id),
        crud.current_story(session, video_id=video.id),
    )


@router.post(
    "/api/videos/{videoId}/stories/{version}/current",
    response_model=VideoRecord,
    summary="Choose the current story version",
)
def choose_story(
    videoId: str,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    actions: ActionsDep,
    changes: LiveChangesDep,
    database: DatabaseDep,
) -> VideoRecord:
    """Story version `version` becomes the video's current one: the one the job shows as
    its `story`, copied, exported and sent. Writing the story again makes the new version
    current. 404 for a version the video does not have; 409 while it has no story yet (or
    the version asked for is the one being written)."""
    actions.choose_story(videoId, version)
    changes.changed([videoId])
    with database.read() as session:
        video = crud.get_video(session, videoId)
        if video is None:  # deleted meanwhile with its job
            raise ApiError(404, "no video with that id")
        return _record(session, video)


@router.get(
    "/api/videos/{videoId}/keyframes/{scene}",
    summary="A scene's keyframe (JPEG)",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def keyframe(
    videoId: str,
    scene: Annotated[int, Path(ge=0, le=100_000)],
    database: DatabaseDep,
    settings: SettingsDep,
) -> FileResponse:
    """The picture chosen to stand for scene `scene` (from 0) of the video's evidence:
    the page's thumbnails and scene strip."""
    with database.read() as session:
        video = crud.get_video(session, videoId)
        evidence = video.evidence.to_evidence() if video and video.evidence else None
    if evidence is None:
        raise ApiError(404, "no evidence for that video yet")
    if not 0 <= scene < len(evidence.scenes) or not evidence.scenes[scene].keyframe:
        raise ApiError(404, f"no keyframe for scene {scene}")
    name = evidence.scenes[scene].keyframe or ""
    path = EvidenceCache(settings).keyframe_dir(evidence.content_hash) / name
    if not path.is_file():
        raise ApiError(404, "the keyframe is no longer in the cache")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})


# --- what users do ------------------------------------------------------------


def _video_view(database: Database, video_id: str, *, batch_id: str | None = None) -> VideoView:
    with database.read() as session:
        video = crud.get_video(session, video_id, batch_id=batch_id)
        if video is None:  # never was, or deleted meanwhile with its job
            raise ApiError(404, NO_VIDEO)
        return story_video_view(video, crud.current_story(session, video_id=video.id))


@router.post(
    "/api/job/{jobId}/video/{videoId}/retry",
    response_model=VideoView,
    summary="Retry a failed video",
)
def retry_video(
    jobId: str, videoId: str, actions: ActionsDep, changes: LiveChangesDep, database: DatabaseDep
) -> VideoView:
    """A failed or cancelled video goes back to the queue with fresh attempts (409 otherwise)."""
    actions.retry_video(videoId, batch_id=jobId)
    changes.changed([videoId])
    return _video_view(database, videoId)


@router.post(
    "/api/job/{jobId}/video/{videoId}/cancel", response_model=VideoView, summary="Cancel a video"
)
def cancel_video(
    jobId: str, videoId: str, actions: ActionsDep, changes: LiveChangesDep, database: DatabaseDep
) -> VideoView:
    """A waiting video will not run; a running one is stopped within a second or two
    (409 when it has already ended)."""
    actions.cancel_video(videoId, batch_id=jobId)
    changes.changed([videoId])
    return _video_view(database, videoId)


class RegenerateRequest(BaseModel):
    teller: str | None = Field(default=None, description="Another teller for the new version.")
    model: str | None = Field(
        default=None,
        description="Another model of the teller (default: the video's, or with another "
        "teller its configured one).",
    )
    seed: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="Default: a new random seed."
    )


@router.post(
    "/api/job/{jobId}/video/{videoId}/regenerate",
    response_model=VideoView,
    summary="Write a video's story again",
)
def regenerate(
    jobId: str,
    videoId: str,
    actions: ActionsDep,
    changes: LiveChangesDep,
    database: DatabaseDep,
    settings: SettingsDep,
    request: Annotated[RegenerateRequest | None, Body()] = None,
) -> VideoView:
    """A completed video is queued for a new story version; the current story stays
    until the new one is written (its evidence is reused, so it is quick)."""
    request = request or RegenerateRequest()
    teller = request.teller
    if teller is not None:
        choose_teller(teller, settings.default_teller)
    else:
        with database.read() as session:
            video = session.get(Video, videoId)
        teller = video.teller if video is not None else settings.default_teller
    if request.model:
        choose_model(request.model, teller)
    require_ready(teller, settings)
    actions.regenerate(
        videoId, batch_id=jobId, teller=request.teller, model=request.model, seed=request.seed
    )
    changes.changed([videoId])
    return _video_view(database, videoId)


@router.post(
    "/api/job/{jobId}/retry",
    response_model=ActionAnswer,
    summary="Retry every failed video of a job",
)
def retry_job(jobId: str, actions: ActionsDep, changes: LiveChangesDep) -> ActionAnswer:
    ids = actions.retry_failed(jobId)
    changes.changed(ids)
    message = f"{_videos(len(ids))} queued again" if ids else NOTHING_TO_RETRY
    return ActionAnswer(jobId=jobId, videoIds=ids, message=message)


@router.post(
    "/api/job/{jobId}/cancel", response_model=ActionAnswer, summary="Cancel what has not ended"
)
def cancel_job(jobId: str, actions: ActionsDep, changes: LiveChangesDep) -> ActionAnswer:
    ids = actions.cancel_batch(jobId)
    changes.changed(ids)
    message = f"{_videos(len(ids))} cancelled" if ids else NOTHING_TO_CANCEL
    return ActionAnswer(jobId=jobId, videoIds=ids, message=message)


@router.delete(
    "/api/job/{jobId}", response_model=ActionAnswer, summary="Delete a job and its files"
)
def delete_job(
    jobId: str,
    actions: ActionsDep,
    changes: LiveChangesDep,
    database: DatabaseDep,
    videos: VideoStoreDep,
) -> ActionAnswer:
    """Stops what runs, deletes the job, its videos and stories, then the stored files no
    other job uses. Evidence stays: the same bytes uploaded again reuse it."""
    ids = delete_batch(jobId, database=database, actions=actions, videos=videos, changes=changes)
    return ActionAnswer(
        jobId=jobId, videoIds=ids, message=f"job deleted with its {_videos(len(ids))}"
    )
