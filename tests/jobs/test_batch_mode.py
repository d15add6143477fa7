"""Gemini Batch Mode with the real engine, real worker processes and real clips, against the
fake Gemini server: `low` priority videos go as one Batch Mode job and complete at the Batch
Mode price, failed answers go again, other priorities ask at once, a cancel drops the
request and its uploaded file, and a restarted server goes on polling."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from storyteller.config import Settings
from storyteller.db import crud
from storyteller.db.models import GeminiBatchItem, Priority, Video, VideoStatus
from storyteller.jobs.actions import UserActions
from storyteller.jobs.batch_mode.coordinator import later_hook
from storyteller.jobs.engine import EmbeddedEngine
from storyteller.jobs.queue import JobQueue
from storyteller.storage.uploads import UploadStore
from storyteller.tellers.pricing import price_of
from tests.fakes.gemini import API_KEY, Answer, FakeGemini
from tests.jobs.conftest import fresh
from tests.media import Clip

pytestmark = pytest.mark.timeout(180)

MODEL = "gemini-2.5-flash"


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    server = FakeGemini().start()
    server.batch_mode.pending_polls = 2
    server.batch_mode.running_polls = 2
    yield server
    server.stop()


@pytest.fixture
def batch_settings(settings: Settings, fake: FakeGemini) -> Settings:
    return settings.model_copy(
        update={
            "gemini_api_key": SecretStr(API_KEY),
            "gemini_base_url": fake.base_url,
            "gemini_timeout_s": 10.0,
            "gemini_model": MODEL,
            "gemini_batch_mode": True,
            "gemini_batch_size": 3,
            "gemini_batch_gather_s": 60.0,
            "gemini_batch_poll_s": 0.1,
        }
    )


AddVideos = Callable[..., list[str]]


@pytest.fixture
def add_videos(batch_settings: Settings, session: Session, snow_clip: Clip) -> AddVideos:
    """add_videos(3, priority="low"): a batch of copies of the snow clip for the gemini
    teller, stored as uploads; their ids."""
    store = UploadStore.from_settings(batch_settings)

    def add(count: int, *, priority: str = "low", max_attempts: int = 3) -> list[str]:
        with snow_clip.path.open("rb") as source:
            stored = store.save_file(source, original_name="snow.webm", max_bytes=10**9)
        videos = [
            crud.VideoCreate(
                original_name=f"snow-{i}.webm",
                size_bytes=stored.size,
                content_hash=stored.sha256,
                storage_path=stored.key,
                seed=i,
            )
            for i in range(count)
        ]
        batch = crud.create_batch(
            session,
            videos=videos,
            teller="gemini",
            priority=Priority(priority),
            max_attempts=max_attempts,
        )
        session.commit()
        return [video.id for video in batch.videos]

    return add


StartEngine = Callable[..., EmbeddedEngine]


@pytest.fixture
def start_engine(
    batch_settings: Settings, engine: Engine, queue: JobQueue
) -> Iterator[StartEngine]:
    started: list[EmbeddedEngine] = []

    def start(**overrides: object) -> EmbeddedEngine:
        chosen = batch_settings.model_copy(update=overrides)
        job_engine = EmbeddedEngine(
            chosen, engine, concurrency=2, queue=queue, later=later_hook(chosen, engine, queue)
        )
        job_engine.start()
        started.append(job_engine)
        return job_engine

    yield start
    for job_engine in started:
        job_engine.stop(grace_s=0)


def wait_for(condition: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.05)


def ended(session: Session, ids: list[str]) -> Callable[[], bool]:
    return lambda: all(fresh(session, video_id).status.ended for video_id in ids)


def items_left(session: Session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(GeminiBatchItem)) or 0


def in_batch_stage(session: Session, video_id: str) -> bool:
    video = fresh(session, video_id)
    return video.status == VideoStatus.PROCESSING and video.stage == "batch"


# --- the tests -------------------------------------------------------------------------


def test_low_priority_videos_go_as_one_batch_job_and_complete_at_the_batch_price(
    start_engine: StartEngine, add_videos: AddVideos, session: Session, fake: FakeGemini
) -> None:
    ids = add_videos(3)
    job_engine = start_engine()
    wait_for(lambda: in_batch_stage(session, ids[0]))
    wait_for(ended(session, ids))

    assert [fresh(session, video_id).status for video_id in ids] == [VideoStatus.COMPLETED] * 3
    assert fake.batch_mode.sizes() == [3]
    assert fake.calls["generate"] == 0
    assert fake.calls["batch_get"] >= 5  # PENDING twice, RUNNING twice, then SUCCEEDED

    # Each request is the gemini teller's own: the video inline, the prompt with the
    # evidence, the story schema; the seed of its video.
    requests = fake.batch_mode.requests()
    assert {r["generationConfig"]["seed"] for r in requests} == {0, 1, 2}
    for request in requests:
        video_part, text_part = request["contents"][0]["parts"]
        assert "inlineData" in video_part or "inline_data" in video_part
        assert "December, January or February" in text_part["text"]
        assert request["generationConfig"]["responseMimeType"] == "application/json"

    stories = crud.current_stories(session, video_ids=ids)
    batch_price = price_of(job_engine.settings, "gemini", MODEL, batch=True)
    normal_price = price_of(job_engine.settings, "gemini", MODEL)
    assert batch_price is not None and normal_price is not None
    assert batch_price.tokens_in == normal_price.tokens_in / 2
    for story in stories.values():
        assert story.teller == "gemini" and story.model == MODEL
        assert story.tokens_in and story.tokens_out
        assert story.cost_usd == pytest.approx(batch_price.cost(story.tokens_in, story.tokens_out))
        assert "Snow" in story.title
        # Kept with the answer's sentences, one a paragraph here, as any teller's story is.
        assert [s["text"] for s in story.sentences or []] == list(story.paragraphs)
    reported_in, reported_out = fake.usage()
    assert sum(s.tokens_in or 0 for s in stories.values()) == reported_in
    assert sum(s.tokens_out or 0 for s in stories.values()) == reported_out
    assert items_left(session) == 0
    assert fake.files_left() == []


def test_a_failed_answer_goes_again_in_a_later_job_then_completes(
    start_engine: StartEngine, add_videos: AddVideos, session: Session, fake: FakeGemini
) -> None:
    ids = add_videos(3)
    # The second answer is an error, the third not JSON: both go again, the third asked
    # again with what was wrong with its answer.
    fake.batch_mode.script_answers(Answer.story(), Answer.internal(), Answer.story(text="oops"))
    start_engine()
    wait_for(ended(session, ids))

    videos = [fresh(session, video_id) for video_id in ids]
    assert [v.status for v in videos] == [VideoStatus.COMPLETED] * 3
    assert sorted(v.attempts for v in videos) == [1, 2, 2]
    assert fake.batch_mode.sizes() == [3, 2]
    again = fake.batch_mode.requests()[3:]
    prompts = [r["contents"][0]["parts"][1]["text"] for r in again]
    assert sum("Your previous answer broke the rules" in p for p in prompts) == 1
    assert sum("not valid JSON" in p for p in prompts) == 1
    # Tokens of the answer that broke the contract are part of its story's cost.
    stories = crud.current_stories(session, video_ids=ids)
    assert sum(s.tokens_in or 0 for s in stories.values()) == fake.usage()[0]
    assert items_left(session) == 0


def test_a_failed_batch_job_sends_its_requests_again(
    start_engine: StartEngine, add_videos: AddVideos, session: Session, fake: FakeGemini
) -> None:
    ids = add_videos(2)
    fake.batch_mode.script_outcomes("EXPIRED")
    start_engine(gemini_batch_size=2)
    wait_for(ended(session, ids))
    assert [fresh(session, v).status for v in ids] == [VideoStatus.COMPLETED] * 2
    assert fake.batch_mode.sizes() == [2, 2]


def test_a_video_fails_with_the_reason_once_out_of_attempts(
    start_engine: StartEngine, add_videos: AddVideos, session: Session, fake: FakeGemini
) -> None:
    [video_id] = add_videos(1, max_attempts=2)
    fake.batch_mode.script_answers(Answer.unavailable(), Answer.unavailable())
    start_engine(gemini_batch_size=1)
    wait_for(ended(session, [video_id]))
    video = fresh(session, video_id)
    assert video.status == VideoStatus.FAILED
    assert video.attempts == 2
    assert video.error == "Gemini Batch Mode could not answer it (14): The model is overloaded. "\
        "Please try again later. (tried 2 times)"  # fmt: skip
    assert fake.batch_mode.sizes() == [1, 1]
    assert items_left(session) == 0


def test_other_priorities_ask_at_once_beside_batch_mode(
    start_engine: StartEngine, add_videos: AddVideos, session: Session, fake: FakeGemini
) -> None:
    [normal] = add_videos(1, priority="normal")
    [low] = add_videos(1, priority="low")
    job_engine = start_engine(gemini_batch_gather_s=1.0)
    wait_for(ended(session, [normal]))
    assert fresh(session, normal).status == VideoStatus.COMPLETED
    wait_for(ended(session, [low]))
    assert fresh(session, low).status == VideoStatus.COMPLETED
    assert fake.calls["generate"] == 1
    assert fake.batch_mode.sizes() == [1]
    stories = crud.current_stories(session, video_ids=[normal, low])
    settings = job_engine.settings
    for video_id, batch in ((normal, False), (low, True)):
        story = stories[video_id]
        price = price_of(settings, "gemini", MODEL, batch=batch)
        assert price is not None and story.tokens_in and story.tokens_out
        assert story.cost_usd == pytest.approx(price.cost(story.tokens_in, story.tokens_out))


def test_a_cancel_drops_the_request_and_its_uploaded_video(
    actions: UserActions,
    start_engine: StartEngine,
    add_videos: AddVideos,
    session: Session,
    fake: FakeGemini,
    queue: JobQueue,
) -> None:
    [video_id] = add_videos(1)
    start_engine(gemini_inline_max_mb=0.0)  # through the Files API
    wait_for(lambda: in_batch_stage(session, video_id))
    assert len(fake.files_left()) == 1
    assert items_left(session) == 1
    actions.cancel_video(video_id)
    wait_for(lambda: fake.files_left() == [] and items_left(session) == 0, timeout=10)
    assert fresh(session, video_id).status == VideoStatus.CANCELLED
    assert fake.calls["batch_create"] == 0


def test_a_large_video_goes_through_the_files_api_and_is_deleted_after(
    start_engine: StartEngine, add_videos: AddVideos, session: Session, fake: FakeGemini
) -> None:
    ids = add_videos(2)
    start_engine(gemini_inline_max_mb=0.0, gemini_batch_size=2)
    wait_for(ended(session, ids))
    assert [fresh(session, v).status for v in ids] == [VideoStatus.COMPLETED] * 2
    for request in fake.batch_mode.requests():
        video_part = request["contents"][0]["parts"][0]
        assert "fileData" in video_part or "file_data" in video_part
    assert fake.calls["upload_start"] == 2
    assert fake.files_left() == []


def test_a_restarted_server_goes_on_polling_the_jobs_it_sent(
    start_engine: StartEngine,
    add_videos: AddVideos,
    session: Session,
    fake: FakeGemini,
    batch_settings: Settings,
) -> None:
    ids = add_videos(2)
    fake.batch_mode.pending_polls = 10**6  # never done while the first server runs
    first = start_engine(gemini_batch_size=2)
    wait_for(lambda: fake.calls["batch_create"] == 1)
    first.stop(grace_s=0)
    assert all(in_batch_stage(session, v) for v in ids)

    fake.batch_mode.pending_polls = 0
    start_engine(gemini_batch_size=2)
    wait_for(ended(session, ids))
    videos = [fresh(session, v) for v in ids]
    assert [v.status for v in videos] == [VideoStatus.COMPLETED] * 2
    assert [v.attempts for v in videos] == [1, 1]  # not requeued as stalled
    assert fake.calls["batch_create"] == 1
    assert session.scalar(select(func.count()).select_from(Video)) == 2
