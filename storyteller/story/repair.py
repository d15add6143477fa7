"""Fixing what can be fixed in a draft story, and refusing with a reason what cannot."""

from __future__ import annotations

import re
from datetime import date

from storyteller.errors import StorytellerError
from storyteller.story.model import MIN_PARAGRAPHS, TITLE_MAX_CHARS, Story
from storyteller.story.parse import StoryParseError, clean_title, is_heading, parse, plain
from storyteller.story.rules import StoryRules, looks_like_disclaimer, month_list
from storyteller.story.season import Season, months_for
from storyteller.story.sentences import sentences, settle
from storyteller.story.validator import DOUBLE_QUOTES, validate


class RepairError(StorytellerError, ValueError):
    """A draft that cannot be made to meet the contract; `reason` says why."""


def repair(draft: Story | str, rules: StoryRules, season: Season = Season.NEUTRAL) -> Story:
    """A story that meets the contract, made from `draft` (a Story, or text to be parsed).

    A draft that already meets it comes back as it is. Otherwise markdown goes, the title is
    unquoted and shortened (or taken from the first sentence if missing), the date moves to
    the nearest allowed one, the body becomes at least three paragraphs and the disclaimer
    is the one in `rules`. Raises RepairError when that cannot be done: too little text, no
    place, or no allowed date in the video's season.
    """
    if isinstance(draft, str):
        try:
            story = parse(draft, disclaimer=rules.disclaimer)
        except StoryParseError as exc:
            raise RepairError(exc.reason) from exc
    else:
        story = draft
    if not validate(story.text, rules, season):
        return story
    paragraphs = _body(story, rules)
    place, region = _dateline_place(story.place, story.region)
    return Story(
        title=_headline(story.title, paragraphs, place),
        place=place,
        region=region,
        date=_dateline_date(story.date, rules, season),
        paragraphs=paragraphs,
        disclaimer=rules.disclaimer,
        # The draft's sentences keep their sources where the rewritten paragraphs hold them.
        sentences=settle(paragraphs, story.sentences) if story.sentences else [],
    )


# --- the body ------------------------------------------------------------------------


def _body(story: Story, rules: StoryRules) -> list[str]:
    paragraphs: list[str] = []
    dropped = {rules.disclaimer.strip(), story.disclaimer.strip()} - {""}
    for raw in story.paragraphs:
        lines = [line for line in raw.splitlines() if not is_heading(line.strip())]
        text = plain("\n".join(lines))
        if text and text not in dropped:
            paragraphs.append(text)
    if paragraphs and looks_like_disclaimer(paragraphs[-1]):
        paragraphs.pop()  # the model's own disclaimer; the one in the rules replaces it
    return _at_least_three(_merge_fragments(paragraphs))


_FRAGMENT_WORDS = 3
_SENTENCE_END = re.compile(r"[.!?…][\"”’')\]]*$")


def _merge_fragments(paragraphs: list[str]) -> list[str]:
    """Join a few words that are not a sentence ('Photo: AP', a stray label) to a neighbour."""
    merged: list[str] = []
    for text in paragraphs:
        if merged and (_is_fragment(text) or _is_fragment(merged[-1])):
            merged[-1] = plain(f"{merged[-1]} {text}")
        else:
            merged.append(text)
    return merged


def _is_fragment(text: str) -> bool:
    return len(text.split()) < _FRAGMENT_WORDS and not _SENTENCE_END.search(text)


def _at_least_three(paragraphs: list[str]) -> list[str]:
    """Split the longest paragraphs at sentence boundaries until there are three."""
    if len(paragraphs) >= MIN_PARAGRAPHS:
        return paragraphs
    groups = [sentences(text) for text in paragraphs]
    total = sum(len(group) for group in groups)
    if total < MIN_PARAGRAPHS:
        told = "no sentences" if total == 0 else f"{total} sentence{'s' if total > 1 else ''}"
        raise RepairError(
            f"the story is too short: it has {told}, and {MIN_PARAGRAPHS} paragraphs are needed"
        )
    while len(groups) < MIN_PARAGRAPHS:
        need = MIN_PARAGRAPHS - len(groups)
        longest = max(range(len(groups)), key=lambda i: (len(groups[i]), sum(map(len, groups[i]))))
        groups[longest : longest + 1] = _split_even(
            groups[longest], min(len(groups[longest]), need + 1)
        )
    return [" ".join(group) for group in groups]


def _split_even(parts: list[str], count: int) -> list[list[str]]:
    """`parts` in `count` consecutive, non-empty groups of about equal length."""
    groups: list[list[str]] = []
    start = 0
    remaining = sum(len(part) for part in parts)
    for left in range(count, 1, -1):
        target = remaining / left
        end = start + 1
        size = len(parts[start])
        # Take the next sentence while that brings the group nearer its share, leaving at
        # least one sentence for each group still to come.
        while end < len(parts) - (left - 1) and size + len(parts[end]) / 2 <= target:
            size += len(parts[end])
            end += 1
        groups.append(parts[start:end])
        remaining -= size
        start = end
    groups.append(parts[start:])
    return groups


# --- the title -----------------------------------------------------------------------

_DANGLING = frozenset({
    "a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into", "of",
    "on", "or", "nor", "the", "to", "with", "via", "than", "that", "which", "who", "its",
    "their", "his", "her", "our", "my", "your", "&", "-", "–", "—",
})  # fmt: skip
_TRAILING = ".,;:-–—/&(…[{"


def _headline(title: str, paragraphs: list[str], place: str) -> str:
    headline = _plain_title(title)
    if not headline and paragraphs:
        headline = _plain_title(sentences(paragraphs[0])[0].rstrip(" ."))
    return headline or _plain_title(f"A Day in {place}")


def _plain_title(raw: str) -> str:
    text = clean_title(raw)
    # Taking out quotes or words can expose marks again ('*"*x'); repeat until stable.
    for _ in range(6):
        before = text
        text = shorten_title(plain("".join(ch for ch in text if ch not in DOUBLE_QUOTES)))
        if text == before:
            break
    return text


def shorten_title(title: str, limit: int = TITLE_MAX_CHARS) -> str:
    """`title` cut to `limit` characters at a word boundary, ending on a word that carries
    meaning: no trailing comma or dash, no dangling 'and', 'of' or 'the'."""
    if len(title) <= limit:
        return title
    kept: list[str] = []
    for word in title.split(" "):
        if len(" ".join([*kept, word])) > limit:
            break
        kept.append(word)
    while kept:
        last = kept[-1].rstrip(_TRAILING)
        if last and last.lower() not in _DANGLING:
            kept[-1] = last
            return " ".join(kept)
        kept.pop()
    return title[:limit].rstrip()  # one word longer than the limit: cut it


# --- the dateline --------------------------------------------------------------------

_PLACE_SEPARATORS = re.compile(r"\s*[,—–―‒]\s*|\s+-{1,3}\s+")
# Characters no place name has and the dateline cannot hold: markdown, quotes.
_NOT_IN_PLACES = re.compile(rf"[*_`|#<>\[\]{DOUBLE_QUOTES}]")


def _dateline_place(place: str, region: str) -> tuple[str, str]:
    """City and region without the commas and dashes that would break the dateline.

    'Portland, Maine' as the city with no region becomes city and region; a region such as
    'Maine, USA' keeps its first part.
    """
    cities, regions = _place_parts(place), _place_parts(region)
    city = cities[0] if cities else ""
    area = regions[0] if regions else (cities[1] if len(cities) > 1 else "")
    if not city or not area:
        raise RepairError(
            "the dateline has no place: it needs a city and a region, like 'Portland, Maine'"
        )
    return city, area


def _place_parts(text: str) -> list[str]:
    text = _NOT_IN_PLACES.sub(" ", plain(text))
    return [part for part in (plain(piece) for piece in _PLACE_SEPARATORS.split(text)) if part]


def _dateline_date(when: date, rules: StoryRules, season: Season) -> date:
    fixed = rules.nearest_allowed(when, season)
    if fixed is not None:
        return fixed
    if not rules.allowed_spans(Season.NEUTRAL):
        raise RepairError(
            f"no dateline date is allowed: the allowed dates run from {rules.earliest} "
            f"to {rules.latest}, and dates in the future are never used"
        )
    raise RepairError(
        f"no allowed date agrees with the season: the allowed dates ({rules.describe()}) "
        f"hold no {Season(season)} month ({month_list(months_for(season))})"
    )
