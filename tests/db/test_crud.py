"""Batches, videos, story versions and evidence, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from storyteller.batches.listing import list_batches
from storyteller.db import crud
from storyteller.db.models import (
    Batch,
    BatchStatus,
    ErrorCause,
    EvidenceRecord,
    Priority,
    Story,
    Video,
    VideoStatus,
)
from storyteller.db.session import make_session_factory
from storyteller.jobs.attempt import Usage
from storyteller.pipeline.evidence import (
    Evidence,
    MediaInfo,
    Scene,
    ScreenText,
    Segment,
    Transcript,
    Word,
)
from storyteller.story import model as story_model
from storyteller.story.season import Season


def upload(name: str, *, content: str | None = None) -> crud.VideoCreate:
    digest = (content or uuid.uuid4().hex).ljust(64, "0")[:64]
    return crud.VideoCreate(
        original_name=name,
        size_bytes=5_000_000_000,  # over 32 bits
        content_hash=digest,
        storage_path=f"{digest[:2]}/{digest}",
    )


def a_story(title: str = "Snow Closes Mountain Road") -> story_model.Story:
    return story_model.Story(
        title=title,
        place="Banff",
        region="Alberta",
        date=date(2025, 1, 14),
        paragraphs=[
            'Crews said "the road is shut" as snow fell — ünïcödé and quotes kept.',
            "Second paragraph.",
            "Third paragraph.",
        ],
        disclaimer="This story was written by AI from the video and is for entertainment only.",
    )


def an_evidence(content_hash: str = "ab" * 32) -> Evidence:
    return Evidence(
        content_hash=content_hash,
        file_name="snow.webm",
        media=MediaInfo(
            container="matroska,webm",
            size_bytes=123_456,
            duration_s=4.0,
            header_duration_s=4.02,
            width=640,
            height=360,
            rotation=0,
            fps=25.0,
            frame_count=100,
            video_codec="vp9",
            audio_codec="opus",
            audio_sample_rate=48_000,
        ),
        scenes=[Scene(index=0, start_s=0.0, end_s=2.0, keyframe_s=1.0, faces=1)],
        transcript=Transcript(
            language="en",
            language_probability=0.98,
            model="tiny.en",
            segments=[
                Segment(
                    start=0.1,
                    end=1.9,
                    text="The road is closed.",
                    words=[Word(start=0.1, end=0.4, text="The", probability=0.9)],
                )
            ],
        ),
        on_screen_text=[
            ScreenText(text="ROAD CLOSED", confidence=0.9, first_seen_s=0, last_seen_s=2, frames=3)
        ],
        timings={"probe": 0.01},
    )


def test_a_new_batch_lists_its_videos_in_upload_order_waiting(session: Session) -> None:
    batch = crud.create_batch(
        session,
        videos=[upload("b.mp4"), upload("a.mov"), upload("c.webm")],
        teller="local",
        priority="high",
    )
    session.commit()
    session.expunge_all()

    loaded = crud.get_batch(session, batch.id)
    assert loaded is not None
    assert uuid.UUID(loaded.id).version == 4
    assert loaded.status == BatchStatus.PROCESSING and loaded.completed_at is None
    assert loaded.priority == Priority.HIGH and loaded.teller == "local"
    assert [v.original_name for v in loaded.videos] == ["b.mp4", "a.mov", "c.webm"]
    assert [v.position for v in loaded.videos] == [0, 1, 2]
    video = loaded.videos[0]
    assert uuid.UUID(video.id).version == 4
    assert video.status == VideoStatus.PENDING and video.priority == Priority.HIGH
    assert (video.attempts, video.max_attempts, video.progress) == (0, 3, 0.0)
    assert video.size_bytes == 5_000_000_000
    assert video.run_after == video.created_at == loaded.created_at
    assert crud.get_video(session, video.id, batch_id=batch.id) is not None
    assert crud.get_video(session, video.id, batch_id="another") is None
    assert crud.get_batch(session, "missing") is None


def test_a_batch_needs_a_video(session: Session) -> None:
    with pytest.raises(ValueError, match="at least one video"):
        crud.create_batch(session, videos=[], teller="local")


def test_statuses_are_stored_as_their_words(session: Session) -> None:
    crud.create_batch(session, videos=[upload("a.mp4")], teller="local")
    session.commit()
    assert session.scalar(text("SELECT status FROM video")) == "pending"
    assert session.scalar(text("SELECT status FROM batch")) == "processing"


def test_batches_are_listed_newest_first_a_page_at_a_time(session: Session) -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    ids = []
    for hour in range(5):
        batch = crud.create_batch(session, videos=[upload(f"{hour}.mp4")], teller="local")
        batch.created_at = start + timedelta(hours=hour)
        ids.append(batch.id)
    session.commit()

    def page(offset: int) -> list[str]:
        return [s.batch.id for s in list_batches(session, offset=offset, limit=2).batches]

    assert page(0) == ids[::-1][:2]
    assert page(2) == ids[::-1][2:4]
    assert page(4) == ids[:1]
    assert crud.count_batches(session) == 5


def test_times_come_back_timezone_aware_in_utc(engine: Engine, session: Session) -> None:
    batch = crud.create_batch(session, videos=[upload("a.mp4")], teller="local")
    paris = datetime(2025, 6, 1, 16, 30, tzinfo=timezone(timedelta(hours=2)))
    batch.videos[0].started_at = paris
    session.commit()

    with make_session_factory(engine)() as fresh:
        video = fresh.scalars(select(Video)).one()
        for moment in (video.created_at, video.run_after, video.started_at):
            assert moment is not None and moment.utcoffset() == timedelta(0)
        assert video.started_at == datetime(2025, 6, 1, 14, 30, tzinfo=UTC)
        due = fresh.scalars(select(Video).where(Video.run_after <= datetime.now(UTC))).all()
        assert len(due) == 1


def test_naive_times_are_refused(session: Session) -> None:
    batch = crud.create_batch(session, videos=[upload("a.mp4")], teller="local")
    batch.completed_at = datetime(2025, 1, 1)  # no time zone
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_priority_sorts_high_normal_low(session: Session) -> None:
    for priority in ("low", "high", "normal"):
        crud.create_batch(
            session, videos=[upload(f"{priority}.mp4")], teller="local", priority=priority
        )
    session.commit()
    order = session.scalars(
        select(Video.original_name).order_by(Video.priority, Video.created_at)
    ).all()
    assert order == ["high.mp4", "normal.mp4", "low.mp4"]
    assert session.scalars(select(Video).where(Video.priority == Priority.LOW)).one()


def test_progress_outside_zero_to_one_is_refused(session: Session) -> None:
    batch = crud.create_batch(session, videos=[upload("a.mp4")], teller="local")
    batch.videos[0].progress = 1.5
    with pytest.raises(IntegrityError):
        session.flush()


def settled_batch(session: Session, batch_id: str) -> Batch:
    """The batch once `crud.settle_batch` has looked at its videos as they are now."""
    session.flush()
    crud.settle_batch(session.connection(), batch_id=batch_id)
    batch = session.get(Batch, batch_id)
    assert batch is not None
    session.refresh(batch)
    return batch


def test_a_batch_is_completed_when_every_video_has_ended(session: Session) -> None:
    batch = crud.create_batch(
        session, videos=[upload("a.mp4"), upload("b.mp4"), upload("c.mp4")], teller="local"
    )
    a, b, c = batch.videos
    a.status = VideoStatus.COMPLETED
    b.status = VideoStatus.FAILED
    b.error, b.error_code, b.error_cause = "b.mp4 is not a video", "not_a_video", ErrorCause.VIDEO
    assert settled_batch(session, batch.id).status == BatchStatus.PROCESSING

    c.status = VideoStatus.CANCELLED
    settled = settled_batch(session, batch.id)
    assert settled.status == BatchStatus.COMPLETED and settled.completed_at is not None
    assert crud.video_counts(session, batch_id=batch.id) == {
        VideoStatus.PENDING: 0,
        VideoStatus.PROCESSING: 0,
        VideoStatus.COMPLETED: 1,
        VideoStatus.FAILED: 1,
        VideoStatus.CANCELLED: 1,
    }

    b.status = VideoStatus.PENDING  # retried
    again = settled_batch(session, batch.id)
    assert again.status == BatchStatus.PROCESSING and again.completed_at is None
    session.commit()


def test_story_versions_count_up_and_the_newest_is_current(session: Session) -> None:
    batch = crud.create_batch(session, videos=[upload("a.mp4"), upload("b.mp4")], teller="local")
    a, b = batch.videos
    assert crud.current_story(session, video_id=a.id) is None

    first = crud.insert_story_version(
        session.connection(), video_id=a.id, story=a_story("One"), teller="local", seed=0
    )
    second = crud.insert_story_version(session.connection(), video_id=a.id, story=a_story("Two"), teller="gemini", seed=7,
        usage=Usage("gemini", None, 1200, 300, 0.00042),
    )  # fmt: skip
    third = crud.insert_story_version(
        session.connection(), video_id=a.id, story=a_story("Three"), teller="local", seed=9
    )
    other = crud.insert_story_version(
        session.connection(), video_id=b.id, story=a_story("Bee"), teller="local", seed=0
    )
    session.commit()
    session.expunge_all()

    assert [first, second, third, other] == [1, 2, 3, 1]
    current = crud.current_story(session, video_id=a.id)
    assert current is not None and current.title == "Three" and current.seed == 9
    assert [s.title for s in crud.story_versions(session, video_id=a.id)] == ["One", "Two", "Three"]
    by_video = crud.current_stories(session, video_ids=[a.id, b.id, "none"])
    assert {k: s.title for k, s in by_video.items()} == {a.id: "Three", b.id: "Bee"}
    kept = crud.story_versions(session, video_id=a.id)[1]
    assert (kept.teller, kept.tokens_in, kept.tokens_out) == ("gemini", 1200, 300)
    assert kept.cost_usd == pytest.approx(0.00042)


def test_the_chosen_version_is_current_everywhere_it_is_read(session: Session) -> None:
    batch = crud.create_batch(session, videos=[upload("a.mp4"), upload("b.mp4")], teller="local")
    a, b = batch.videos
    for title in ("One", "Two", "Three"):
        crud.insert_story_version(
            session.connection(), video_id=a.id, story=a_story(title), teller="local", seed=0
        )
    crud.insert_story_version(
        session.connection(), video_id=b.id, story=a_story("Bee"), teller="local", seed=0
    )
    a.current_story_id = crud.story_versions(session, video_id=a.id)[0].id
    session.commit()
    session.expunge_all()

    def titles() -> list[tuple[str | None, int | None]]:
        _, rows = crud.batch_status_rows(session, batch.id) or (None, [])
        live = {row.id: row for row in crud.video_status_rows(session, [a.id, b.id])}
        assert [(live[r.id].story_text, live[r.id].story_version) for r in rows] == [
            (r.story_text, r.story_version) for r in rows
        ]
        return [
            (r.story_text.split("\n")[0] if r.story_text else None, r.story_version) for r in rows
        ]

    current = crud.current_story(session, video_id=a.id)
    assert current is not None and current.title == "One"
    by_video = crud.current_stories(session, video_ids=[a.id, b.id])
    assert {k: s.title for k, s in by_video.items()} == {a.id: "One", b.id: "Bee"}
    assert titles() == [('"One"', 1), ('"Bee"', 1)]
    # An id that names no story of the video (another's) reads as the newest.
    session.execute(update(Video).where(Video.id == a.id).values(current_story_id=current.id[::-1]))
    assert titles() == [('"Three"', 3), ('"Bee"', 1)]


def test_a_story_round_trips_with_its_text(session: Session) -> None:
    batch = crud.create_batch(session, videos=[upload("a.mp4")], teller="local")
    story = a_story()
    crud.insert_story_version(
        session.connection(), video_id=batch.videos[0].id, story=story, teller="local", seed=1
    )
    session.commit()
    session.expunge_all()

    row = crud.current_story(session, video_id=batch.videos[0].id)
    assert row is not None
    assert row.to_story() == story
    # Told no sentences, it is served with its paragraphs split, standing on nothing.
    assert [(s.text, s.paragraph, s.sources) for s in row.linked_sentences()] == [
        (p, i, []) for i, p in enumerate(story.paragraphs)
    ]
    told = story.model_copy(update={"sentences": [
        story_model.Sentence(text=text, paragraph=i, sources=[
            story_model.Source(kind=story_model.SourceKind.SCENE, start_s=0.5, end_s=2.0)
        ])
        for i, text in enumerate(story.paragraphs)
    ]})  # fmt: skip
    crud.insert_story_version(
        session.connection(), video_id=batch.videos[0].id, story=told, teller="local", seed=2
    )
    newest = crud.current_story(session, video_id=batch.videos[0].id)
    assert newest is not None and newest.version == 2
    assert newest.to_story() == told
    assert newest.linked_sentences() == told.sentences
    assert row.text == story.text
    assert row.paragraphs == story.paragraphs


def test_the_same_version_cannot_be_stored_twice(session: Session) -> None:
    batch = crud.create_batch(session, videos=[upload("a.mp4")], teller="local")
    video_id = batch.videos[0].id
    crud.insert_story_version(
        session.connection(), video_id=video_id, story=a_story(), teller="local", seed=0
    )
    row = crud.current_story(session, video_id=video_id)
    assert row is not None
    session.add(Story(**{
        c: getattr(row, c) for c in (
            "video_id", "version", "teller", "seed", "title", "place", "region", "date",
            "paragraphs", "disclaimer", "text",
        )
    }))  # fmt: skip
    with pytest.raises(IntegrityError):
        session.flush()


def test_deleting_a_batch_deletes_its_videos_and_stories(session: Session) -> None:
    shared = upload("shared.mp4", content="5ca1ab1e")
    doomed = crud.create_batch(session, videos=[upload("own.mp4"), shared], teller="local")
    kept = crud.create_batch(
        session, videos=[upload("again.mp4", content="5ca1ab1e")], teller="local"
    )
    for video in doomed.videos + kept.videos:
        crud.insert_story_version(
            session.connection(), video_id=video.id, story=a_story(), teller="local", seed=0
        )
    record = crud.save_evidence(
        session, evidence=an_evidence(shared.content_hash), fingerprint="f1"
    )
    doomed.videos[1].evidence_id = record.id
    session.commit()
    own_path = doomed.videos[0].storage_path

    orphans = crud.delete_batch(session, batch_id=doomed.id)
    session.commit()

    assert orphans == [own_path]  # the shared file is still used by the other batch
    assert crud.get_batch(session, doomed.id) is None
    assert session.scalar(select(func.count()).select_from(Video)) == 1
    assert session.scalar(select(func.count()).select_from(Story)) == 1
    assert session.scalar(select(func.count()).select_from(EvidenceRecord)) == 1
    assert crud.delete_batch(session, batch_id=doomed.id) is None


def test_the_database_itself_cascades_a_batch_delete(engine: Engine, session: Session) -> None:
    batch = crud.create_batch(session, videos=[upload("a.mp4"), upload("b.mp4")], teller="local")
    crud.insert_story_version(
        session.connection(), video_id=batch.videos[0].id, story=a_story(), teller="x", seed=0
    )
    session.commit()

    with engine.begin() as connection:  # no ORM: only ON DELETE CASCADE can do it
        connection.execute(text("DELETE FROM batch"))
        assert connection.scalar(text("SELECT count(*) FROM video")) == 0
        assert connection.scalar(text("SELECT count(*) FROM story")) == 0


def test_a_video_must_belong_to_a_batch(session: Session) -> None:
    session.add(
        Video(
            batch_id="no-such-batch", position=0, original_name="a.mp4", size_bytes=1,
            content_hash="0" * 64, storage_path="00/0", teller="local",
        )
    )  # fmt: skip
    with pytest.raises(IntegrityError):
        session.flush()


def test_evidence_is_found_again_by_the_bytes_hash(session: Session) -> None:
    evidence = an_evidence()
    first = crud.save_evidence(session, evidence=evidence, fingerprint="f1")
    session.commit()
    session.expunge_all()

    found = crud.find_evidence(session, content_hash=evidence.content_hash, fingerprint="f1")
    assert found is not None and found.id == first.id
    assert found.to_evidence() == evidence  # JSON round trip, nested models and all
    assert found.to_evidence().transcript is not None
    assert crud.find_evidence(session, content_hash=evidence.content_hash, fingerprint="f2") is None
    assert crud.find_evidence(session, content_hash="cd" * 32, fingerprint="f1") is None

    changed = evidence.model_copy(update={"file_name": "again.webm"})
    again = crud.save_evidence(session, evidence=changed, fingerprint="f1")
    session.commit()
    assert again.id == first.id
    assert again.to_evidence().file_name == "again.webm"
    other_settings = crud.save_evidence(session, evidence=evidence, fingerprint="f2")
    assert other_settings.id != first.id
    assert session.scalar(select(func.count()).select_from(EvidenceRecord)) == 2


def test_a_video_points_at_its_evidence_until_the_evidence_goes(session: Session) -> None:
    batch = crud.create_batch(session, videos=[upload("a.mp4")], teller="local")
    record = crud.save_evidence(session, evidence=an_evidence(), fingerprint="f1")
    video = batch.videos[0]
    video.evidence_id = record.id
    session.commit()
    assert video.evidence is not None
    assert video.evidence.to_evidence().season.season == Season.NEUTRAL

    session.execute(text("DELETE FROM evidence"))
    session.commit()
    session.expire_all()
    assert session.get(Video, video.id).evidence_id is None  # type: ignore[union-attr]


def test_queue_columns_take_what_the_job_engine_writes(session: Session) -> None:
    batch = crud.create_batch(session, videos=[upload("a.mp4")], teller="local")
    video_id = batch.videos[0].id
    session.commit()
    now = datetime.now(UTC)
    session.execute(
        update(Video)
        .where(Video.id == video_id, Video.status == VideoStatus.PENDING)
        .values(
            status=VideoStatus.PROCESSING,
            claimed_by="host:1234",
            attempts=Video.attempts + 1,
            started_at=now,
            heartbeat_at=now,
            stage="speech",
            progress=0.5,
        )
    )
    session.commit()
    session.expire_all()
    video = session.get(Video, video_id)
    assert video is not None
    assert (video.status, video.claimed_by, video.attempts) == (
        VideoStatus.PROCESSING,
        "host:1234",
        1,
    )
    assert video.heartbeat_at is not None and abs(video.heartbeat_at - now) < timedelta(seconds=1)
    assert crud.video_counts(session)[VideoStatus.PROCESSING] == 1
    assert isinstance(session.get(Batch, batch.id), Batch)
