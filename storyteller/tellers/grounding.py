"""Checking the moments a story's sentences stand on against the evidence: a source that
is not in it (a quote where nothing is said, a time past the end) is dropped, so the player
beside a story never seeks to a moment the teller made up."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from storyteller.pipeline.evidence import Evidence
from storyteller.story.model import Sentence, Source, SourceKind, Story
from storyteller.story.sentences import settle

# Times are measured on decoded frames and audio; a source may end this little past the
# video's measured length and still be the last moment of it.
END_SLACK_S = 0.25


def linked(story: Story, evidence: Evidence) -> Story:
    """`story` with sentences that give its paragraphs back, each standing only on
    moments found in `evidence`: what every teller's story is kept with."""
    return story.model_copy(
        update={"sentences": grounded(settle(story.paragraphs, story.sentences), evidence)}
    )


def grounded(sentences: Sequence[Sentence], evidence: Evidence) -> list[Sentence]:
    """The sentences with only the sources found in `evidence` (each at most once)."""
    spans = _spans(evidence)
    duration = evidence.media.duration_s
    kept: list[Sentence] = []
    for sentence in sentences:
        sources: list[Source] = []
        for source in sentence.sources:
            if source not in sources and _in_evidence(source, spans[source.kind], duration):
                sources.append(source)
        kept.append(sentence.model_copy(update={"sources": sources}))
    return kept


def _spans(evidence: Evidence) -> dict[SourceKind, list[tuple[float, float]]]:
    """Where each kind of evidence is in the video: transcript segments, text on screen
    from first to last seen, shots."""
    segments = evidence.transcript.segments if evidence.transcript else []
    return {
        SourceKind.SPEECH: [(s.start, s.end) for s in segments if s.text.strip()],
        SourceKind.TEXT: [(t.first_seen_s, t.last_seen_s) for t in evidence.on_screen_text],
        SourceKind.SCENE: [(s.start_s, s.end_s) for s in evidence.scenes],
    }


def _in_evidence(source: Source, spans: Iterable[tuple[float, float]], duration: float) -> bool:
    if not 0 <= source.start_s <= source.end_s <= duration + END_SLACK_S:
        return False
    return any(start <= source.end_s and source.start_s <= end for start, end in spans)
