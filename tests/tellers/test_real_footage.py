"""The local teller on real footage (tests/assets/real): every story true to the clip's
written truth, for seeds 1, 2 and 3. Real clips, the real pipeline, no mocks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from storyteller.config import Settings
from storyteller.pipeline.evidence import Evidence
from storyteller.story.model import Story
from storyteller.story.rules import StoryRules
from tests.real_footage import evidence_of, score, stories_of, truths
from tests.tellers.linked import assert_exactly_sourced

TRUTHS = truths()


@pytest.fixture(scope="module")
def told(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Evidence, dict[int, Story]]]:
    """Evidence and the stories of seeds 1-3 for every real clip (about 20 s in all)."""
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("real-data")))
    rules = StoryRules.from_settings(settings)
    found = {}
    for name in TRUTHS:
        evidence = evidence_of(name, settings)
        found[name] = (evidence, stories_of(evidence, rules))
    return found


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> StoryRules:
    return StoryRules.from_settings(Settings(data_dir=Path(tmp_path_factory.mktemp("rules"))))


@pytest.mark.parametrize("name", sorted(TRUTHS))
def test_story_is_true_to_the_footage(
    name: str, told: dict[str, tuple[Evidence, dict[int, Story]]], rules: StoryRules
) -> None:
    truth = TRUTHS[name]
    evidence, stories = told[name]
    for seed, story in stories.items():
        scored = score(story, evidence, truth, rules)
        assert scored.contradictions == [], (seed, story.text)
        assert scored.valid, story.text
        if truth["has_speech"]:
            assert scored.quoted_speech, (seed, story.text)
        if truth["people"]:
            assert scored.mentions_people, (seed, story.text)
    assert (stories[1].place, stories[1].region) == (stories[2].place, stories[2].region)


def test_damaged_ac3_is_heard(told: dict[str, tuple[Evidence, dict[int, Story]]]) -> None:
    """Megamind.avi's first AC3 packet is damaged: the rest of its sound is still heard."""
    evidence, _ = told["megamind.avi"]
    assert evidence.media.audio_codec == "ac3"
    assert evidence.transcript is not None
    assert "judge" in evidence.transcript.text.lower()


def test_people_walking_through_a_fixed_shot_are_seen(
    told: dict[str, tuple[Evidence, dict[int, Story]]],
) -> None:
    evidence, _ = told["people_walking.mp4"]
    assert evidence.max_people >= 2
    assert evidence.max_faces == 0  # nobody faces the camera: only whole figures show them
    scene = evidence.scenes[0]
    assert scene.camera == "still"
    assert scene.people_moving is True


def test_title_card_is_read(told: dict[str, tuple[Evidence, dict[int, Story]]]) -> None:
    evidence, stories = told["title_card.mp4"]
    assert any("Caminandes" in line.text for line in evidence.on_screen_text)
    assert all("Caminandes" in story.text for story in stories.values())


@pytest.mark.parametrize("name", sorted(TRUTHS))
def test_every_sentence_stands_on_the_footage(
    name: str, told: dict[str, tuple[Evidence, dict[int, Story]]]
) -> None:
    evidence, stories = told[name]
    for story in stories.values():
        assert_exactly_sourced(story, evidence)


def test_the_trailers_quoted_line_links_to_where_it_is_said(
    told: dict[str, tuple[Evidence, dict[int, Story]]],
) -> None:
    evidence, stories = told["megamind_aac.mp4"]
    assert evidence.transcript is not None
    for story in stories.values():
        lede = story.sentences[0]
        quote = re.findall(r'"([^"]+)"', lede.text)[0].rstrip(".")
        (heard,) = [s for s in lede.sources if s.kind == "speech"]
        (segment,) = [
            s
            for s in evidence.transcript.segments
            if (s.start, s.end) == (heard.start_s, heard.end_s)
        ]
        assert quote in segment.text
