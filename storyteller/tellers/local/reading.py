"""What the local teller reads in the evidence: settings, runs of alike shots, lines worth
quoting and on-screen text worth citing. Facts only; the wording lives in `phrasing`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from storyteller.pipeline.evidence import Evidence, Look, ScreenText, Segment, Transcript

# Characters a quote or a cited line may not carry: they would read as markdown (which the
# contract forbids), break the quoting, or split a paragraph.
_UNSAFE = re.compile(r"[*_`|#<>\[\]\"\n\r\t“”„‟«»″〝〞＂]")


def word_set(text: str) -> frozenset[str]:
    """A set of words written as one string, for word lists that read like prose."""
    return frozenset(text.split())


# --- shots ---------------------------------------------------------------------


def main_look(evidence: Evidence) -> Look | None:
    """The look of the whole video, or of its longest scene that has one."""
    if evidence.look is not None:
        return evidence.look
    scenes = [s for s in evidence.scenes if s.look is not None]
    return max(scenes, key=lambda s: s.duration_s).look if scenes else None


def shot_at(evidence: Evidence, seconds: float) -> int | None:
    """Position (0-based, in time order) of the scene showing the given moment."""
    ordered = sorted(evidence.scenes, key=lambda s: s.start_s)
    for i, scene in enumerate(ordered):
        if scene.start_s <= seconds < scene.end_s:
            return i
    if ordered and seconds >= ordered[-1].end_s:
        return len(ordered) - 1
    return None


# --- what is said ------------------------------------------------------------------

# Mean word probability below which a segment is more likely misheard than said.
_MIN_WORD_PROBABILITY = 0.4
_QUOTE_MAX_WORDS = 25
_QUOTE_MIN_WORDS = 3
_STOPWORDS = word_set(
    """a an and are as at be been but by can could did do does for from had has have he her
    here him his i if in into is it its just me my no not now of oh ok okay on or our out so
    some that the their them then there these they this those to too uh um up us was we well
    were what when where which who will with would yeah yes you your"""
)
_WORD = re.compile(r"\S+")
_SENTENCE = re.compile(r"[^.!?]+[.!?]+")


@dataclass(frozen=True)
class Quote:
    """A passage to quote: an exact piece of one transcript segment's (stripped) text."""

    text: str
    start_s: float
    end_s: float  # the end of its segment: where the words are heard
    voice: int | None = None  # which voice says it, when the sound tells voices apart


def is_english(transcript: Transcript) -> bool:
    return transcript.language.lower().split("-")[0] in ("en", "english")


def usable_segments(transcript: Transcript | None) -> list[Segment]:
    """Segments clear enough to quote: enough words, heard with confidence, safe to print."""
    if transcript is None:
        return []
    kept: list[Segment] = []
    for segment in transcript.segments:
        text = segment.text.strip()
        if len(text.split()) < _QUOTE_MIN_WORDS or _UNSAFE.search(text):
            continue
        if segment.words:
            mean = sum(w.probability for w in segment.words) / len(segment.words)
            if mean < _MIN_WORD_PROBABILITY:
                continue
        kept.append(segment)
    return kept


def content_words(text: str) -> list[str]:
    words = (w.strip(".,!?;:'’()-").lower() for w in text.split())
    return [w for w in words if len(w) > 2 and w not in _STOPWORDS]


def excerpt(text: str) -> str:
    """A quotable piece of `text` (itself when short): a whole sentence where one fits,
    else the first words; always an exact substring of `text`."""
    if len(text.split()) <= _QUOTE_MAX_WORDS:
        return text
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0).strip()
        if _QUOTE_MIN_WORDS + 2 <= len(sentence.split()) <= _QUOTE_MAX_WORDS:
            return sentence
    spans = list(_WORD.finditer(text))[:_QUOTE_MAX_WORDS]
    # Else up to the last pause (a comma, a semicolon) within the first words, so the quote
    # ends where the speaker paused rather than mid-phrase.
    for end in range(len(spans) - 1, _QUOTE_MIN_WORDS, -1):
        if spans[end].group(0)[-1] in ",;:":
            return text[spans[0].start() : spans[end].end() - 1]
    return text[spans[0].start() : spans[-1].end()].rstrip(",;:")


def quotes(transcript: Transcript | None, limit: int = 2) -> list[Quote]:
    """The most telling lines of the speech, at most `limit`, in the order they are said."""
    candidates = [
        Quote(excerpt(segment.text.strip()), segment.start, segment.end, segment.voice)
        for segment in usable_segments(transcript)
    ]

    def telling(quote: Quote) -> tuple[float, float]:
        score = min(len(content_words(quote.text)), 10) + (1.0 if quote.text[-1] in ".!?" else 0.0)
        return (-score, quote.start_s)

    chosen: list[Quote] = []
    for quote in sorted(candidates, key=telling):
        if quote.text not in (q.text for q in chosen):
            chosen.append(quote)
        if len(chosen) == limit:
            break
    return sorted(chosen, key=lambda q: q.start_s)


def voices(transcript: Transcript | None) -> int:
    """How many different voices the sound tells apart (0 when it cannot tell)."""
    if transcript is None:
        return 0
    return len({s.voice for s in transcript.segments if s.voice is not None})


def speech_share(evidence: Evidence) -> float:
    """How much of the video's length has someone speaking (0..1)."""
    transcript = evidence.transcript
    if transcript is None or evidence.media.duration_s <= 0:
        return 0.0
    spoken = sum(max(0.0, s.end - s.start) for s in transcript.segments if s.text.strip())
    return min(1.0, spoken / evidence.media.duration_s)


# --- what is written on screen ---------------------------------------------------------

_MIN_TEXT_CONFIDENCE = 0.5
_LETTERS = re.compile(r"[^\W\d_]{2,}")


def citable_text(evidence: Evidence, limit: int = 3) -> list[ScreenText]:
    """On-screen lines worth citing, most prominent first: read with the most confidence,
    then seen the longest. Noise (no real word in it) and duplicates are left out."""
    seen: set[str] = set()
    kept: list[ScreenText] = []
    ranked = sorted(
        evidence.on_screen_text,
        key=lambda t: (
            -round(t.confidence, 1),
            -(t.last_seen_s - t.first_seen_s),
            -t.frames,
            t.first_seen_s,
        ),
    )
    for line in ranked:
        text = line.text.strip()
        key = " ".join(text.lower().split())
        if (
            line.confidence < _MIN_TEXT_CONFIDENCE
            or not _LETTERS.search(text)
            or _UNSAFE.search(text)
            or key in seen
        ):
            continue
        seen.add(key)
        kept.append(line.model_copy(update={"text": text}))
        if len(kept) == limit:
            break
    return kept


def latin_share(text: str) -> float:
    """Share of the letters in `text` that are plain Latin letters (a-z)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(ch.isascii() for ch in letters) / len(letters)
