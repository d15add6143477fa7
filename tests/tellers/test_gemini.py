"""The gemini teller: the real google-genai client against a fake Gemini server."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr

from storyteller.config import DEFAULT_DISCLAIMER, Settings
from storyteller.pipeline.evidence import Evidence, dateline_season
from storyteller.pipeline.run import gather_evidence
from storyteller.story.model import TITLE_MAX_CHARS
from storyteller.story.rules import StoryRules
from storyteller.story.season import Season, months_for
from storyteller.story.validator import validate
from storyteller.tellers.base import TellerError, tell
from storyteller.tellers.gate import RequestGate
from storyteller.tellers.gemini import GeminiTeller
from storyteller.tellers.registry import get_teller
from storyteller.tellers.remote import RemoteTellerError, RetryPolicy, Usage, usage_of
from tests.fakes.gemini import API_KEY, GOOD_PARAGRAPHS, Answer, FakeGemini, wire
from tests.media import Clip
from tests.tellers.linked import sourced_answer, sources_of
from tests.tellers.test_remote import snowy_evidence

RULES = StoryRules(
    earliest=date(2025, 3, 1), latest=date(2026, 2, 28), disclaimer=DEFAULT_DISCLAIMER
)
# Tiny so tests are quick; the server's own delays are what the tests check.
FAST = RetryPolicy(max_retries=3, base_s=0.005)


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    server = FakeGemini(processing_polls=2).start()
    yield server
    server.stop()


@pytest.fixture
def gemini_settings(settings: Settings, fake: FakeGemini) -> Settings:
    return settings.model_copy(
        update={
            "gemini_api_key": SecretStr(API_KEY),
            "gemini_base_url": fake.base_url,
            "gemini_timeout_s": 5.0,
        }
    )


def teller(settings: Settings, **options: object) -> GeminiTeller:
    """A teller with its own gate, so tests do not share the process-wide limits."""
    gate = options.pop("gate", RequestGate(settings.gemini_max_concurrency))
    return GeminiTeller(
        settings.model_copy(update=options),
        retry=FAST,
        gate=gate,  # type: ignore[arg-type]
        file_poll_s=0.01,
    )


@pytest.fixture(scope="module")
def snow(snow_clip: Clip, tmp_path_factory: pytest.TempPathFactory) -> tuple[Evidence, Path]:
    """What the pipeline finds in the snow clip, and the clip."""
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("data"))  # type: ignore[call-arg]
    return gather_evidence(snow_clip.path, settings), snow_clip.path


def meets_contract(story_text: str, evidence: Evidence) -> bool:
    return not validate(story_text, RULES, dateline_season(evidence.season))


# --- a story ---------------------------------------------------------------------------


def test_a_story_from_real_evidence_meets_the_contract(
    gemini_settings: Settings, fake: FakeGemini, snow: tuple[Evidence, Path]
) -> None:
    evidence, video = snow
    assert dateline_season(evidence.season) is Season.WINTER
    story = tell(teller(gemini_settings), evidence, video, rules=RULES, seed=7)
    assert meets_contract(story.text, evidence)
    assert story.paragraphs == GOOD_PARAGRAPHS
    # What the fake counted (the video's frames and sound, the prompt, the answer) is kept.
    assert usage_of(story) == Usage(*fake.usage(), requests=1)
    assert fake.usage()[0] > 4 * 66 + 4 * 32  # 4 s at 1 fps, low resolution, with sound

    (request,) = fake.requests
    video_part, text_part = request["contents"][0]["parts"]
    assert wire(video_part["inlineData"], "mimeType") == "video/webm"
    assert base64.urlsafe_b64decode(video_part["inlineData"]["data"]) == video.read_bytes()
    assert video_part["videoMetadata"] == {"fps": 1.0}
    config = request["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert set(config["responseSchema"]["required"]) == {
        "title",
        "place",
        "region",
        "date",
        "paragraphs",
        "sentences",
    }
    # Each sentence is asked for with the moments it stands on, as Gemini's schema writes it.
    source = config["responseSchema"]["properties"]["sentences"]["items"]["properties"]["sources"]
    assert source["items"]["properties"]["kind"]["enum"] == ["speech", "text", "scene"]
    assert config["mediaResolution"] == "MEDIA_RESOLUTION_LOW"
    assert config["seed"] == 7
    prompt = text_part["text"]
    assert evidence.transcript is not None
    assert evidence.transcript.segments[0].text.strip() in prompt
    assert "December, January or February" in prompt


def test_the_teller_is_registered_and_needs_a_key(
    settings: Settings, gemini_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(get_teller("gemini", gemini_settings), GeminiTeller)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    with pytest.raises(TellerError) as caught:
        get_teller("gemini", settings)
    assert caught.value.reason == "set GEMINI_API_KEY to use the gemini teller"
    assert caught.value.code == "not_configured"
    monkeypatch.setenv("GEMINI_API_KEY", "from-the-environment")
    keyed = Settings(_env_file=None)  # type: ignore[call-arg]
    assert keyed.gemini_api_key is not None
    assert keyed.gemini_api_key.get_secret_value() == "from-the-environment"


def test_the_model_comes_from_the_setting(gemini_settings: Settings, fake: FakeGemini) -> None:
    story = tell(
        teller(gemini_settings, gemini_model="gemini-test-model"), snowy(), None, rules=RULES
    )
    assert story.title
    assert fake.model_paths == ["gemini-test-model"]


# --- retries ---------------------------------------------------------------------------


def snowy() -> Evidence:
    return snowy_evidence()


def test_rate_limits_are_retried_after_the_delay_the_server_asks(
    gemini_settings: Settings, fake: FakeGemini
) -> None:
    fake.script(Answer.rate_limited("0.2s"), Answer.rate_limited("0.2s"))
    began = time.monotonic()
    story = tell(teller(gemini_settings), snowy(), None, rules=RULES)
    assert time.monotonic() - began >= 0.4
    assert fake.calls["generate"] == 3
    assert meets_contract(story.text, snowy())
    assert usage_of(story) == Usage(*fake.usage(), 1)  # refused calls cost nothing
    assert len(fake.reported) == 1


def test_server_errors_are_retried_and_retry_after_is_honoured(
    gemini_settings: Settings, fake: FakeGemini
) -> None:
    fake.script(
        Answer.unavailable(),
        Answer.internal(),
        Answer.error(503, "UNAVAILABLE", retry_after="0.2"),
    )
    began = time.monotonic()
    tell(teller(gemini_settings), snowy(), None, rules=RULES)
    assert time.monotonic() - began >= 0.2
    assert fake.calls["generate"] == 4


def test_retries_give_up_with_the_last_reason(gemini_settings: Settings, fake: FakeGemini) -> None:
    fake.script(*[Answer.unavailable()] * 6)
    with pytest.raises(TellerError, match=r"Gemini server error \(503\).*gave up after 4 tries"):
        tell(teller(gemini_settings), snowy(), None, rules=RULES)
    assert fake.calls["generate"] == 4


def test_a_slow_answer_past_the_timeout_is_retried(
    gemini_settings: Settings, fake: FakeGemini
) -> None:
    fake.script(Answer.slow(2.0))
    story = tell(teller(gemini_settings, gemini_timeout_s=0.4), snowy(), None, rules=RULES)
    assert fake.calls["generate"] == 2
    assert meets_contract(story.text, snowy())


def test_a_malformed_response_is_retried(gemini_settings: Settings, fake: FakeGemini) -> None:
    fake.script(Answer.malformed())
    tell(teller(gemini_settings), snowy(), None, rules=RULES)
    assert fake.calls["generate"] == 2


def test_a_rejected_key_is_not_retried(gemini_settings: Settings, fake: FakeGemini) -> None:
    fake.script(Answer.forbidden())
    with pytest.raises(TellerError) as caught:
        tell(teller(gemini_settings), snowy(), None, rules=RULES)
    assert caught.value.reason.startswith("Gemini API key rejected (403)")
    assert caught.value.code == "auth"
    assert fake.calls["generate"] == 1


def test_a_wrong_key_is_named_as_such(gemini_settings: Settings, fake: FakeGemini) -> None:
    with pytest.raises(TellerError) as caught:
        tell(teller(gemini_settings, gemini_api_key=SecretStr("wrong")), snowy(), None, rules=RULES)
    assert caught.value.reason.startswith("Gemini API key rejected (400): API key not valid")
    assert fake.calls["generate"] == 0  # refused at the door


# --- answers that are not stories ------------------------------------------------------


def test_a_safety_block_fails_with_its_reason(gemini_settings: Settings, fake: FakeGemini) -> None:
    fake.script(Answer.blocked("SAFETY"))
    with pytest.raises(RemoteTellerError) as caught:
        tell(teller(gemini_settings), snowy(), None, rules=RULES)
    assert caught.value.reason == "Gemini blocked the request (SAFETY)"
    assert caught.value.code == "blocked"
    assert caught.value.usage == Usage(fake.usage()[0], 0, 1)
    assert fake.calls["generate"] == 1


def test_an_unfinished_answer_is_not_a_story(gemini_settings: Settings, fake: FakeGemini) -> None:
    fake.script(Answer.unfinished("MAX_TOKENS"))
    with pytest.raises(
        RemoteTellerError, match=r"did not finish the story \(finish reason MAX_TOKENS\)"
    ):
        tell(teller(gemini_settings), snowy(), None, rules=RULES)


def test_a_story_breaking_the_contract_is_repaired(
    gemini_settings: Settings, fake: FakeGemini
) -> None:
    long_title = "Heavy Snowfall Brings Traffic to a Standstill Across the Town"
    assert len(long_title) > 55
    two = [f"{GOOD_PARAGRAPHS[0]} {GOOD_PARAGRAPHS[1]}", GOOD_PARAGRAPHS[2]]
    fake.script(Answer.story(title=long_title, when="2025-07-14", paragraphs=two))
    story = tell(teller(gemini_settings), snowy(), None, rules=RULES)
    assert fake.calls["generate"] == 1
    assert meets_contract(story.text, snowy())
    assert len(story.title) <= TITLE_MAX_CHARS
    assert story.date.month in months_for(Season.WINTER)
    assert len(story.paragraphs) >= 3


def test_an_answer_beyond_repair_is_asked_again_with_the_findings(
    gemini_settings: Settings, fake: FakeGemini
) -> None:
    fake.script(Answer.story(place="", region=""), Answer.story(text="Here is your story!"))
    story = tell(teller(gemini_settings), snowy(), None, rules=RULES)
    assert fake.calls["generate"] == 3
    first, second, third = fake.prompts()
    assert "previous answer" not in first
    assert "Your previous answer broke the rules" in second and "City, Region" in second
    assert "not valid JSON" in third
    assert meets_contract(story.text, snowy())
    assert usage_of(story) == Usage(*fake.usage(), 3)


def test_after_two_more_asks_the_video_fails_with_the_findings(
    gemini_settings: Settings, fake: FakeGemini
) -> None:
    fake.script(*[Answer.story(place="", region="")] * 3)
    with pytest.raises(RemoteTellerError) as caught:
        tell(teller(gemini_settings), snowy(), None, rules=RULES)
    assert caught.value.code == "story_invalid"
    assert "broke the story contract 3 times" in caught.value.reason
    assert caught.value.usage == Usage(*fake.usage(), 3)
    assert fake.calls["generate"] == 3


# --- the Files API ---------------------------------------------------------------------


def big_video(tmp_path: Path, megabytes: float) -> Path:
    path = tmp_path / "big.mp4"
    path.write_bytes(bytes(range(256)) * int(megabytes * 1_000_000 / 256))
    return path


def test_a_large_video_goes_through_the_files_api_and_is_deleted(
    gemini_settings: Settings, fake: FakeGemini, tmp_path: Path
) -> None:
    video = big_video(tmp_path, 9)  # two 8 MiB chunks
    story = tell(teller(gemini_settings, gemini_inline_max_mb=5), snowy(), video, rules=RULES)
    assert meets_contract(story.text, snowy())
    assert fake.calls["upload_start"] == 1
    assert fake.calls["upload_chunk"] == 2
    assert fake.calls["files_get"] >= 2  # PROCESSING, then ACTIVE
    assert fake.used_before_active == 0
    (request,) = fake.requests
    file_part = request["contents"][0]["parts"][0]
    assert wire(file_part["fileData"], "fileUri").endswith("/files/fake0001")
    assert wire(file_part["fileData"], "mimeType") == "video/webm"
    assert fake.calls["files_delete"] == 1
    assert fake.files_left() == []


def test_the_uploaded_file_is_deleted_when_the_story_fails(
    gemini_settings: Settings, fake: FakeGemini, tmp_path: Path
) -> None:
    fake.script(Answer.blocked())
    video = big_video(tmp_path, 1)
    with pytest.raises(TellerError, match="blocked"):
        tell(teller(gemini_settings, gemini_inline_max_mb=0.5), snowy(), video, rules=RULES)
    assert fake.files_left() == []


def test_a_file_that_never_becomes_active_fails_in_time(
    gemini_settings: Settings, fake: FakeGemini, tmp_path: Path
) -> None:
    fake.processing_polls = 10_000
    video = big_video(tmp_path, 1)
    slow = teller(gemini_settings, gemini_inline_max_mb=0.5, gemini_timeout_s=0.3)
    with pytest.raises(TellerError) as caught:
        tell(slow, snowy(), video, rules=RULES)
    assert caught.value.code == "upload_timeout"
    assert fake.calls["generate"] == 0
    assert fake.files_left() == []


# --- limits ----------------------------------------------------------------------------


def test_concurrent_stories_stay_within_the_provider_limit(
    gemini_settings: Settings, fake: FakeGemini
) -> None:
    fake.default = Answer.slow(0.15)
    shared = teller(gemini_settings, gate=RequestGate(2))
    stories: list[object] = []

    def one() -> None:
        stories.append(tell(shared, snowy(), None, rules=RULES))

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(stories) == 6
    assert fake.max_in_flight == 2


def test_sentence_sources_are_kept_when_true_and_dropped_when_invented(
    gemini_settings: Settings, fake: FakeGemini, snow: tuple[Evidence, Path]
) -> None:
    evidence, video = snow
    sentences, kept = sourced_answer(evidence, GOOD_PARAGRAPHS)
    fake.script(Answer.story(sentences=sentences))
    story = tell(teller(gemini_settings), evidence, video, rules=RULES, seed=1)
    assert [s.text for s in story.sentences] == GOOD_PARAGRAPHS
    assert sources_of(story) == kept


def test_sentences_that_do_not_give_the_paragraphs_back_are_split_again(
    gemini_settings: Settings, fake: FakeGemini, snow: tuple[Evidence, Path]
) -> None:
    evidence, video = snow
    sentences, _ = sourced_answer(evidence, ["Something else was said.", "And more.", "Then."])
    fake.script(Answer.story(sentences=sentences))
    story = tell(teller(gemini_settings), evidence, video, rules=RULES, seed=1)
    assert story.paragraphs == GOOD_PARAGRAPHS
    assert [(s.text, s.paragraph, s.sources) for s in story.sentences] == [
        (text, index, []) for index, text in enumerate(GOOD_PARAGRAPHS)
    ]
