"""What every story's sentences must be, checked from the outside: they give the paragraphs
back, and each source is a moment the evidence holds (for the local teller: exactly one of
its segments, texts on screen or shots)."""

from __future__ import annotations

import re
from typing import Any

from storyteller.pipeline.evidence import Evidence
from storyteller.story.model import Sentence, Story


def spans(evidence: Evidence) -> dict[str, set[tuple[float, float]]]:
    segments = evidence.transcript.segments if evidence.transcript else []
    return {
        "speech": {(s.start, s.end) for s in segments if s.text.strip()},
        "text": {(t.first_seen_s, t.last_seen_s) for t in evidence.on_screen_text},
        "scene": {(s.start_s, s.end_s) for s in evidence.scenes},
    }


def joined(sentences: list[Sentence], count: int) -> list[str]:
    return [" ".join(s.text for s in sentences if s.paragraph == i) for i in range(count)]


def assert_exactly_sourced(story: Story, evidence: Evidence) -> None:
    """Sentences rebuild the paragraphs; every source is one of the evidence's own spans,
    within the video; a quoted line stands on a segment that says those words."""
    assert story.sentences, story.text
    assert joined(story.sentences, len(story.paragraphs)) == story.paragraphs
    assert [s.paragraph for s in story.sentences] == sorted(s.paragraph for s in story.sentences)
    found = spans(evidence)
    duration = evidence.media.duration_s
    segments = evidence.transcript.segments if evidence.transcript else []
    for sentence in story.sentences:
        for source in sentence.sources:
            span = (source.start_s, source.end_s)
            assert span in found[source.kind], (sentence.text, source)
            assert 0 <= source.start_s <= source.end_s <= duration + 0.25, (sentence.text, source)
        linked = {(x.start_s, x.end_s) for x in sentence.sources if x.kind == "speech"}
        for quote in re.findall(r'"([^"]+)"', sentence.text):
            # Where those words are said (a segment past the video's end is no moment of it).
            said = {
                (s.start, s.end) for s in segments
                if quote.rstrip(".") in s.text and s.end <= duration + 0.25
            }  # fmt: skip
            assert linked & said if said else not linked, (sentence.text, linked, said)


def assert_grounded_view(
    sentences: list[dict[str, Any]], paragraphs: list[str], evidence: dict[str, Any]
) -> None:
    """The same, on the API's JSON: `sentences` of a story version and the record's evidence."""
    story_evidence = Evidence.model_validate(evidence)
    assert joined([Sentence.model_validate(s) for s in sentences], len(paragraphs)) == paragraphs
    found = spans(story_evidence)
    for sentence in sentences:
        for source in sentence["sources"]:
            assert (source["startS"], source["endS"]) in found[source["kind"]], sentence


def sourced_answer(
    evidence: Evidence, paragraphs: list[str]
) -> tuple[list[dict[str, Any]], list[list[tuple[str, float, float]]]]:
    """An AI answer's sentences for `paragraphs` (one sentence each, at least three) with
    true sources and invented ones, and the sources that must survive, sentence by sentence:
    a true shot and one running past the end; the first thing said and speech in a shot
    where nothing is said (or, with no speech at all, any); text on screen where there is none."""
    assert evidence.transcript is not None and evidence.transcript.segments
    duration = evidence.media.duration_s
    shot = evidence.scenes[0]
    said = evidence.transcript.segments[0]
    quiet = _quiet(evidence)
    assert not evidence.on_screen_text
    told = [
        [("scene", shot.start_s, shot.end_s), ("scene", 0.0, duration + 30.0)],
        [("speech", said.start, said.end), ("speech", *quiet)],
        [("text", 0.0, duration), ("scene", shot.end_s, shot.start_s)],  # backwards
    ]
    kept = [[told[0][0]], [told[1][0]], []]
    sentences = [
        {
            "text": text,
            "paragraph": index,
            "sources": [{"kind": k, "startS": a, "endS": b} for k, a, b in told[index]],
        }
        for index, text in enumerate(paragraphs)
    ]
    return sentences, kept


def _quiet(evidence: Evidence) -> tuple[float, float]:
    """A moment of the video in which nothing is said (else one just past its end)."""
    assert evidence.transcript is not None
    taken = sorted((s.start, s.end) for s in evidence.transcript.segments)
    edges = [0.0] + [t for span in taken for t in span] + [evidence.media.duration_s]
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start > 0.2:
            return start + 0.05, end - 0.05
    return evidence.media.duration_s + 1, evidence.media.duration_s + 2


def sources_of(story: Story) -> list[list[tuple[str, float, float]]]:
    return [[(s.kind.value, s.start_s, s.end_s) for s in x.sources] for x in story.sentences]
