"""Reading a story written as text (a model's answer, however loosely) into its parts."""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date

from storyteller.errors import StorytellerError
from storyteller.story.model import MONTH_NAMES, Story
from storyteller.story.rules import looks_like_disclaimer
from storyteller.story.validator import MARKDOWN, markdown_in


class StoryParseError(StorytellerError):
    """The text cannot be read as a story; `reason` says what is missing."""


def strip_markdown(text: str) -> str:
    """The plain text of `text`, line by line: markdown marks go, the words they held stay.

    A line the validator finds no markdown on comes back only trimmed, so plain text
    passes through unchanged.
    """
    return "\n".join(_strip_line(line) for line in text.split("\n"))


def _strip_line(line: str) -> str:
    line = line.strip()
    # Removing one mark can reveal another ('> - item'); a few rounds reach plain text.
    for _ in range(12):
        before = line
        for rule in MARKDOWN:
            line = rule.pattern.sub(rule.keep, line).strip()
        if line == before:
            break
    return line


_MARKDOWN_CHARS = re.compile(r"[*_`|#>\[\]<]")


def plain(text: str) -> str:
    """One line of plain text: markdown stripped, control characters dropped, whitespace
    (line breaks and blank lines included) collapsed to single spaces."""
    line = _collapse(" ".join(strip_markdown(part) for part in text.splitlines()))
    # Joining lines can pair marks that were apart ('*a' + 'b*'), so strip again until stable.
    for _ in range(6):
        stripped = _collapse(strip_markdown(line))
        if stripped == line:
            break
        line = stripped
    if markdown_in(line):
        # Marks nested past what stripping unwinds: no plain sentence needs these characters.
        line = _collapse(strip_markdown(_MARKDOWN_CHARS.sub(" ", line)))
    return line


def _collapse(text: str) -> str:
    kept = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) != "Cc")
    return " ".join(kept.split())


_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY = r"[0-9]{1,2}(?:st|nd|rd|th)?"
_WHEN = (
    r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?"
    rf"(?:(?P<m1>{_MONTHS})\.?\s+(?P<d1>{_DAY}),?\s+(?P<y1>[0-9]{{4}})"
    rf"|(?P<d2>{_DAY})\s+(?:of\s+)?(?P<m2>{_MONTHS})\.?,?\s+(?P<y2>[0-9]{{4}})"
    r"|(?P<iso>[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}))"
)
# Any dash, a colon, a bar or a comma may stand where the em dash belongs; the place and
# region are kept short so a sentence that happens to hold a date is not taken for one.
_DATELINE = re.compile(
    r"^(?P<place>[^,\n]{1,100}?)\s*,\s*(?P<region>[^\n]{1,100}?)\s*(?:—|–|―|‒|-{1,3}|:|\||,)\s*"
    rf"{_WHEN}\b(?P<rest>.*)$",
    re.IGNORECASE,
)
_REST = re.compile(r"^\s*(?:—|–|―|-{1,3}|:)\s*(?P<text>.*)$")
_DATELINE_LABEL = re.compile(r"^(?:dateline|date|location)\s*:\s*", re.IGNORECASE)
_TITLE_LABEL = re.compile(r"^(?:title|headline)\s*[:：\-–—]\s*", re.IGNORECASE)
_FENCE = re.compile(r"^(?:```|~~~)")
_RULE = re.compile(r"^(?:[-*_]\s*){3,}$|^=+$")
# A heading line, or a short bold line that ends no sentence ('**Background**'): a label.
_HEADING = re.compile(r"^#{1,6}(?:\s|$)|^(?:\*\*|__)[^*_]{0,60}[^*_.!?…\"”'’](?:\*\*|__):?$")
_ITEM = re.compile(r"^(?:[-*+•·▪‣◦–]|[0-9]{1,3}[.)])\s+|^>")
_SENTENCE_END = re.compile(r"[.!?…][\"”’'»)\]*_]*$")
_MONTH_ABBREVIATIONS = [name[:3].lower() for name in MONTH_NAMES]
_PAIRED_QUOTES = {'"': '"', "“": "”", "„": "“", "«": "»", "»": "«", "”": "”", "'": "'", "‘": "’"}


def parse(text: str, *, disclaimer: str | None = None) -> Story:
    """The parts of a story written as text, read leniently.

    Accepts markdown, curly quotes, a 'Title:' label, missing blank lines, CRLF, a dateline
    with a hyphen or en dash and an abbreviated month, and no disclaimer (then it is empty).
    If `disclaimer` is given, a last paragraph reading exactly so is taken as the disclaimer
    even if it does not look like one. The result may still break the contract; `repair`
    fixes that.
    """
    lines = _lines(text)
    if not any(lines):
        raise StoryParseError("the answer is empty: there is no story in it")
    found = _find_dateline(lines)
    if found is None:
        raise StoryParseError(
            "no dateline found: a story needs a line like "
            "'Portland, Maine — March 4, 2025' after its title"
        )
    index, match = found
    rest = _REST.match(match["rest"])
    body = ([rest["text"]] if rest and rest["text"] else []) + lines[index + 1 :]
    paragraphs = _paragraphs(body)
    found_disclaimer = ""
    if paragraphs:
        last = paragraphs[-1]
        bare = strip_markdown(last).strip("()[] ")
        if disclaimer is not None and disclaimer in (last, bare):
            found_disclaimer = disclaimer
            paragraphs.pop()
        elif looks_like_disclaimer(bare):
            found_disclaimer = last
            paragraphs.pop()
    return Story(
        title=_title(lines[:index]),
        place=match["place"].strip(),
        region=match["region"].strip(),
        date=_date(match),
        paragraphs=paragraphs,
        disclaimer=found_disclaimer,
    )


def clean_title(line: str) -> str:
    """A headline without the marks around it: quotes, '#', '**', a 'Title:' label."""
    line = line.strip()
    if len(line) >= 2 and line[0] == line[-1] == '"':
        inner = line[1:-1]
        if not markdown_in(inner):
            return inner  # already written the way the contract writes it
        line = inner
    for _ in range(4):
        before = line
        line = _TITLE_LABEL.sub("", strip_markdown(line))
        if len(line) >= 2 and _PAIRED_QUOTES.get(line[0]) == line[-1]:
            line = line[1:-1].strip()
        if line == before:
            break
    return line


def is_heading(line: str) -> bool:
    """Whether a line is a section heading rather than prose."""
    return bool(_HEADING.match(line.strip()))


def _lines(text: str) -> list[str]:
    """Trimmed lines; code fences and horizontal rules count as blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    lines = [line.strip() for line in text.split("\n")]
    return ["" if _FENCE.match(line) or _RULE.match(line) else line for line in lines]


def _find_dateline(lines: list[str]) -> tuple[int, re.Match[str]] | None:
    for index, line in enumerate(lines):
        if not line or (line[0] in _PAIRED_QUOTES and line[-1] in _PAIRED_QUOTES.values()):
            continue  # a quoted line is a title even if it holds a place and a date
        match = _DATELINE.match(_DATELINE_LABEL.sub("", strip_markdown(line)))
        if match and (not match["rest"].strip() or _REST.match(match["rest"])):
            return index, match
    return None


def _title(before: list[str]) -> str:
    """The title among the lines above the dateline: a labelled one, else the nearest line
    that is not the model's preamble ('Here is your story:')."""
    lines = [line for line in before if line]
    titles = [clean_title(line) for line in lines]
    for line, title in zip(lines, titles, strict=True):
        if title and _TITLE_LABEL.match(strip_markdown(line)):
            return title
    # A bare 'Title:' label puts the title on the next line; a line ending in a colon
    # introduces something, it is not a headline. (A quoted one, '"Why:"', is a title
    # written the way the contract writes it: the colon is inside its quotes.)
    candidates = [
        title
        for line, title in zip(lines, titles, strict=True)
        if title and not strip_markdown(line).endswith(":")
    ]
    return candidates[-1] if candidates else ""


def _paragraphs(lines: list[str]) -> list[str]:
    """Paragraphs from body lines. Blank lines separate them; so does a line that ends a
    sentence or starts a list item, for answers that forgot the blank lines. Lines wrapped
    mid-sentence are joined. Section headings are not prose and are dropped."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line and is_heading(line):
            line = ""
        if current and (not line or _ITEM.match(line) or _SENTENCE_END.search(current[-1])):
            paragraphs.append(" ".join(current))
            current = []
        if line:
            current.append(line)
    return paragraphs


def _date(match: re.Match[str]) -> date:
    """The dateline's date; an impossible day becomes the nearest real one (Feb 30 -> 28/29)."""
    if match["iso"]:
        year, month, day = (int(part) for part in match["iso"].split("-"))
    else:
        month = _MONTH_ABBREVIATIONS.index((match["m1"] or match["m2"])[:3].lower()) + 1
        day = int((match["d1"] or match["d2"]).lower().rstrip("stndrh"))
        year = int(match["y1"] or match["y2"])
    year = min(max(year, 1), 9999)
    month = min(max(month, 1), 12)
    day = min(max(day, 1), calendar.monthrange(year, month)[1])
    return date(year, month, day)
