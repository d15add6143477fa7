"""What remote tellers share: the prompt, reading the answer, retries, usage."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from storyteller.config import DEFAULT_DISCLAIMER
from storyteller.pipeline.evidence import (
    Evidence,
    Look,
    MediaInfo,
    Scene,
    ScreenText,
    SeasonGuess,
    Segment,
    SpeechNote,
    Transcript,
)
from storyteller.story.model import Story
from storyteller.story.rules import StoryRules
from storyteller.story.season import Season
from storyteller.tellers.remote import (
    STORY_SCHEMA,
    AnswerError,
    Failure,
    RemoteStory,
    RemoteTellerError,
    RetryPolicy,
    Usage,
    failure_for_status,
    parse_answer,
    parse_duration,
    parse_retry_after,
    story_prompt,
    usage_of,
)

RULES = StoryRules(
    earliest=date(2025, 3, 1), latest=date(2026, 2, 28), disclaimer=DEFAULT_DISCLAIMER
)
SNOW = Look(brightness=0.78, saturation=0.08, colours=["white", "grey"], snow=0.62, indoor=0.1)


def snowy_evidence(**changes: object) -> Evidence:
    evidence = Evidence(
        content_hash="0" * 64,
        file_name="snow.webm",
        media=MediaInfo(
            container="webm",
            size_bytes=120_000,
            duration_s=4.0,
            header_duration_s=4.0,
            width=640,
            height=360,
            rotation=0,
            fps=25,
            frame_count=100,
            video_codec="vp9",
            audio_codec="opus",
        ),
        scenes=[
            Scene(index=0, start_s=0, end_s=2, keyframe_s=1, faces=1, look=SNOW),
            Scene(
                index=1,
                start_s=2,
                end_s=4,
                keyframe_s=3,
                look=SNOW,
                people=3,
                people_where="left",
                people_moving=True,
                camera="pan",
            ),
        ],
        transcript=Transcript(
            language="en",
            language_probability=0.98,
            model="tiny.en",
            segments=[Segment(start=0.3, end=2.6, text=" The road is covered in snow.")],
        ),
        on_screen_text=[
            ScreenText(
                text="ROAD CLOSED", confidence=0.91, first_seen_s=0.5, last_seen_s=1.9, frames=2
            )
        ],
        look=SNOW,
        season=SeasonGuess(season=Season.WINTER, confidence=0.85, reasons=["snow covers 62%"]),
    )
    return evidence.model_copy(update=changes)


# --- the prompt ----------------------------------------------------------------------


def test_the_prompt_carries_the_contract_and_the_evidence() -> None:
    prompt = story_prompt(snowy_evidence(), RULES)
    assert '[0.3-2.6 s] "The road is covered in snow."' in prompt
    assert '"ROAD CLOSED" (seen 0.5-1.9 s, read with confidence 0.91)' in prompt
    assert "shot 1: 0.0-2.0 s, 1 face" in prompt and "shot 2: 2.0-4.0 s" in prompt
    assert "Most faces seen at once: 1." in prompt
    assert "shot 2: 2.0-4.0 s, 3 people left, moving, camera pan" in prompt
    assert "Most people seen at once: 3." in prompt
    assert "state one from 0.6" in prompt
    assert "winter with confidence 0.85 (snow covers 62%)" in prompt
    assert "December, January or February" in prompt
    assert "from March 1, 2025 to February 28, 2026" in prompt
    assert "at most 45 characters" in prompt and "at least 3 body paragraphs" in prompt
    assert "Quote only words from the transcript" in prompt
    assert DEFAULT_DISCLAIMER in prompt
    assert "previous answer" not in prompt


def test_a_video_without_speech_says_so_and_leaves_months_free_when_unsure() -> None:
    evidence = snowy_evidence(
        transcript=None,
        speech_note=SpeechNote.NO_AUDIO,
        season=SeasonGuess(season=Season.WINTER, confidence=0.3),
    )
    prompt = story_prompt(evidence, RULES)
    assert "none: the video has no sound track. Quote nobody." in prompt
    assert "any month fits this video" in prompt


def test_a_second_ask_names_what_was_wrong() -> None:
    prompt = story_prompt(
        snowy_evidence(), RULES, problems=["the title is too long"], previous='{"title": "x"}'
    )
    assert "Your previous answer broke the rules:\n- the title is too long" in prompt
    assert '{"title": "x"}' in prompt


# --- the answer ----------------------------------------------------------------------


def test_an_answer_in_the_schema_becomes_a_story_with_our_disclaimer() -> None:
    answer = {
        "title": "Snow Closes the Road",
        "place": "Duluth",
        "region": "Minnesota",
        "date": "2026-01-14",
        "paragraphs": ["One.", "Two.", "Three."],
        "sentences": [
            {
                "text": "One.",
                "paragraph": 0,
                "sources": [{"kind": "scene", "startS": 0, "endS": 2}],
            },
            {"text": "Two.", "paragraph": 1, "sources": []},
            {"text": "Three.", "paragraph": 2, "sources": []},
        ],
    }
    assert set(STORY_SCHEMA["required"]) == set(answer)
    story = parse_answer(json.dumps(answer), RULES)
    assert story == Story(**answer, disclaimer=DEFAULT_DISCLAIMER)  # type: ignore[arg-type]
    assert story.sentences[0].sources[0].end_s == 2
    fenced = parse_answer(f"```json\n{json.dumps(answer)}\n```", RULES)
    assert fenced == story
    # An answer from before sentences were asked for is a story all the same.
    del answer["sentences"]
    assert parse_answer(json.dumps(answer), RULES).sentences == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"title": "Snow', "not valid JSON"),
        ('{"title": "Snow", "place": "Duluth"}', "region: Field required"),
        (
            '{"title": "a", "place": "b", "region": "c", "date": "2026-02-30", "paragraphs": []}',
            "date:",
        ),
    ],
)
def test_an_answer_not_in_the_schema_is_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(AnswerError) as caught:
        parse_answer(text, RULES)
    assert reason in caught.value.reason


def test_usage_adds_up_and_rides_on_the_story_without_entering_its_data() -> None:
    total = Usage(100, 20, 1) + Usage(50, 10, 1)
    assert total == Usage(tokens_in=150, tokens_out=30, requests=2)
    story = RemoteStory(
        title="t",
        place="p",
        region="r",
        date=date(2026, 1, 1),
        paragraphs=["a"],
        disclaimer="d",
        usage=total,
    )
    assert usage_of(story) == total
    assert "usage" not in story.model_dump()
    plain = Story(**story.model_dump())
    assert usage_of(plain) is None


# --- retries -------------------------------------------------------------------------


def test_server_delays_are_read() -> None:
    assert parse_duration("1s") == 1.0
    assert parse_duration("0.250s") == 0.25
    assert parse_duration("soon") is None
    assert parse_retry_after("3") == 3.0
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:05 GMT", now) == 5.0
    assert parse_retry_after("tomorrow") is None
    assert parse_retry_after(None) is None


def test_statuses_map_to_retry_or_a_clear_reason() -> None:
    forbidden = failure_for_status("Gemini", 403, "Permission denied")
    assert not forbidden.retry and forbidden.code == "auth"
    assert forbidden.reason.startswith("Gemini API key rejected (403)")
    assert not failure_for_status("Gemini", 401, "").retry
    assert not failure_for_status("Gemini", 400, "bad").retry
    for status in (429, 500, 503):
        assert failure_for_status("Gemini", status, "x", delay_s=2.0) == Failure(
            failure_for_status("Gemini", status, "x").reason, True, 2.0
        )


def test_backoff_is_full_jitter_under_a_doubling_cap_unless_the_server_says() -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=3.0)
    for retry in range(6):
        waits = [policy.backoff(retry) for _ in range(200)]
        assert min(waits) >= 0 and max(waits) <= min(3.0, 0.5 * 2**retry)
    assert max(policy.backoff(5) for _ in range(200)) > 1.5  # it spreads over the range
    asked = [policy.backoff(0, server_delay_s=2.0) for _ in range(50)]
    assert all(2.0 <= wait <= 2.2 for wait in asked)


class Flaky:
    """Fails with the given exceptions, then answers."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "answer"


class Status(Exception):
    def __init__(self, status: int, delay_s: float | None = None) -> None:
        self.status = status
        self.delay_s = delay_s


def classify(exc: Exception) -> Failure | None:
    if isinstance(exc, Status):
        return failure_for_status("Test", exc.status, "boom", delay_s=exc.delay_s)
    return None


def test_transient_failures_are_retried_after_the_delay_asked() -> None:
    waits: list[float] = []
    policy = RetryPolicy(max_retries=3, base_s=0.01, sleep=waits.append)
    call = Flaky(Status(429, delay_s=1.5), Status(503), Status(500))
    assert policy.run(call, classify) == "answer"
    assert call.calls == 4
    assert 1.5 <= waits[0] <= 1.51 and all(w <= 0.04 for w in waits[1:])


def test_a_rejected_key_is_not_retried() -> None:
    policy = RetryPolicy(max_retries=3, sleep=lambda _: None)
    call = Flaky(Status(403))
    with pytest.raises(RemoteTellerError) as caught:
        policy.run(call, classify)
    assert call.calls == 1
    assert caught.value.reason == "Test API key rejected (403): boom"
    assert caught.value.code == "auth"


def test_retries_end_with_the_last_reason() -> None:
    policy = RetryPolicy(max_retries=2, sleep=lambda _: None)
    call = Flaky(*[Status(503)] * 5)
    with pytest.raises(RemoteTellerError, match=r"server error \(503\).*gave up after 3 tries"):
        policy.run(call, classify)
    assert call.calls == 3


def test_a_server_asking_for_too_long_a_wait_fails_instead() -> None:
    policy = RetryPolicy(max_retries=2, max_server_delay_s=10, sleep=lambda _: None)
    with pytest.raises(RemoteTellerError, match="asks to wait 3600 s"):
        policy.run(Flaky(Status(429, delay_s=3600)), classify)


def test_unknown_exceptions_pass_through() -> None:
    policy = RetryPolicy(sleep=lambda _: None)
    with pytest.raises(KeyError):
        policy.run(Flaky(KeyError("x")), classify)
