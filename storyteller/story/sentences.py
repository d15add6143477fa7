"""A story's body as sentences: split from the text, checked to give the paragraphs back,
and carried over (with their sources) when the repair step rewrites the paragraphs.

Only the body paragraphs are sentences: the headline, the dateline and the disclaimer
are not (they stand on no moment of the video)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from storyteller.story.model import Sentence, Source
from storyteller.story.parse import plain

_BOUNDARY = re.compile(r"[.!?…]+[\"”’')\]]*\s+")
_OPENERS = "\"“‘'("
# A period after these is not the end of a sentence ('Mr. Lee', 'St. Paul', 'U.S. Army').
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "st", "mt", "ft", "jr", "sr", "vs", "etc",
    "gen", "sen", "rep", "gov", "lt", "col", "sgt", "capt", "inc", "ltd", "co",
    "corp", "ave", "rd", "blvd", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "e.g", "i.e", "a.m", "p.m", "u.s", "u.k", "approx", "est",
    "dept",
})  # fmt: skip


def sentences(text: str) -> list[str]:
    """The sentences of one paragraph, in order; joined with spaces they give it back."""
    found: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        following = text[match.end() : match.end() + 2].lstrip(_OPENERS)[:1]
        # A new sentence starts with a capital letter; digits and marks are left alone so
        # that a paragraph never starts with something read as a list number or a bullet.
        if not following.isupper():
            continue
        words = text[start : match.start()].split()
        word = words[-1].lower() if words else ""
        if match.group().startswith(".") and (word in _ABBREVIATIONS or len(word) == 1):
            continue
        found.append(text[start : match.end()].strip())
        start = match.end()
    if text[start:].strip():
        found.append(text[start:].strip())
    return found


def split(paragraphs: Sequence[str]) -> list[Sentence]:
    """The sentences of `paragraphs`, split at sentence boundaries, with no sources: what a
    story whose teller recorded none (or an older story) is given."""
    return [
        Sentence(text=text, paragraph=index, sources=[])
        for index, paragraph in enumerate(paragraphs)
        for text in sentences(paragraph)
    ]


def rebuilds(paragraphs: Sequence[str], found: Sequence[Sentence]) -> bool:
    """Whether the sentences, joined with single spaces paragraph by paragraph, give
    `paragraphs` back exactly (in order, none empty, none left over)."""
    joined: list[list[str]] = [[] for _ in paragraphs]
    last = 0
    for sentence in found:
        if not sentence.text or not last <= sentence.paragraph < len(paragraphs):
            return False
        last = sentence.paragraph
        joined[sentence.paragraph].append(sentence.text)
    return all(" ".join(parts) == text for parts, text in zip(joined, paragraphs, strict=True))


def settle(paragraphs: Sequence[str], found: Sequence[Sentence]) -> list[Sentence]:
    """Sentences that give `paragraphs` back exactly, keeping the sources of `found` where
    its sentences still hold.

    `found` as it is when it rebuilds the paragraphs. Otherwise (the repair step stripped
    markdown, joined a fragment to its neighbour or split a paragraph in two) the plain
    text of `found`'s sentences is laid over each paragraph in order; a paragraph they do
    not make up is split again, a sentence keeping the sources of one in `found` that
    reads the same. Never fails: at worst every sentence is split from the text, with no
    sources.
    """
    if rebuilds(paragraphs, found):
        return list(found)
    told = [(plain(sentence.text), sentence.sources) for sentence in found]
    known: dict[str, list[Source]] = {}
    for text, sources in told:
        known.setdefault(text, list(sources))
    settled: list[Sentence] = []
    at = 0
    for index, paragraph in enumerate(paragraphs):
        laid = _lay(paragraph, told[at:])
        if laid is not None:
            settled += [Sentence(text=t, paragraph=index, sources=list(s)) for t, s in laid]
            at += len(laid)
            continue
        settled += [
            Sentence(text=text, paragraph=index, sources=known.get(text, []))
            for text in sentences(paragraph)
        ]
    return settled


def _lay(
    paragraph: str, told: Sequence[tuple[str, list[Source]]]
) -> list[tuple[str, list[Source]]] | None:
    """The first of `told` that, joined with spaces, make up `paragraph` exactly; or None."""
    taken: list[tuple[str, list[Source]]] = []
    joined = ""
    for text, sources in told:
        if not text:
            continue
        joined = f"{joined} {text}" if joined else text
        if not paragraph.startswith(joined):
            return None
        taken.append((text, sources))
        if joined == paragraph:
            return taken
    return None
