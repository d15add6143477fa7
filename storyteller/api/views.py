"""What the API answers, as models (they document the API at /docs) and the functions
that build them from the rows. The original app's field names are kept exactly (camelCase);
fields we add sit beside them and are never renamed or removed."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from storyteller.batches.choices import Choice
from storyteller.batches.intake import Admitted
from storyteller.batches.listing import BatchPage
from storyteller.batches.retrying import retry_advice
from storyteller.config import Settings
from storyteller.db.models import AttemptCost, BatchStatus, Priority, Story, Video, VideoStatus
from storyteller.jobs.line import Line
from storyteller.pipeline.progress import stage_label
from storyteller.story.model import Sentence
from storyteller.tellers.registry import configured_model

SeedStatus = Literal["pending", "processing", "completed", "failed"]
# What `GET /api/job/{jobId}` says: the original front end draws `pending` as "Ready"
# with a remove button, so a queued video shows there as `processing`.
PolledStatus = Literal["processing", "completed", "failed"]


def timestamp(moment: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and `Z`, as JavaScript's `toISOString()` wrote them."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seed_status(status: VideoStatus) -> SeedStatus:
    """The original front end knows four states and stops polling at completed or failed:
    a cancelled video shows there as failed (its reason says it was cancelled)."""
    return "failed" if status == VideoStatus.CANCELLED else status.value  # type: ignore[return-value]


def polled_status(status: VideoStatus) -> PolledStatus:
    """`seed_status` as the polled job view shows it: a queued video is `processing`
    (its `statusDetail` says `pending`)."""
    return "processing" if status == VideoStatus.PENDING else seed_status(status)  # type: ignore[return-value]


class VideoView(BaseModel):
    """A video of a job, as `GET /api/job/{jobId}` lists it."""

    id: str
    originalName: str
    status: PolledStatus = Field(
        description="processing (queued or running), completed or failed (cancelled too)."
    )
    story: str | None = Field(description="The current story's full text, once written.")
    error: str | None = Field(description="Why it failed, in words a person can act on.")
    createdAt: str
    completedAt: str | None
    # Added by us:
    statusDetail: str = Field(description="pending, processing, completed, failed or cancelled.")
    stage: str | None = Field(description="What it is doing now: probe, scenes, speech, ...")
    progress: float = Field(description="Fraction done, 0 to 1.")
    attempts: int
    priority: str
    teller: str
    model: str | None = Field(description="The AI teller's model; null for its configured one.")
    waiting: str | None = Field(
        description="Why a pending video is held back (a spending budget), or null."
    )
    sizeBytes: int
    errorCode: str | None
    storyVersion: int | None
    stageLabel: str | None = Field(
        default=None,
        description="`stage` in words: reading the file, finding the shots, listening, "
        "looking at the pictures, reading the text on screen, writing the story... "
        "(the list is in docs/api.md).",
    )
    queuePosition: int | None = Field(
        default=None,
        description="For a waiting video a worker could take now: its place in line, 1 "
        "being next (in the claim order: priority, fair share between batches, upload "
        "order). Null otherwise, and in live updates.",
    )
    etaS: float | None = Field(
        default=None,
        description="Seconds until it should be done, from the measured pace of recent "
        "videos and the workers' slots; null when unknown, and in live updates.",
    )
    retryable: bool | None = Field(
        default=None,
        description="For a failed or cancelled video: whether Retry can help (false when "
        "the file itself is the cause). Null otherwise.",
    )
    retryNote: str | None = Field(
        default=None, description="Why Retry cannot help and what would, when it cannot."
    )


CountName = Literal["waiting", "running", "completed", "failed", "cancelled"]
JobCounts = dict[CountName, int]


# The states as the counts name them: the page's words ("3 waiting, 2 running").
COUNT_NAMES: dict[VideoStatus, CountName] = {
    VideoStatus.PENDING: "waiting",
    VideoStatus.PROCESSING: "running",
    VideoStatus.COMPLETED: "completed",
    VideoStatus.FAILED: "failed",
    VideoStatus.CANCELLED: "cancelled",
}


def job_counts(counts: Mapping[VideoStatus, int]) -> JobCounts:
    """Videos in each state under the page's names, every state, zeros too."""
    return {name: counts.get(status, 0) for status, name in COUNT_NAMES.items()}


class JobView(BaseModel):
    """A batch (the original app's "job") with all its videos."""

    id: str
    status: Literal["processing", "completed"]
    videos: list[VideoView]
    createdAt: str
    completedAt: str | None
    priority: str
    teller: str
    model: str | None
    # Added by us:
    counts: JobCounts = Field(
        default_factory=dict,
        description="Videos in each state: waiting, running, completed, failed, cancelled.",
    )
    etaS: float | None = Field(
        default=None,
        description="Seconds until every video has ended, from the measured pace; null "
        "when unknown or once it has ended.",
    )
    endedAt: str | None = Field(
        default=None, description="When its last video ended (in any way); null before."
    )


def video_view(
    video: Any,
    story_text: str | None,
    story_version: int | None,
    *,
    place: int | None = None,
    eta_s: float | None = None,
) -> VideoView:
    """The view of a video, from its ORM object or from a row of `crud.batch_status_rows`
    (the same attribute names), with its place in line and time left when known."""
    status = VideoStatus(video.status)
    retryable, retry_note = retry_advice(status, video.error_cause, video.error_code)
    return VideoView(
        id=video.id,
        originalName=video.original_name,
        status=polled_status(status),
        story=story_text,
        error=video.error if status in (VideoStatus.FAILED, VideoStatus.CANCELLED) else None,
        createdAt=timestamp(video.created_at) or "",
        completedAt=timestamp(video.completed_at),
        statusDetail=status.value,
        stage=video.stage,
        progress=video.progress,
        attempts=video.attempts,
        priority=Priority(video.priority).value,
        teller=video.teller,
        model=video.model,
        waiting=video.wait_reason if status == VideoStatus.PENDING else None,
        sizeBytes=video.size_bytes,
        errorCode=video.error_code if status.ended else None,
        storyVersion=story_version,
        stageLabel=stage_label(video.stage) if status == VideoStatus.PROCESSING else None,
        queuePosition=place,
        etaS=eta_s if not status.ended else None,
        retryable=retryable,
        retryNote=retry_note,
    )


def story_video_view(video: Video, story: Story | None) -> VideoView:
    return video_view(video, story.text if story else None, story.version if story else None)


def job_view(batch: Any, videos: list[Any], line: Line | None = None) -> JobView:
    """The view of a batch from the rows of `crud.batch_status_rows`, with the places in
    line and times left from `line` (`jobs.line.read_line`) when given."""
    turns = line.turns(videos) if line else {}
    places = {video_id: turn.place for video_id, turn in turns.items()}
    etas = {video.id: line.eta_s(video, turns.get(video.id)) for video in videos} if line else {}
    unended = [etas.get(v.id) for v in videos if not VideoStatus(v.status).ended]
    ended = BatchStatus(batch.status) == BatchStatus.COMPLETED
    return JobView(
        id=batch.id,
        status=BatchStatus(batch.status).value,
        videos=[
            video_view(
                video,
                video.story_text,
                video.story_version,
                place=places.get(video.id),
                eta_s=etas.get(video.id),
            )
            for video in videos
        ],
        createdAt=timestamp(batch.created_at) or "",
        completedAt=timestamp(batch.completed_at),
        priority=Priority(batch.priority).value,
        teller=batch.teller,
        model=batch.model,
        counts=job_counts(Counter(VideoStatus(video.status) for video in videos)),
        etaS=max(unended) if unended and None not in unended else None,  # type: ignore[type-var]
        endedAt=timestamp(batch.completed_at) if ended else None,
    )


class UploadedVideo(BaseModel):
    id: str
    name: str
    status: SeedStatus
    error: str | None = None
    statusDetail: str = Field(description="pending, or failed when refused at upload.")


class UploadAnswer(BaseModel):
    jobId: str
    message: str
    videos: list[UploadedVideo]
    priority: str
    teller: str
    model: str | None = None


def upload_answer(admitted: Admitted, choice: Choice, settings: Settings) -> UploadAnswer:
    """What an upload (or a batch of resumable uploads) answers, as the original did."""
    return UploadAnswer(
        jobId=admitted.batch_id,
        message=admitted.message,
        videos=[
            UploadedVideo(
                id=video.id,
                name=video.name,
                status=seed_status(video.status),
                error=video.error,
                statusDetail=video.status.value,
            )
            for video in admitted.videos
        ],
        priority=choice.priority.value,
        teller=choice.teller,
        model=choice.model or configured_model(choice.teller, settings),
    )


class JobSummary(BaseModel):
    id: str
    status: Literal["processing", "completed"]
    createdAt: str
    completedAt: str | None
    priority: str
    teller: str
    model: str | None
    videoCount: int
    counts: JobCounts = Field(
        description="Videos in each state: waiting, running, completed, failed, cancelled."
    )
    names: list[str] = Field(description="The first three file names, in upload order.")
    moreNames: int = Field(description="How many more videos there are than `names` shows.")
    thumbnails: list[str] = Field(
        description="Up to four ids of its videos that have a picture "
        "(`GET /api/videos/{videoId}/thumbnail`)."
    )
    title: str | None = Field(description="The title of its first story, once one is written.")


class JobPage(BaseModel):
    jobs: list[JobSummary]
    total: int
    offset: int
    limit: int


def job_page(page: BatchPage, *, offset: int, limit: int) -> JobPage:
    return JobPage(
        jobs=[
            JobSummary(
                id=summary.batch.id,
                status=summary.batch.status.value,
                createdAt=timestamp(summary.batch.created_at) or "",
                completedAt=timestamp(summary.batch.completed_at),
                priority=summary.batch.priority.value,
                teller=summary.batch.teller,
                model=summary.batch.model,
                videoCount=summary.video_count,
                counts=job_counts(summary.counts),
                names=summary.names,
                moreNames=max(0, summary.video_count - len(summary.names)),
                thumbnails=summary.thumbnails,
                title=summary.title,
            )
            for summary in page.batches
        ],
        total=page.total,
        offset=offset,
        limit=limit,
    )


class StoryVersionView(BaseModel):
    version: int
    teller: str
    model: str | None
    seed: int
    title: str
    place: str
    region: str
    date: str
    paragraphs: list[str]
    disclaimer: str
    text: str
    createdAt: str
    tokensIn: int | None
    tokensOut: int | None
    costUsd: float | None
    # Added for the player beside the story:
    sentences: list[Sentence] = Field(
        description="The body's sentences in order, each with its paragraph (from 0) and "
        "the moments of the video it stands on; a paragraph's sentences joined with single "
        "spaces give the paragraph back. The headline, dateline and disclaimer are not "
        "sentences."
    )
    current: bool = Field(
        description="Whether this is the current version: the one shown, copied, exported "
        "and sent (the newest, unless its owner chose another)."
    )


class FailedAttemptView(BaseModel):
    """What an attempt that wrote no story spent at a provider (counted by the budgets)."""

    attempt: int
    teller: str
    model: str | None
    tokensIn: int
    tokensOut: int
    costUsd: float | None
    createdAt: str


class VideoRecord(VideoView):
    """Everything about one video: its evidence and every story version."""

    jobId: str
    contentHash: str
    seed: int
    maxAttempts: int
    errorCause: str | None
    startedAt: str | None
    heartbeatAt: str | None
    evidence: dict[str, Any] | None = Field(description="What the pipeline found, in full.")
    evidenceSummary: dict[str, Any] | None = Field(
        description="The same in short: transcript text, on-screen text, scenes, faces, season."
    )
    stories: list[StoryVersionView]
    failedAttempts: list[FailedAttemptView] = Field(
        description="Attempts that spent tokens but wrote no story, oldest first."
    )


def story_version_view(story: Story, *, current: bool) -> StoryVersionView:
    return StoryVersionView(
        version=story.version,
        teller=story.teller,
        model=story.model,
        seed=story.seed,
        title=story.title,
        place=story.place,
        region=story.region,
        date=story.date.isoformat(),
        paragraphs=list(story.paragraphs),
        disclaimer=story.disclaimer,
        text=story.text,
        createdAt=timestamp(story.created_at) or "",
        tokensIn=story.tokens_in,
        tokensOut=story.tokens_out,
        costUsd=story.cost_usd,
        sentences=story.linked_sentences(),
        current=current,
    )


def video_record(
    video: Video, stories: list[Story], failed: list[AttemptCost], current: Story | None
) -> VideoRecord:
    """The record of a video, with every story version (`current` among them)."""
    return VideoRecord(
        **story_video_view(video, current).model_dump(),
        jobId=video.batch_id,
        contentHash=video.content_hash,
        seed=video.seed,
        maxAttempts=video.max_attempts,
        errorCause=video.error_cause.value if video.error_cause else None,
        startedAt=timestamp(video.started_at),
        heartbeatAt=timestamp(video.heartbeat_at),
        evidence=video.evidence.json if video.evidence else None,
        evidenceSummary=_summary(video),
        stories=[
            story_version_view(story, current=current is not None and story.id == current.id)
            for story in stories
        ],
        failedAttempts=[
            FailedAttemptView(
                attempt=spent.attempt,
                teller=spent.teller,
                model=spent.model,
                tokensIn=spent.tokens_in,
                tokensOut=spent.tokens_out,
                costUsd=spent.cost_usd,
                createdAt=timestamp(spent.created_at) or "",
            )
            for spent in failed
        ],
    )


def _summary(video: Video) -> dict[str, Any] | None:
    if video.evidence is None:
        return None
    # Imported here: `telling` brings the whole pipeline (PyAV, OpenCV), which the web
    # process needs for nothing else. (`evidence_summary` belongs beside `Evidence`.)
    from storyteller.telling import evidence_summary

    return evidence_summary(video.evidence.to_evidence())


class ActionAnswer(BaseModel):
    """What a retry, cancel or regenerate of several videos changed."""

    jobId: str
    videoIds: list[str]
    message: str
