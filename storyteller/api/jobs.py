"""The original app's job paths (`/api/job/...`) and what users do to a job and its videos."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from storyteller.api.errors import ApiError
from storyteller.api.services import Services, services
from storyteller.api.uploads import model_field, teller_field
from storyteller.api.views import (
    ActionAnswer,
    JobPage,
    JobSummary,
    JobView,
    VideoRecord,
    VideoView,
    job_view,
    story_video_view,
    timestamp,
    video_record,
)
from storyteller.db import crud
from storyteller.db.models import Video, VideoStatus
from storyteller.pipeline.cache import EvidenceCache
from storyteller.storage.objects import StorageError

log = logging.getLogger(__name__)

router = APIRouter(tags=["jobs"])

NO_JOB = "no job with that id"
NO_VIDEO = "no video with that id in this job"


def _videos(count: int) -> str:
    return f"{count} video{'' if count == 1 else 's'}"


@router.get("/api/job/{jobId}", response_model=JobView, summary="A job and all its videos")
async def get_job(jobId: str, found: Annotated[Services, Depends(services)]) -> Response:
    """Every video of the job is listed from the first answer on, with its story once
    written. The original front end polls this every few seconds."""
    rows = await found.quick_read(crud.batch_status_rows, jobId)
    if rows is None:
        raise ApiError(404, NO_JOB)
    # Serialised here, not again by FastAPI: this is the path polled the most.
    return Response(job_view(*rows).model_dump_json(), media_type="application/json")


@router.get(
    "/api/job/{jobId}/video/{videoId}", response_model=VideoView, summary="One video of a job"
)
def get_job_video(
    jobId: str,
    videoId: str,
    found: Annotated[Services, Depends(services)],
) -> VideoView:
    with found.read() as session:
        video = crud.get_video(session, videoId, batch_id=jobId)
        if video is None:
            raise ApiError(404, NO_VIDEO)
        return story_video_view(video, crud.current_story(session, video_id=video.id))


@router.get("/api/jobs", response_model=JobPage, summary="Jobs, newest first, a page at a time")
def list_jobs(
    found: Annotated[Services, Depends(services)],
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> JobPage:
    with found.read() as session:
        batches = crud.list_batches(session, offset=offset, limit=limit)
        counts: dict[str, dict[str, int]] = {batch.id: {} for batch in batches}
        if batches:
            rows = session.execute(
                select(Video.batch_id, Video.status, func.count())
                .where(Video.batch_id.in_(list(counts)))
                .group_by(Video.batch_id, Video.status)
            ).tuples()
            for batch_id, status, count in rows:
                counts[batch_id][VideoStatus(status).value] = count
        jobs = [
            JobSummary(
                id=batch.id,
                status=batch.status.value,
                createdAt=timestamp(batch.created_at) or "",
                completedAt=timestamp(batch.completed_at),
                priority=batch.priority.value,
                teller=batch.teller,
                model=batch.model,
                videoCount=sum(counts[batch.id].values()),
                counts={
                    status.value: counts[batch.id].get(status.value, 0) for status in VideoStatus
                },
            )
            for batch in batches
        ]
        return JobPage(jobs=jobs, total=crud.count_batches(session), offset=offset, limit=limit)


@router.get("/api/videos/{videoId}", response_model=VideoRecord, summary="Everything about a video")
def get_video_record(videoId: str, found: Annotated[Services, Depends(services)]) -> VideoRecord:
    """Its state, the evidence its story was written from, and every story version."""
    with found.read() as session:
        video = crud.get_video(session, videoId)
        if video is None:
            raise ApiError(404, "no video with that id")
        return video_record(
            video,
            crud.story_versions(session, video_id=video.id),
            crud.attempt_costs(session, video_id=video.id),
        )


@router.get(
    "/api/videos/{videoId}/keyframes/{scene}",
    summary="A scene's keyframe (JPEG)",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def keyframe(
    videoId: str, scene: int, found: Annotated[Services, Depends(services)]
) -> FileResponse:
    """The picture chosen to stand for scene `scene` (from 0) of the video's evidence:
    the page's thumbnails and scene strip."""
    with found.read() as session:
        video = crud.get_video(session, videoId)
        evidence = video.evidence.to_evidence() if video and video.evidence else None
    if evidence is None:
        raise ApiError(404, "no evidence for that video yet")
    if not 0 <= scene < len(evidence.scenes) or not evidence.scenes[scene].keyframe:
        raise ApiError(404, f"no keyframe for scene {scene}")
    name = evidence.scenes[scene].keyframe or ""
    path = EvidenceCache(found.settings).keyframe_dir(evidence.content_hash) / name
    if not path.is_file():
        raise ApiError(404, "the keyframe is no longer in the cache")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})


# --- what users do ------------------------------------------------------------


def _video_answer(found: Services, video_id: str) -> VideoView:
    found.changed([video_id])
    with found.read() as session:
        video = crud.get_video(session, video_id)
        if video is None:  # deleted meanwhile with its job
            raise ApiError(404, NO_VIDEO)
        return story_video_view(video, crud.current_story(session, video_id=video.id))


@router.post(
    "/api/job/{jobId}/video/{videoId}/retry",
    response_model=VideoView,
    summary="Retry a failed video",
)
def retry_video(
    jobId: str, videoId: str, found: Annotated[Services, Depends(services)]
) -> VideoView:
    """A failed or cancelled video goes back to the queue with fresh attempts (409 otherwise)."""
    found.actions.retry_video(videoId, batch_id=jobId)
    return _video_answer(found, videoId)


@router.post(
    "/api/job/{jobId}/video/{videoId}/cancel", response_model=VideoView, summary="Cancel a video"
)
def cancel_video(
    jobId: str, videoId: str, found: Annotated[Services, Depends(services)]
) -> VideoView:
    """A waiting video will not run; a running one is stopped within a second or two
    (409 when it has already ended)."""
    found.actions.cancel_video(videoId, batch_id=jobId)
    return _video_answer(found, videoId)


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
    found: Annotated[Services, Depends(services)],
    request: Annotated[RegenerateRequest | None, Body()] = None,
) -> VideoView:
    """A completed video is queued for a new story version; the current story stays
    until the new one is written (its evidence is reused, so it is quick)."""
    request = request or RegenerateRequest()
    teller = request.teller
    if teller is not None:
        teller_field(teller, found.settings.default_teller)
    if request.model:
        if teller is None:
            with found.read() as session:
                video = session.get(Video, videoId)
            teller = video.teller if video is not None else found.settings.default_teller
        model_field(request.model, teller)
    found.actions.regenerate(
        videoId, batch_id=jobId, teller=request.teller, model=request.model, seed=request.seed
    )
    return _video_answer(found, videoId)


@router.post(
    "/api/job/{jobId}/retry",
    response_model=ActionAnswer,
    summary="Retry every failed video of a job",
)
def retry_job(jobId: str, found: Annotated[Services, Depends(services)]) -> ActionAnswer:
    ids = found.actions.retry_failed(jobId)
    found.changed(ids)
    return ActionAnswer(jobId=jobId, videoIds=ids, message=f"{_videos(len(ids))} queued again")


@router.post(
    "/api/job/{jobId}/cancel", response_model=ActionAnswer, summary="Cancel what has not ended"
)
def cancel_job(jobId: str, found: Annotated[Services, Depends(services)]) -> ActionAnswer:
    ids = found.actions.cancel_batch(jobId)
    found.changed(ids)
    return ActionAnswer(jobId=jobId, videoIds=ids, message=f"{_videos(len(ids))} cancelled")


@router.delete(
    "/api/job/{jobId}", response_model=ActionAnswer, summary="Delete a job and its files"
)
def delete_job(jobId: str, found: Annotated[Services, Depends(services)]) -> ActionAnswer:
    """Stops what runs, deletes the job, its videos and stories, then the stored files no
    other job uses. Evidence stays: the same bytes uploaded again reuse it."""
    found.actions.cancel_batch(jobId)
    with found.write() as session:
        batch = crud.get_batch(session, jobId)
        if batch is None:
            raise ApiError(404, NO_JOB)
        ids = [video.id for video in batch.videos]
        keys = crud.delete_batch(session, batch_id=jobId) or []
    found.wake()  # the engine stops any video of it still running
    found.deleted(jobId)
    # Look again just before deleting: an upload of the same bytes may have been
    # committed since, and its video now needs the file.
    with found.read() as session:
        still_used = set(
            session.scalars(select(Video.storage_path).where(Video.storage_path.in_(keys)))
        )
    for key in keys:
        if key and key not in still_used:
            try:
                found.videos.delete(key)
            except StorageError as exc:  # the job is gone all the same; the bytes stay
                log.warning("%s of deleted job %s is left in storage: %s", key, jobId, exc.reason)
    return ActionAnswer(
        jobId=jobId, videoIds=ids, message=f"job deleted with its {_videos(len(ids))}"
    )
