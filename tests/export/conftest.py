"""A batch written straight into a real database (SQLite and PostgreSQL), with evidence and
a keyframe in the cache, and the app in-process to export it."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from storyteller.config import Settings
from storyteller.db.models import (
    AttemptCost,
    Batch,
    BatchStatus,
    ErrorCause,
    EvidenceRecord,
    Story,
    Video,
    VideoStatus,
)
from storyteller.db.session import make_engine, make_session_factory
from storyteller.pipeline.cache import EvidenceCache, analysis_fingerprint
from storyteller.pipeline.evidence import (
    Evidence,
    MediaInfo,
    Scene,
    ScreenText,
    Segment,
    Transcript,
)
from storyteller.story.model import Story as StoryParts
from tests.api.conftest import MakeClient, anyio_backend, make_client

__all__ = ["anyio_backend", "make_client"]  # the API tests' fixtures, used here too

DISCLAIMER = "This story was written by AI from the video and is for entertainment only."
MARKUP_TITLE = "#set page(fill: red) *bold* $x$ <l> @ref `c` [link](x) _i_"


@dataclass(frozen=True)
class StoredStory:
    title: str
    place: str
    region: str
    paragraphs: tuple[str, ...]
    disclaimer: str = DISCLAIMER
    date: dt.date = dt.date(2026, 2, 26)

    @property
    def parts(self) -> StoryParts:
        return StoryParts(
            title=self.title,
            place=self.place,
            region=self.region,
            date=self.date,
            paragraphs=list(self.paragraphs),
            disclaimer=self.disclaimer,
        )


@dataclass(frozen=True)
class StoredVideo:
    name: str
    status: VideoStatus
    stories: tuple[StoredStory, ...] = ()  # oldest first: the last is current
    reason: str | None = None
    evidence: bool = False


SNOW_OLD = StoredStory(
    "An Older Version Nobody Exports",
    "Stowe",
    "Vermont",
    ("Old one.", "Old two.", "Old three."),
)
SNOW = StoredStory(
    "Road Closed, on Camera",
    "Woodstock",
    "Vermont",
    (
        "Shot over about eight seconds, this video takes in a snowy landscape across three "
        "shots. Someone can be made out in the busiest shot.",
        '"Snow has closed the mountain road for the second day", says a voice in the footage.',
        "Text on screen reads 'ROAD CLOSED' in the second shot; the officials' fine print "
        "is not legible.",
    ),
)
RUSSIAN = StoredStory(
    "Снег закрыл горную дорогу",
    "Мурманск",
    "Россия",
    (
        "Снег закрыл горную дорогу второй день подряд, говорит голос за кадром.",
        "На экране видна надпись «ДОРОГА ЗАКРЫТА», а вокруг лежат сугробы.",
        "Чем закончился день, на видео не видно.",
    ),
    "Эта история написана ИИ по видео и предназначена только для развлечения.",
)
GREEK = StoredStory(
    "Το χιόνι έκλεισε τον δρόμο",
    "Καλάβρυτα",
    "Αχαΐα",
    (
        "Το χιόνι έκλεισε τον ορεινό δρόμο για δεύτερη μέρα, λέει μια φωνή στο βίντεο.",
        "Στην οθόνη διαβάζεται η επιγραφή «ΚΛΕΙΣΤΟΣ ΔΡΟΜΟΣ».",
        "Πώς τελείωσε η μέρα δεν καταγράφεται.",
    ),
    "Αυτή η ιστορία γράφτηκε από τεχνητή νοημοσύνη και είναι για ψυχαγωγία.",
)
JAPANESE = StoredStory(
    "雪で山道が二日連続の通行止め",
    "札幌",
    "北海道",
    (
        "雪のため山道は二日連続で閉鎖されたと、映像の中の声が伝えている。",
        "画面には「通行止め」の文字が映っている。",
        "その日がどう終わったかは記録されていない。",
    ),
    "この記事は動画をもとにAIが書いたもので、娯楽目的です。",
)
MARKUP = StoredStory(
    MARKUP_TITLE,
    "Springfield",
    "Illinois",
    (
        "<script>alert(1)</script> and # not a heading, = not a formula.",
        "- not a list item, 1. not a numbered one, > not a quote.",
        "Back\\slash, *stars*, _under_, `ticks`, #hash, $dollar$, @at.",
    ),
)

BATCH = (
    StoredVideo("snow.mp4", VideoStatus.COMPLETED, (SNOW_OLD, SNOW), evidence=True),
    StoredVideo("Новости.mp4", VideoStatus.COMPLETED, (RUSSIAN,)),
    StoredVideo("Χιόνι.webm", VideoStatus.COMPLETED, (GREEK,)),
    StoredVideo("雪.mov", VideoStatus.COMPLETED, (JAPANESE,)),
    StoredVideo("<img src=x onerror=alert(1)>.mp4", VideoStatus.COMPLETED, (MARKUP,)),
    StoredVideo(
        '=HYPERLINK("http://evil.example")\x07\u202e.mp4',
        VideoStatus.FAILED,
        reason='=HYPERLINK("http://evil.example").mp4 is not a video: it is a text file',
    ),
    StoredVideo("+late.mp4", VideoStatus.CANCELLED, reason="cancelled by a user"),
)


@dataclass
class StoredBatch:
    id: str
    video_ids: list[str] = field(default_factory=list)
    keyframe: bytes = b""


def keyframe_jpeg(number: int = 0) -> bytes:
    """A 640x360 picture: a grey sky over snow, a red ROAD CLOSED sign, and `number`."""
    picture = np.zeros((360, 640, 3), np.uint8)
    picture[:] = (200, 190, 180)
    picture[230:, :] = (250, 250, 250)
    cv2.rectangle(picture, (120, 120), (520, 230), (40, 40, 190), -1)
    cv2.putText(
        picture, "ROAD CLOSED", (140, 195), cv2.FONT_HERSHEY_SIMPLEX, 1.9, (255, 255, 255), 4
    )
    cv2.putText(picture, f"#{number}", (20, 340), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (90, 90, 90), 2)
    ok, encoded = cv2.imencode(".jpg", picture)
    assert ok
    return encoded.tobytes()


def _evidence(name: str, digest: str) -> Evidence:
    return Evidence(
        content_hash=digest,
        file_name=name,
        media=MediaInfo(
            container="mp4",
            size_bytes=1000,
            duration_s=8.0,
            header_duration_s=8.0,
            width=640,
            height=360,
            rotation=0,
            fps=25.0,
            frame_count=200,
            video_codec="h264",
        ),
        scenes=[
            Scene(index=0, start_s=0.0, end_s=3.0, keyframe_s=1.5, keyframe="scene-000.jpg"),
            Scene(index=1, start_s=3.0, end_s=8.0, keyframe_s=5.0, faces=1),
        ],
        transcript=Transcript(
            language="en",
            language_probability=0.99,
            model="base",
            segments=[
                Segment(start=0.4, end=3.2, text=" Snow has closed the mountain road."),
            ],
        ),
        on_screen_text=[
            ScreenText(
                text="ROAD CLOSED", confidence=0.97, first_seen_s=3.1, last_seen_s=5.9, frames=4
            )
        ],
    )


def store_batch(
    database_url: str, settings: Settings, videos: tuple[StoredVideo, ...]
) -> StoredBatch:
    """Write `videos` as one batch; the first with evidence gets a keyframe in the cache."""
    engine = make_engine(database_url)
    now = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    jpeg = keyframe_jpeg()
    try:
        with make_session_factory(engine)() as session, session.begin():
            batch = Batch(
                created_at=now,
                completed_at=now,
                status=BatchStatus.COMPLETED,
                teller="gemini",
                model="gemini-2.5-flash",
            )
            session.add(batch)
            session.flush()
            stored = StoredBatch(batch.id, keyframe=jpeg)
            for position, spec in enumerate(videos):
                digest = hashlib.sha256(f"{position}{spec.name}".encode()).hexdigest()
                record = None
                if spec.evidence:
                    evidence = _evidence(spec.name, digest)
                    record = EvidenceRecord(
                        content_hash=digest,
                        fingerprint=analysis_fingerprint(settings),
                        json=evidence.model_dump(mode="json"),
                    )
                    session.add(record)
                    folder = EvidenceCache(settings).keyframe_dir(digest)
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / "scene-000.jpg").write_bytes(
                        keyframe_jpeg(position) if position else jpeg
                    )
                video = Video(
                    batch_id=batch.id,
                    position=position,
                    original_name=spec.name,
                    size_bytes=1000 + position,
                    content_hash=digest,
                    storage_path=f"{digest[:2]}/{digest}",
                    status=spec.status,
                    teller="gemini",
                    model="gemini-2.5-flash",
                    attempts=1,
                    error=spec.reason,
                    error_code="not_a_video" if spec.status == VideoStatus.FAILED else None,
                    error_cause=ErrorCause.VIDEO if spec.status == VideoStatus.FAILED else None,
                    created_at=now,
                    completed_at=now,
                    evidence=record,
                )
                session.add(video)
                session.flush()
                stored.video_ids.append(video.id)
                for version, story in enumerate(spec.stories, 1):
                    parts = story.parts
                    session.add(
                        Story(
                            video_id=video.id,
                            version=version,
                            teller="gemini",
                            model="gemini-2.5-flash",
                            seed=version,
                            title=story.title,
                            place=story.place,
                            region=story.region,
                            date=story.date,
                            paragraphs=list(story.paragraphs),
                            disclaimer=story.disclaimer,
                            text=parts.text,
                            created_at=now + dt.timedelta(minutes=version),
                            tokens_in=1000 * version,
                            tokens_out=200,
                            cost_usd=0.001 * version,
                            evidence_id=record.id if record else None,
                        )
                    )
                if spec.status == VideoStatus.FAILED:
                    session.add(
                        AttemptCost(
                            video_id=video.id,
                            attempt=1,
                            teller="gemini",
                            model="gemini-2.5-flash",
                            tokens_in=500,
                            tokens_out=0,
                            cost_usd=0.0002,
                            created_at=now,
                        )
                    )
    finally:
        engine.dispose()
    return stored


@pytest.fixture
async def exported(
    make_client: MakeClient, settings: Settings, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, StoredBatch]]:
    """A client of the app (no engine) and the batch stored in its database."""
    client = await make_client()
    yield client, store_batch(database_url, settings, BATCH)


def current_stories() -> list[StoredStory]:
    return [video.stories[-1] for video in BATCH if video.stories]


def every_line(story: StoredStory) -> list[str]:
    """What a document must show of a story: title, dateline's parts, paragraphs, disclaimer."""
    return [story.title, story.place, story.region, *story.paragraphs, story.disclaimer]


def squeeze(text: str) -> str:
    """Text without any whitespace: lines broken anywhere still compare equal."""
    return "".join(text.split())


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
