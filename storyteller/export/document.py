"""A batch (or one video) read from the database into plain frozen dataclasses that every
renderer takes: no ORM object, no session, no HTTP past this module.

Every string that came from a user or a model is cleaned here once (control and bidi
override characters removed); each renderer still escapes for its own format.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storyteller.config import Settings
from storyteller.db.models import AttemptCost, Batch, Video, VideoStatus
from storyteller.pipeline.cache import EvidenceCache
from storyteller.pipeline.evidence import Evidence
from storyteller.storage.names import clean_text
from storyteller.story.model import Sentence, format_dateline

# Control and bidi override characters out (tab and newline too: no field we export is
# more than one line), as names are cleaned when they come in.
clean = clean_text


def clean_lines(text: str) -> str:
    """`text` without control characters but its line breaks (a story's whole text)."""
    return "\n".join(clean(line) for line in text.replace("\r\n", "\n").split("\n"))


@dataclass(frozen=True)
class StoryVersion:
    """One version of a video's story, as written."""

    version: int
    teller: str
    model: str | None
    seed: int
    title: str
    place: str
    region: str
    date: dt.date
    paragraphs: tuple[str, ...]
    disclaimer: str
    text: str  # the whole story as users read it, as stored
    created_at: dt.datetime
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    # The body's sentences with the moments they stand on (`Sentence` of story.model).
    sentences: tuple[Sentence, ...] = ()

    @property
    def dateline(self) -> str:
        return format_dateline(self.place, self.region, self.date)


@dataclass(frozen=True)
class Keyframe:
    """The picture that stands for a video: its first scene's keyframe (as on the page)."""

    scene: int
    at_s: float
    jpeg: bytes


@dataclass(frozen=True)
class SpokenLine:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class ScreenLine:
    text: str
    first_seen_s: float
    last_seen_s: float


@dataclass(frozen=True)
class Shot:
    index: int
    start_s: float
    end_s: float
    faces: int


@dataclass(frozen=True)
class FailedAttempt:
    """An attempt that spent tokens but wrote no story."""

    attempt: int
    teller: str
    model: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    created_at: dt.datetime


@dataclass(frozen=True)
class VideoDocument:
    """One video of a batch with its story versions (oldest first) and what they stand on."""

    id: str
    position: int
    name: str
    status: str  # pending, processing, completed, failed, cancelled
    reason: str | None
    error_code: str | None
    teller: str
    model: str | None
    size_bytes: int
    content_hash: str
    created_at: dt.datetime
    completed_at: dt.datetime | None
    stories: tuple[StoryVersion, ...] = ()
    failed_attempts: tuple[FailedAttempt, ...] = ()
    keyframe: Keyframe | None = None
    duration_s: float | None = None
    language: str | None = None
    transcript: tuple[SpokenLine, ...] = ()
    on_screen: tuple[ScreenLine, ...] = ()
    shots: tuple[Shot, ...] = ()
    evidence: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    current_version: int | None = None  # the version its owner chose; None: the newest

    @property
    def story(self) -> StoryVersion | None:
        """The current story: the version its owner chose, else the newest."""
        chosen = [s for s in self.stories if s.version == self.current_version]
        return chosen[0] if chosen else self.stories[-1] if self.stories else None

    @property
    def cost_usd(self) -> float | None:
        """What every story version and failed attempt cost; None when nothing was priced."""
        costs = [s.cost_usd for s in self.stories] + [a.cost_usd for a in self.failed_attempts]
        priced = [c for c in costs if c is not None]
        return round(sum(priced), 6) if priced else None


@dataclass(frozen=True)
class BatchDocument:
    """A batch to export, or one video of it (`videos` then holds that one)."""

    id: str
    status: str
    priority: str
    teller: str
    model: str | None
    created_at: dt.datetime
    completed_at: dt.datetime | None
    exported_at: dt.datetime
    videos: tuple[VideoDocument, ...]

    @property
    def title(self) -> str:
        """What the document is called: the video's name alone, or the batch's."""
        if len(self.videos) == 1:
            return self.videos[0].name
        return f"Stories of batch {self.id[:8]}"


def load_batch(session: Session, batch_id: str, settings: Settings) -> BatchDocument | None:
    """The batch with every video, or None when there is no such batch (the keyframes are
    read from the evidence cache that `settings` name)."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        return None
    videos = session.scalars(
        select(Video)
        .where(Video.batch_id == batch_id)
        .order_by(Video.position)
        .options(selectinload(Video.stories), selectinload(Video.evidence))
    ).all()
    return _document(session, batch, list(videos), EvidenceCache(settings))


def load_video(session: Session, video_id: str, settings: Settings) -> BatchDocument | None:
    """One video as a document of its own, or None when there is no such video."""
    video = session.scalars(
        select(Video)
        .where(Video.id == video_id)
        .options(selectinload(Video.stories), selectinload(Video.evidence))
    ).one_or_none()
    if video is None:
        return None
    return _document(session, video.batch, [video], EvidenceCache(settings))


def _document(
    session: Session, batch: Batch, videos: list[Video], cache: EvidenceCache
) -> BatchDocument:
    spent: dict[str, list[AttemptCost]] = {video.id: [] for video in videos}
    if videos:
        for cost in session.scalars(
            select(AttemptCost)
            .where(AttemptCost.video_id.in_(list(spent)))
            .order_by(AttemptCost.created_at, AttemptCost.id)
        ):
            spent[cost.video_id].append(cost)
    return BatchDocument(
        id=batch.id,
        status=batch.status.value,
        priority=batch.priority.value,
        teller=batch.teller,
        model=batch.model,
        created_at=batch.created_at,
        completed_at=batch.completed_at,
        exported_at=dt.datetime.now(dt.UTC),
        videos=tuple(_video(video, spent[video.id], cache) for video in videos),
    )


def _video(video: Video, spent: list[AttemptCost], cache: EvidenceCache) -> VideoDocument:
    status = VideoStatus(video.status)
    evidence = _evidence(video)
    parts: dict[str, Any] = {}
    if evidence is not None:
        parts = {
            "keyframe": _keyframe(evidence, cache),
            "duration_s": evidence.media.duration_s,
            "language": evidence.transcript.language if evidence.transcript else None,
            "transcript": tuple(
                SpokenLine(s.start, s.end, clean(s.text).strip())
                for s in (evidence.transcript.segments if evidence.transcript else [])
                if s.text.strip()
            ),
            "on_screen": tuple(
                ScreenLine(clean(line.text), line.first_seen_s, line.last_seen_s)
                for line in evidence.on_screen_text
            ),
            "shots": tuple(Shot(s.index, s.start_s, s.end_s, s.faces) for s in evidence.scenes),
        }
    ended_badly = status in (VideoStatus.FAILED, VideoStatus.CANCELLED)
    return VideoDocument(
        id=video.id,
        position=video.position,
        name=clean(video.original_name),
        status=status.value,
        reason=clean(video.error) if ended_badly and video.error else None,
        error_code=video.error_code if status.ended else None,
        teller=video.teller,
        model=video.model,
        size_bytes=video.size_bytes,
        content_hash=video.content_hash,
        created_at=video.created_at,
        completed_at=video.completed_at,
        stories=tuple(
            StoryVersion(
                version=story.version,
                teller=story.teller,
                model=story.model,
                seed=story.seed,
                title=clean(story.title),
                place=clean(story.place),
                region=clean(story.region),
                date=story.date,
                paragraphs=tuple(clean(p) for p in story.paragraphs),
                disclaimer=clean(story.disclaimer),
                text=clean_lines(story.text),
                created_at=story.created_at,
                tokens_in=story.tokens_in,
                tokens_out=story.tokens_out,
                cost_usd=story.cost_usd,
                sentences=tuple(
                    sentence.model_copy(update={"text": clean(sentence.text)})
                    for sentence in story.linked_sentences()
                ),
            )
            for story in sorted(video.stories, key=lambda s: s.version)
        ),
        current_version=next(
            (s.version for s in video.stories if s.id == video.current_story_id), None
        ),
        failed_attempts=tuple(
            FailedAttempt(
                attempt=cost.attempt,
                teller=cost.teller,
                model=cost.model,
                tokens_in=cost.tokens_in,
                tokens_out=cost.tokens_out,
                cost_usd=cost.cost_usd,
                created_at=cost.created_at,
            )
            for cost in spent
        ),
        evidence=video.evidence.json if video.evidence else None,
        **parts,
    )


def _evidence(video: Video) -> Evidence | None:
    if video.evidence is None:
        return None
    try:
        return video.evidence.to_evidence()
    except ValidationError:
        return None  # from an older version of the pipeline: exported without it


def _keyframe(evidence: Evidence, cache: EvidenceCache) -> Keyframe | None:
    """The first scene's keyframe, as the page's thumbnail; None when it left the cache
    (keyframes stay on the machine that analysed the video)."""
    scene = evidence.scenes[0] if evidence.scenes else None
    if scene is None or not scene.keyframe:
        return None
    path = cache.keyframe_dir(evidence.content_hash) / scene.keyframe
    try:
        jpeg = path.read_bytes()
    except OSError:
        return None
    # A damaged file must not stop the document: it goes without the picture.
    return Keyframe(scene.index, scene.keyframe_s, jpeg) if jpeg[:3] == b"\xff\xd8\xff" else None


def clock(seconds: float) -> str:
    """A time in a video as `m:ss.s`."""
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes)}:{rest:04.1f}"


@dataclass(frozen=True)
class AppendixSection:
    heading: str
    lines: tuple[str, ...]


def appendix(video: VideoDocument) -> tuple[AppendixSection, ...]:
    """What a story stands on, as the documents' appendix prints it: the transcript with
    times, the text read on screen, the shot list. Empty sections say so."""
    said = tuple(
        f"{clock(line.start_s)}–{clock(line.end_s)}  {line.text}" for line in video.transcript
    )
    read = tuple(
        f"{clock(line.first_seen_s)}–{clock(line.last_seen_s)}  {line.text}"
        for line in video.on_screen
    )
    shots = tuple(
        f"Shot {shot.index + 1}: {clock(shot.start_s)}–{clock(shot.end_s)}"
        + (f", {shot.faces} face{'s' if shot.faces != 1 else ''}" if shot.faces else "")
        for shot in video.shots
    )
    heard = "Transcript" + (f" ({video.language})" if video.language else "")
    return (
        AppendixSection(heard, said or ("Nothing was said.",)),
        AppendixSection("On-screen text", read or ("No text was read on screen.",)),
        AppendixSection("Shots", shots or ("No shot list.",)),
    )
