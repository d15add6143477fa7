"""The local teller's small helpers: numbers, lists, durations, headline case, template
filling, and the phrasebook that picks wordings; the sentences themselves are in `news`."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence

from storyteller.tellers.local.reading import word_set

# --- numbers and lists -------------------------------------------------------------------

_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_ORDINALS = (
    "first", "second", "third", "fourth", "fifth",
    "sixth", "seventh", "eighth", "ninth", "tenth",
)  # fmt: skip


def number(n: int) -> str:
    """News style: words for zero to nine, digits from 10."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'one shot', 'three shots', '12 shots'."""
    return f"{number(n)} {noun if n == 1 else plural or noun + 's'}"


def ordinal(position: int) -> str | None:
    """'first' for position 0; None past the tenth (the story then says 'a later shot')."""
    return _ORDINALS[position] if 0 <= position < len(_ORDINALS) else None


def join(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def length(seconds: float) -> str:
    """A duration as a reader says it, rounded: 'about eight seconds', 'about three minutes'."""
    if seconds < 0.5:
        return "less than a second"
    if seconds >= 90:
        return f"about {count(round(seconds / 60), 'minute')}"
    return f"about {count(round(seconds), 'second')}"


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


_SMALL_WORDS = word_set("a an and as at but by for in nor of on or per the to up via vs")


def headline_case(text: str) -> str:
    """Headline capitalisation: every word capitalised but short joining words (not first or
    last). A line written all in capitals is lowered first; other words keep their inner
    capitals ('iPhone', 'NASA')."""
    if not any(ch.islower() for ch in text):
        text = text.lower()
    words = text.split()
    out: list[str] = []
    for i, word in enumerate(words):
        lowered = word.lower()
        if 0 < i < len(words) - 1 and lowered in _SMALL_WORDS:
            out.append(lowered)
        elif word[:1].islower():
            out.append(upper_first(word))
        else:
            out.append(word)
    return " ".join(out)


def sign_headline(text: str) -> str:
    """On-screen text as a headline: kept as written when its writer chose the capitals
    ('Marché de Noël'), put in headline case when it is all capitals or all lower case."""
    letters = [ch for ch in text if ch.isalpha()]
    if any(ch.isupper() for ch in letters) and any(ch.islower() for ch in letters):
        return upper_first(text)
    return headline_case(text)


# --- choosing and filling --------------------------------------------------------------

_SLOT = re.compile(r"\{(\w+)\}")


class Phrasebook:
    """Picks wording with one random generator, so the same seed gives the same story, and
    avoids saying the same thing twice in one story while other wordings are left."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def pick(self, options: Iterable[str]) -> str:
        options = list(options)
        fresh = [o for o in options if o not in self.used] or options
        choice = self.rng.choice(fresh)
        self.used.add(choice)
        return choice


def fill(template: str, slots: dict[str, str]) -> str:
    # A slot value is never read as a template, so quoted words with braces stay as they are.
    return _SLOT.sub(lambda m: slots[m.group(1)], template)


def slots_of(template: str) -> set[str]:
    return set(_SLOT.findall(template))


# --- the shape of the picture --------------------------------------------------------

FRAME_SHAPES: dict[str, tuple[str, ...]] = {
    "landscape": ("a wide, landscape frame", "a landscape frame", "a horizontal frame"),
    "portrait": ("a tall, portrait frame", "an upright frame", "a vertical frame"),
    "square": ("a square frame", "a square picture", "an even, square frame"),
}

SPEECH_SHARE: dict[str, tuple[str, ...]] = {
    "most": ("for most of the clip", "through much of the footage", "nearly throughout"),
    "part": ("for part of the clip", "at times", "now and then"),
    "brief": ("only briefly", "for a few moments", "just briefly"),
}

LANGUAGES = {
    "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech",
    "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "et": "Estonian", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "ga": "Irish", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian",
    "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ko": "Korean",
    "lt": "Lithuanian", "lv": "Latvian", "ms": "Malay", "nb": "Norwegian", "nl": "Dutch",
    "nn": "Norwegian", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sr": "Serbian",
    "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "th": "Thai", "tl": "Tagalog",
    "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip


def language_name(code: str) -> str | None:
    return LANGUAGES.get(code.lower().split("-")[0])
