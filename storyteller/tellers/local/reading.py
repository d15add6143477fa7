"""What the local teller reads in the evidence: settings, runs of alike shots, lines worth
quoting and on-screen text worth citing. Facts only; the wording lives in `phrasing`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from storyteller.pipeline.evidence import Evidence, Look, ScreenText, Segment, Transcript

# Characters a quote or a cited line may not carry: they would read as markdown (which the
# contract forbids), break the quoting, or split a paragraph.
_UNSAFE = re.compile(r"[*_`|#<>\[\]\"\n\r\t“”„‟«»″〝〞＂]")


def word_set(text: str) -> frozenset[str]:
    """A set of words written as one string, for word lists that read like prose."""
    return frozenset(text.split())


class Setting(StrEnum):
    """What a picture mainly shows, as far as its look tells."""

    SNOW = "snow"
    BEACH = "beach"
    WATER = "water"
    FOLIAGE = "foliage"
    GREEN = "green"
    INDOOR = "indoor"
    SKY = "sky"
    DARK = "dark"
    PLAIN = "plain"


class Light(StrEnum):
    DARK = "dark"
    DIM = "dim"
    EVEN = "even"
    BRIGHT = "bright"


class Tone(StrEnum):
    MUTED = "muted"
    NORMAL = "normal"
    VIVID = "vivid"


def setting_of(look: Look | None) -> Setting | None:
    """The setting a look shows, strongest signal first; None when nothing was measured."""
    if look is None:
        return None
    if look.snow >= 0.3:
        return Setting.SNOW
    if look.sand >= 0.15 and (look.water >= 0.1 or look.sky >= 0.2):
        return Setting.BEACH
    if look.water >= 0.25:
        return Setting.WATER
    if look.foliage >= 0.2:
        return Setting.FOLIAGE
    if look.indoor >= 0.6:
        return Setting.INDOOR
    if look.green >= 0.3:
        return Setting.GREEN
    if look.sky >= 0.3:
        return Setting.SKY
    if look.brightness < 0.2:
        return Setting.DARK
    return Setting.PLAIN


def light_of(look: Look) -> Light:
    if look.brightness < 0.2:
        return Light.DARK
    if look.brightness < 0.4:
        return Light.DIM
    if look.brightness < 0.7:
        return Light.EVEN
    return Light.BRIGHT


def tone_of(look: Look) -> Tone:
    if look.saturation < 0.15:
        return Tone.MUTED
    if look.saturation > 0.45:
        return Tone.VIVID
    return Tone.NORMAL


# --- shots and runs of alike shots ---------------------------------------------------


@dataclass(frozen=True)
class Shot:
    """One scene as the story tells it: its place in the order, length, faces and look."""

    position: int  # 0-based place in the video
    duration_s: float
    faces: int
    look: Look | None

    @property
    def setting(self) -> Setting | None:
        return setting_of(self.look)

    @property
    def light(self) -> Light | None:
        return light_of(self.look) if self.look else None


def shots_of(evidence: Evidence) -> list[Shot]:
    """The scenes in order; a video without a scene list is one shot with the overall look."""
    if not evidence.scenes:
        return [
            Shot(
                position=0,
                duration_s=evidence.media.duration_s,
                faces=0,
                look=evidence.look,
            )
        ]
    ordered = sorted(evidence.scenes, key=lambda s: s.start_s)
    return [
        Shot(position=i, duration_s=s.duration_s, faces=s.faces, look=s.look)
        for i, s in enumerate(ordered)
    ]


@dataclass(frozen=True)
class Run:
    """Consecutive shots that look alike: same setting, light and number of faces."""

    shots: tuple[Shot, ...]

    @property
    def first(self) -> int:
        return self.shots[0].position

    @property
    def last(self) -> int:
        return self.shots[-1].position

    @property
    def size(self) -> int:
        return len(self.shots)

    @property
    def setting(self) -> Setting | None:
        return self.shots[0].setting

    @property
    def light(self) -> Light | None:
        return self.shots[0].light

    @property
    def faces(self) -> int:
        return self.shots[0].faces

    @property
    def look(self) -> Look | None:
        """The look of the run's longest shot."""
        return max(self.shots, key=lambda s: s.duration_s).look


def runs_of(shots: list[Shot]) -> list[Run]:
    runs: list[list[Shot]] = []
    for shot in shots:
        key = (shot.setting, shot.light, shot.faces)
        if runs and (runs[-1][0].setting, runs[-1][0].light, runs[-1][0].faces) == key:
            runs[-1].append(shot)
        else:
            runs.append([shot])
    return [Run(tuple(run)) for run in runs]


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
        Quote(excerpt(segment.text.strip()), segment.start, segment.voice)
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


# --- a headline from the speech --------------------------------------------------------

_CLAUSE = re.compile(r"[^,;:.!?]+")
# Words a headline drops from the front of a clause: fillers, articles and possessives
# ('our first reader...' reads 'First Reader...').
_LEADING_FILLERS = word_set(
    "so and but well um uh oh okay ok yeah now then also just like the a an our my your "
    "their his her its"
)
_PRONOUN_START = word_set(
    "i i'm i've we we're you you're he she they it it's this that there these those me what who"
)
# A clause too long for a headline is cut before one of these words.
_BREAK_BEFORE = word_set(
    "and but or so if because while when where after before since until with without for "
    "at in on over under from into to near by through as which who that than about around "
    "across along behind during against between toward towards"
)


def key_phrase(transcript: Transcript | None, limit: int) -> str | None:
    """A short clause of the speech fit for a headline (at most `limit` characters), or None.

    Clauses are scored by their content words; ones that start with a pronoun ('I think')
    or have too little in them are passed over.
    """
    if transcript is None or not is_english(transcript):
        return None
    best: tuple[float, int, str] | None = None
    order = 0
    for segment in usable_segments(transcript):
        for match in _CLAUSE.finditer(segment.text.strip()):
            words = match.group(0).split()
            while words and words[0].lower() in _LEADING_FILLERS:
                words.pop(0)
            phrase = _fit(words, limit)
            if phrase is None or phrase.split()[0].lower() in _PRONOUN_START:
                continue
            score = len(content_words(phrase))
            if score < 2:
                continue
            order += 1
            if best is None or (score, -order) > (best[0], -best[1]):
                best = (score, order, phrase)
    return best[2] if best else None


def _fit(words: list[str], limit: int) -> str | None:
    """`words` as a phrase of at most `limit` characters, cut before a joining word if needed."""
    if len(words) < 3:
        return None
    if len(" ".join(words)) <= limit:
        return " ".join(words)
    for end in range(len(words) - 1, 2, -1):
        if words[end].lower() in _BREAK_BEFORE and len(" ".join(words[:end])) <= limit:
            return " ".join(words[:end])
    return None


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
