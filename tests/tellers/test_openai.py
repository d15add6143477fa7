"""The openai teller: the real openai client against a fake OpenAI-compatible server."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr

from storyteller.config import DEFAULT_DISCLAIMER, Settings
from storyteller.pipeline.cache import EvidenceCache
from storyteller.pipeline.evidence import Evidence, dateline_season
from storyteller.pipeline.run import gather_evidence
from storyteller.story.model import TITLE_MAX_CHARS
from storyteller.story.rules import StoryRules
from storyteller.story.season import Season, months_for
from storyteller.story.validator import validate
from storyteller.tellers.base import TellerError, tell
from storyteller.tellers.gate import RequestGate
from storyteller.tellers.openai_compat import OpenAITeller, spread
from storyteller.tellers.registry import get_teller
from storyteller.tellers.remote import RemoteTellerError, RetryPolicy, Usage, usage_of
from tests.fakes.openai import (
    API_KEY,
    GOOD_PARAGRAPHS,
    Answer,
    FakeOpenAI,
    story_json,
    strict_schema_problem,
)
from tests.media import Clip
from tests.tellers.linked import sourced_answer, sources_of
from tests.tellers.test_remote import snowy_evidence

RULES = StoryRules(
    earliest=date(2025, 3, 1), latest=date(2026, 2, 28), disclaimer=DEFAULT_DISCLAIMER
)
# Tiny so tests are quick; the server's own delays are what the tests check.
FAST = RetryPolicy(max_retries=3, base_s=0.005)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def openai_settings(settings: Settings, fake: FakeOpenAI) -> Settings:
    return settings.model_copy(
        update={
            "openai_api_key": SecretStr(API_KEY),
            "openai_base_url": fake.base_url,
            "openai_timeout_s": 5.0,
        }
    )


def teller(settings: Settings, **options: object) -> OpenAITeller:
    """A teller with its own gate, so tests do not share the process-wide limits."""
    gate = options.pop("gate", RequestGate(settings.openai_max_concurrency))
    return OpenAITeller(settings.model_copy(update=options), retry=FAST, gate=gate)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def snow(snow_clip: Clip, tmp_path_factory: pytest.TempPathFactory) -> tuple[Evidence, Path]:
    """What the pipeline finds in the snow clip, and the data folder holding its keyframes."""
    data_dir = tmp_path_factory.mktemp("data")
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    return gather_evidence(snow_clip.path, settings), data_dir


def snowy() -> Evidence:
    return snowy_evidence()


def meets_contract(story_text: str, evidence: Evidence) -> bool:
    return not validate(story_text, RULES, dateline_season(evidence.season))


# --- a story ---------------------------------------------------------------------------


def test_a_story_from_real_evidence_meets_the_contract(
    openai_settings: Settings, fake: FakeOpenAI, snow: tuple[Evidence, Path]
) -> None:
    evidence, data_dir = snow
    assert dateline_season(evidence.season) is Season.WINTER
    settings = openai_settings.model_copy(update={"data_dir": data_dir})
    story = tell(teller(settings), evidence, None, rules=RULES, seed=7)
    assert meets_contract(story.text, evidence)
    assert story.paragraphs == GOOD_PARAGRAPHS
    # What the fake counted (each keyframe as an image, the text, the answer) is kept.
    assert usage_of(story) == Usage(*fake.usage(), requests=1)
    assert fake.usage()[0] > len(fake.images()) * 765 > 0

    (request,) = fake.requests
    assert request["model"] == "gpt-4.1-mini"
    assert request["seed"] == 7
    response_format = request["response_format"]
    assert response_format["type"] == "json_schema"
    schema = response_format["json_schema"]["schema"]
    assert set(schema["required"]) == {
        "title", "place", "region", "date", "paragraphs", "sentences"
    }  # fmt: skip
    # Taken at once, strict: the fake refuses a schema with an object left open.
    assert strict_schema_problem(response_format) is None

    # One JPEG per shot, the very keyframes the pipeline stored.
    folder = EvidenceCache(settings).keyframe_dir(evidence.content_hash)
    images = fake.images()
    assert len(images) == len(evidence.scenes) == 2
    for url, scene in zip(images, evidence.scenes, strict=True):
        assert url.startswith("data:image/jpeg;base64,")
        assert scene.keyframe is not None
        assert base64.b64decode(url.split(",", 1)[1]) == (folder / scene.keyframe).read_bytes()
    (prompt,) = fake.prompts()
    assert evidence.transcript is not None
    assert evidence.transcript.segments[0].text.strip() in prompt
    assert "December, January or February" in prompt
    assert fake.auth_headers == [f"Bearer {API_KEY}"]


def test_a_missing_keyframe_is_skipped_and_the_count_is_limited(
    openai_settings: Settings, fake: FakeOpenAI
) -> None:
    evidence = snowy()
    for scene in evidence.scenes:
        scene.keyframe = f"scene-{scene.index:03d}.jpg"
    folder = EvidenceCache(openai_settings).keyframe_dir(evidence.content_hash)
    folder.mkdir(parents=True)
    (folder / "scene-001.jpg").write_bytes(b"\xff\xd8\xff\xe0 a jpeg")  # scene 0's is gone
    tell(teller(openai_settings), evidence, None, rules=RULES)
    (image,) = fake.images()
    assert base64.b64decode(image.split(",", 1)[1]) == b"\xff\xd8\xff\xe0 a jpeg"
    assert "Keyframe of shot 2" in fake.prompts()[0]

    tell(teller(openai_settings, openai_max_keyframes=0), evidence, None, rules=RULES)
    assert fake.images(1) == []


def test_keyframes_are_spread_over_the_shots() -> None:
    scenes = list(range(10))
    assert spread(scenes, 3) == [0, 4, 9]  # type: ignore[arg-type]
    assert spread(scenes, 1) == [5]  # type: ignore[arg-type]
    assert spread(scenes, 20) == scenes  # type: ignore[arg-type]
    assert spread(scenes, 0) == []  # type: ignore[arg-type]


def test_the_teller_is_registered_and_needs_a_key_only_for_openai(
    settings: Settings, openai_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(get_teller("openai", openai_settings), OpenAITeller)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(TellerError) as caught:
        get_teller("openai", settings)
    assert caught.value.reason.startswith("set OPENAI_API_KEY to use the openai teller")
    assert caught.value.code == "not_configured"
    monkeypatch.setenv("OPENAI_API_KEY", "from-the-environment")
    keyed = Settings(_env_file=None)  # type: ignore[call-arg]
    assert keyed.openai_api_key is not None
    assert keyed.openai_api_key.get_secret_value() == "from-the-environment"


def test_a_local_server_needs_no_key(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    local = FakeOpenAI(api_key=None).start()
    try:
        keyless = settings.model_copy(
            update={"openai_base_url": local.base_url, "openai_model": "llava:7b"}
        )
        story = tell(teller(keyless), snowy(), None, rules=RULES)
        assert meets_contract(story.text, snowy())
        assert [r["model"] for r in local.requests] == ["llava:7b"]
    finally:
        local.stop()


# --- retries ---------------------------------------------------------------------------


def test_rate_limits_are_retried_after_the_delay_the_server_asks(
    openai_settings: Settings, fake: FakeOpenAI
) -> None:
    fake.script(Answer.rate_limited("0.2"), Answer.rate_limited("0.2"))
    began = time.monotonic()
    story = tell(teller(openai_settings), snowy(), None, rules=RULES)
    assert time.monotonic() - began >= 0.4
    assert fake.calls["chat"] == 3
    assert meets_contract(story.text, snowy())
    assert usage_of(story) == Usage(*fake.usage(), 1)  # refused calls cost nothing
    assert len(fake.reported) == 1


def test_server_errors_are_retried_and_retry_after_is_honoured(
    openai_settings: Settings, fake: FakeOpenAI
) -> None:
    fake.script(Answer.internal(), Answer.unavailable(), Answer.unavailable(retry_after="0.2"))
    began = time.monotonic()
    tell(teller(openai_settings), snowy(), None, rules=RULES)
    assert time.monotonic() - began >= 0.2
    assert fake.calls["chat"] == 4


def test_retries_give_up_with_the_last_reason(openai_settings: Settings, fake: FakeOpenAI) -> None:
    fake.script(*[Answer.unavailable()] * 6)
    with pytest.raises(TellerError, match=r"OpenAI server error \(503\).*gave up after 4 tries"):
        tell(teller(openai_settings), snowy(), None, rules=RULES)
    assert fake.calls["chat"] == 4


def test_a_slow_answer_past_the_timeout_is_retried(
    openai_settings: Settings, fake: FakeOpenAI
) -> None:
    fake.script(Answer.slow(2.0))
    story = tell(teller(openai_settings, openai_timeout_s=0.4), snowy(), None, rules=RULES)
    assert fake.calls["chat"] == 2
    assert meets_contract(story.text, snowy())


def test_a_malformed_response_is_retried(openai_settings: Settings, fake: FakeOpenAI) -> None:
    fake.script(Answer.malformed())
    story = tell(teller(openai_settings), snowy(), None, rules=RULES)
    assert fake.calls["chat"] == 2
    assert usage_of(story) == Usage(*fake.usage(), 1)
    assert len(fake.reported) == 1


def test_a_rejected_key_is_not_retried(openai_settings: Settings, fake: FakeOpenAI) -> None:
    wrong = teller(openai_settings, openai_api_key=SecretStr("sk-wrong"))
    with pytest.raises(TellerError) as caught:
        tell(wrong, snowy(), None, rules=RULES)
    assert caught.value.reason.startswith("OpenAI API key rejected (401): Incorrect API key")
    assert caught.value.code == "auth"
    assert fake.calls["refused_key"] == 1


def test_an_unknown_model_is_named(openai_settings: Settings, fake: FakeOpenAI) -> None:
    fake.script(Answer.failure(404, "The model `gpt-9` does not exist.", code="model_not_found"))
    with pytest.raises(TellerError) as caught:
        tell(teller(openai_settings, openai_model="gpt-9"), snowy(), None, rules=RULES)
    assert caught.value.reason.startswith("OpenAI model 'gpt-9' not found (404)")
    assert "STORYTELLER_OPENAI_MODEL" in caught.value.reason
    assert fake.calls["chat"] == 1


# --- answers that are not stories ------------------------------------------------------


def test_a_refusal_fails_with_its_reason(openai_settings: Settings, fake: FakeOpenAI) -> None:
    fake.script(Answer.refused("I can't describe this video."))
    with pytest.raises(RemoteTellerError) as caught:
        tell(teller(openai_settings), snowy(), None, rules=RULES)
    assert caught.value.reason == "OpenAI (gpt-4.1-mini) refused: I can't describe this video."
    assert caught.value.code == "blocked"
    assert caught.value.usage == Usage(fake.usage()[0], 12, 1)
    assert fake.calls["chat"] == 1


def test_the_content_filter_fails_with_its_reason(
    openai_settings: Settings, fake: FakeOpenAI
) -> None:
    fake.script(Answer.filtered())
    with pytest.raises(RemoteTellerError) as caught:
        tell(teller(openai_settings), snowy(), None, rules=RULES)
    assert caught.value.reason == "OpenAI (gpt-4.1-mini) blocked the answer (content filter)"
    assert caught.value.code == "blocked"


def test_an_answer_cut_at_the_length_limit_is_not_a_story(
    openai_settings: Settings, fake: FakeOpenAI
) -> None:
    fake.script(Answer.cut_short())
    with pytest.raises(RemoteTellerError) as caught:
        tell(teller(openai_settings), snowy(), None, rules=RULES)
    assert "did not finish the story (finish reason length)" in caught.value.reason
    assert caught.value.code == "unfinished"


def test_a_story_breaking_the_contract_is_repaired(
    openai_settings: Settings, fake: FakeOpenAI
) -> None:
    long_title = "Heavy Snowfall Brings Traffic to a Standstill Across the Town"
    assert len(long_title) > TITLE_MAX_CHARS
    two = [f"{GOOD_PARAGRAPHS[0]} {GOOD_PARAGRAPHS[1]}", GOOD_PARAGRAPHS[2]]
    fake.script(Answer.story(title=long_title, when="2025-07-14", paragraphs=two))
    story = tell(teller(openai_settings), snowy(), None, rules=RULES)
    assert fake.calls["chat"] == 1
    assert meets_contract(story.text, snowy())
    assert len(story.title) <= TITLE_MAX_CHARS
    assert story.date.month in months_for(Season.WINTER)
    assert len(story.paragraphs) >= 3


def test_an_answer_beyond_repair_is_asked_again_with_the_findings(
    openai_settings: Settings, fake: FakeOpenAI
) -> None:
    fake.script(Answer.story(place="", region=""), Answer.story(text="Here is your story!"))
    story = tell(teller(openai_settings), snowy(), None, rules=RULES)
    assert fake.calls["chat"] == 3
    first, second, third = fake.prompts()
    assert "previous answer" not in first
    assert "Your previous answer broke the rules" in second and "City, Region" in second
    assert "not valid JSON" in third
    assert meets_contract(story.text, snowy())
    assert usage_of(story) == Usage(*fake.usage(), 3)
    assert len(fake.reported) == 3


# --- structured output where the server has it ------------------------------------------


def test_a_server_without_structured_output_is_asked_for_plain_json(
    openai_settings: Settings, fake: FakeOpenAI
) -> None:
    fake.formats = frozenset()
    shared = teller(openai_settings)
    story = tell(shared, snowy(), None, rules=RULES)
    assert meets_contract(story.text, snowy())
    assert fake.formats_asked() == ["json_schema", "json_object", "plain"]
    assert shared.response_format == "plain"
    system = fake.requests[-1]["messages"][0]
    assert system["role"] == "system" and '"paragraphs"' in system["content"]
    assert usage_of(story) == Usage(*fake.usage(), 1)  # the refusals cost nothing
    assert len(fake.reported) == 1

    # Remembered: the next video is asked the way that worked.
    tell(shared, snowy(), None, rules=RULES)
    assert fake.formats_asked()[3:] == ["plain"]


def test_json_schema_refused_falls_back_to_a_json_object(
    openai_settings: Settings, fake: FakeOpenAI
) -> None:
    fake.formats = frozenset({"json_object"})
    shared = teller(openai_settings)
    tell(shared, snowy(), None, rules=RULES)
    tell(shared, snowy(), None, rules=RULES)
    assert fake.formats_asked() == ["json_schema", "json_object", "json_object"]
    assert shared.response_format == "json_object"


def test_a_scripted_400_for_the_response_format_falls_back_once(
    openai_settings: Settings, fake: FakeOpenAI
) -> None:
    fake.script(Answer.format_refused("json_schema"))
    shared = teller(openai_settings)
    story = tell(shared, snowy(), None, rules=RULES)
    assert meets_contract(story.text, snowy())
    assert fake.formats_asked() == ["json_schema", "json_object"]


def test_another_bad_request_does_not_change_the_format(
    openai_settings: Settings, fake: FakeOpenAI
) -> None:
    fake.script(Answer.failure(400, "Invalid 'messages[0].content': too many images."))
    shared = teller(openai_settings)
    with pytest.raises(TellerError) as caught:
        tell(shared, snowy(), None, rules=RULES)
    assert caught.value.reason.startswith("OpenAI refused the request (400): Invalid")
    assert fake.calls["chat"] == 1
    assert shared.response_format == "json_schema"


# --- limits ----------------------------------------------------------------------------


def test_concurrent_stories_stay_within_the_provider_limit(
    openai_settings: Settings, fake: FakeOpenAI
) -> None:
    fake.default = Answer.slow(0.15)
    shared = teller(openai_settings, gate=RequestGate(2))
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
    openai_settings: Settings, fake: FakeOpenAI, snow: tuple[Evidence, Path]
) -> None:
    evidence, data_dir = snow
    sentences, kept = sourced_answer(evidence, GOOD_PARAGRAPHS)
    fake.script(Answer.story(sentences=sentences))
    story = tell(teller(openai_settings, data_dir=data_dir), evidence, None, rules=RULES, seed=1)
    assert [s.text for s in story.sentences] == GOOD_PARAGRAPHS
    assert sources_of(story) == kept
    # An answer that leaves the sentences out (as before they were asked for) still counts.
    old = {k: v for k, v in json.loads(story_json()).items() if k != "sentences"}
    fake.script(Answer.story(json.dumps(old)))
    story = tell(teller(openai_settings, data_dir=data_dir), evidence, None, rules=RULES, seed=1)
    assert [(s.text, s.sources) for s in story.sentences] == [(p, []) for p in GOOD_PARAGRAPHS]
