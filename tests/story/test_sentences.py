"""A story's sentences: they always give its paragraphs back, and keep their sources
through the repair step."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from storyteller.config import DEFAULT_DISCLAIMER
from storyteller.story.model import Sentence, Source, SourceKind, Story
from storyteller.story.repair import repair
from storyteller.story.rules import StoryRules
from storyteller.story.sentences import rebuilds, settle, split

RULES = StoryRules(
    earliest=date(2025, 3, 1), latest=date(2026, 2, 28), disclaimer=DEFAULT_DISCLAIMER
)
SHOT = Source(kind=SourceKind.SCENE, start_s=0.0, end_s=2.0)
SAID = Source(kind=SourceKind.SPEECH, start_s=0.3, end_s=2.6)


def draft(paragraphs: list[str], sentences: list[Sentence]) -> Story:
    return Story(
        title="Snow on the Road", place="Duluth", region="Minnesota", date=date(2026, 1, 14),
        paragraphs=paragraphs, disclaimer="", sentences=sentences,
    )  # fmt: skip


def test_split_sentences_give_the_paragraphs_back() -> None:
    paragraphs = ["Mr. Lee waved. The road was closed!", 'A voice says: "Go home." Then it ends.']
    found = split(paragraphs)
    assert [s.text for s in found] == [
        "Mr. Lee waved.", "The road was closed!", 'A voice says: "Go home."', "Then it ends.",
    ]  # fmt: skip
    assert [s.paragraph for s in found] == [0, 0, 1, 1]
    assert rebuilds(paragraphs, found)
    assert not rebuilds(paragraphs, found[:-1])
    assert not rebuilds(paragraphs, [*found[2:], *found[:2]])  # out of order


def test_sentences_keep_their_sources_when_markdown_is_stripped() -> None:
    told = [
        Sentence(text="**Snow** covers the road.", paragraph=0, sources=[SHOT]),
        Sentence(text="It keeps falling.", paragraph=0, sources=[]),
        Sentence(text='A voice says "the road is covered".', paragraph=1, sources=[SAID]),
        Sentence(text="Crews are on their way.", paragraph=2, sources=[SHOT]),
    ]
    paragraphs = [
        "**Snow** covers the road. It keeps falling.",
        'A voice says "the road is covered".',
        "Crews are on their way.",
    ]
    story = repair(draft(paragraphs, told), RULES)
    assert story.paragraphs[0] == "Snow covers the road. It keeps falling."
    assert [(s.text, s.paragraph, s.sources) for s in story.sentences] == [
        ("Snow covers the road.", 0, [SHOT]),
        ("It keeps falling.", 0, []),
        ('A voice says "the road is covered".', 1, [SAID]),
        ("Crews are on their way.", 2, [SHOT]),
    ]


def test_sentences_keep_their_sources_when_a_paragraph_is_split_in_two() -> None:
    told = [
        Sentence(text="Snow covers the road.", paragraph=0, sources=[SHOT]),
        Sentence(text="Drivers slow down.", paragraph=0, sources=[]),
        Sentence(text="A voice says the road is covered.", paragraph=1, sources=[SAID]),
    ]
    paragraphs = ["Snow covers the road. Drivers slow down.", "A voice says the road is covered."]
    story = repair(draft(paragraphs, told), RULES)
    assert len(story.paragraphs) == 3
    assert rebuilds(story.paragraphs, story.sentences)
    assert [s.sources for s in story.sentences] == [[SHOT], [], [SAID]]


paragraph_text = st.lists(
    st.sampled_from(["Snow fell.", "Mr. Lee waved!", "It ends", '"Go," he said.', "U.S. Army."]),
    min_size=1,
    max_size=4,
).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(
    paragraphs=st.lists(paragraph_text, min_size=1, max_size=4),
    told=st.lists(st.tuples(st.text(max_size=20), st.integers(-1, 5)), max_size=8),
)
def test_settled_sentences_always_give_the_paragraphs_back(
    paragraphs: list[str], told: list[tuple[str, int]]
) -> None:
    found = [Sentence(text=t, paragraph=max(p, 0), sources=[SHOT]) for t, p in told]
    settled = settle(paragraphs, found)
    assert rebuilds(paragraphs, settled)
