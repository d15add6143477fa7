"""Every rule of the story contract, checked on the text users read, as findings."""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from storyteller.story.model import MIN_PARAGRAPHS, MONTH_NAMES, TITLE_MAX_CHARS
from storyteller.story.rules import StoryRules, format_day, looks_like_disclaimer, month_list
from storyteller.story.season import Season, months_for

# Double quotation marks of every script: none may stand inside the title's quotes.
DOUBLE_QUOTES = '"“”„‟«»″〝〞＂'
EXAMPLE_DATELINE = "Portland, Maine — March 4, 2025"


@dataclass(frozen=True)
class Finding:
    """One broken rule: `rule` is a short code, `message` says what to change."""

    rule: str
    message: str


@dataclass(frozen=True)
class MarkdownRule:
    """One kind of markdown: how to spot it on a line, what it is called, what plain text keeps."""

    code: str
    name: str
    pattern: re.Pattern[str]
    keep: Callable[[re.Match[str]], str]


def _nothing(match: re.Match[str]) -> str:
    return ""


def _inner(match: re.Match[str]) -> str:
    return match.group("keep")


def _space(match: re.Match[str]) -> str:
    return " "


def _cells(match: re.Match[str]) -> str:
    cells = [cell.strip() for cell in match.group(0).strip().strip("|").split("|")]
    return ", ".join(cell for cell in cells if cell and not re.fullmatch(r":?-+:?", cell))


_HTML_TAGS = (
    "a|b|i|u|s|em|strong|br|p|h[1-6]|ul|ol|li|span|div|code|pre|blockquote|hr|table|tr|td|th"
    "|sup|sub|small|mark"
)

# Patterns are tried on one line with its surrounding whitespace removed, in this order
# (the order matters when stripping: a horizontal rule is dropped before '*' looks like
# a bullet). Each is narrow enough to leave prose alone: a hyphen inside a sentence, a
# negative number ('-5'), a decimal ('3.5 metres'), a lone asterisk, snake_case.
MARKDOWN: tuple[MarkdownRule, ...] = (
    MarkdownRule(
        "markdown_rule", "a horizontal rule", re.compile(r"^(?:[-*_]\s*){3,}$|^=+$"), _nothing
    ),
    MarkdownRule(
        "markdown_heading", "a heading mark (#)", re.compile(r"^#{1,6}(?:\s+|$)"), _nothing
    ),
    MarkdownRule("markdown_quote", "a quote mark (>)", re.compile(r"^>+\s*"), _nothing),
    MarkdownRule(
        "markdown_list",
        "a list bullet or number",
        re.compile(r"^(?:[-*+•·▪‣◦–]|\d{1,3}[.)])\s+"),
        _nothing,
    ),
    MarkdownRule(
        "markdown_table", "a table row (|)", re.compile(r"^\|.*$|^.*\|$|^.*\|.*\|.*$"), _cells
    ),
    MarkdownRule(
        "markdown_link",
        "a link",
        re.compile(r"!?\[(?P<keep>[^\]\n]*)\]\([^)\n]*\)"),
        _inner,
    ),
    MarkdownRule("markdown_link", "a link", re.compile(r"^\[[^\]\n]+\]:.*$"), _nothing),
    MarkdownRule("markdown_code", "a code mark (`)", re.compile(r"`+"), _nothing),
    MarkdownRule(
        "markdown_html",
        "an HTML tag",
        re.compile(rf"</?(?:{_HTML_TAGS})\b[^<>\n]*>", re.IGNORECASE),
        _space,
    ),
    MarkdownRule(
        "markdown_emphasis", "bold or italic marks (* or _)", re.compile(r"\*\*+|__+"), _nothing
    ),
    MarkdownRule(
        "markdown_emphasis",
        "bold or italic marks (* or _)",
        re.compile(r"(?<![\w*])\*(?P<keep>[^\s*](?:[^*\n]*[^\s*])?)\*(?![\w*])"),
        _inner,
    ),
    MarkdownRule(
        "markdown_emphasis",
        "bold or italic marks (* or _)",
        re.compile(r"(?<!\w)_(?P<keep>[^\s_](?:[^_\n]*[^\s_])?)_(?!\w)"),
        _inner,
    ),
)


def markdown_in(line: str) -> list[MarkdownRule]:
    """The kinds of markdown found on one line (empty for plain text)."""
    line = line.strip()
    return [rule for rule in MARKDOWN if rule.pattern.search(line)]


_DATELINE_AT_END = re.compile(r",.*[—–-]\s*[A-Za-z]{3,9}\.?\s+\d{1,2},?\s+\d{4}\s*$")
_PLACE = re.compile(r"[^,\s](?:[^,]*[^,\s])?, [^,\s](?:[^,]*[^,\s])?")
_DATE = re.compile(r"(\S+) (\S+), (\S+)")


def validate(text: str, rules: StoryRules, season: Season = Season.NEUTRAL) -> list[Finding]:
    """Every way `text` breaks the story contract; an empty list means it meets it."""
    if not text.strip():
        return [
            Finding(
                "empty",
                "the story is empty; it needs a title, a dateline, at least "
                f"{MIN_PARAGRAPHS} paragraphs and the disclaimer",
            )
        ]
    return _Check(text, rules, season).run()


class _Check:
    """One pass over a story's lines, collecting findings in reading order."""

    def __init__(self, text: str, rules: StoryRules, season: Season) -> None:
        self.text = text
        self.rules = rules
        self.season = Season(season or Season.NEUTRAL)
        self.findings: list[Finding] = []
        # Line numbers (1-based) of markdown found, by code, so each kind is reported once.
        self.markdown: dict[str, tuple[str, list[int]]] = {}

    def add(self, rule: str, message: str) -> None:
        self.findings.append(Finding(rule, message))

    def run(self) -> list[Finding]:
        self.check_characters()
        body = self.text.replace("\r\n", "\n").replace("\r", "\n")
        if body.endswith("\n"):
            body = body[:-1]  # one final newline is how text files end; it is not a blank line
        raw = body.split("\n")
        self.check_whitespace(raw)
        self.lines = [line.strip() for line in raw]
        blocks = self.blocks()
        self.check_layout(blocks)
        for code, (name, numbers) in self.markdown.items():
            self.add(
                code, f"{name} on {_lines(numbers)}: the story must be plain text, no markdown"
            )
        return self.findings

    # --- the characters and the whitespace ------------------------------------------

    def check_characters(self) -> None:
        if "\r" in self.text:
            self.add("line_endings", "lines end with carriage returns (\\r); use plain line breaks")
        odd = sorted({ch for ch in self.text if _is_control(ch)})
        if odd:
            listed = ", ".join(f"U+{ord(ch):04X}" for ch in odd)
            self.add(
                "control_characters",
                f"the text holds control characters ({listed}); use plain spaces and line breaks",
            )

    def check_whitespace(self, raw: list[str]) -> None:
        spaces_only = [n for n, line in enumerate(raw, 1) if line and not line.strip()]
        padded = [n for n, line in enumerate(raw, 1) if line.strip() and line != line.strip()]
        if spaces_only:
            self.add(
                "blank_line_spaces",
                f"{_lines(spaces_only)} {_verb(spaces_only, 'looks', 'look')} blank but "
                f"{_verb(spaces_only, 'holds', 'hold')} spaces or tabs; leave blank lines empty",
            )
        if padded:
            self.add(
                "stray_whitespace",
                f"{_lines(padded)} {_verb(padded, 'starts', 'start')} or {_verb(padded, 'ends', 'end')} "
                "with spaces or tabs; remove them",
            )

    def blocks(self) -> list[list[int]]:
        """Runs of non-blank lines (as 0-based indexes), reporting wrong blank lines on the way."""
        blocks: list[list[int]] = []
        doubled: list[int] = []
        gap = 0
        for i, line in enumerate(self.lines):
            if not line:
                gap += 1
                continue
            if not blocks:
                blocks.append([i])
            elif gap == 0:
                blocks[-1].append(i)
            else:
                if gap > 1:
                    doubled.append(i - gap + 2)  # the first of the extra blank lines
                blocks.append([i])
            gap = 0
        if not self.lines[0]:
            self.add("leading_blank_line", "the story must start with the title on its first line")
        if not self.lines[-1]:
            self.add("trailing_blank_line", "the story must end with the disclaimer line")
        if doubled:
            self.add(
                "double_blank_line",
                f"more than one blank line at {_lines(doubled)}; "
                "separate the parts with exactly one blank line",
            )
        return blocks

    # --- the parts -----------------------------------------------------------------

    def check_layout(self, blocks: list[list[int]]) -> None:
        queue = [list(block) for block in blocks]
        first = self.lines[queue[0][0]]
        if not first.startswith('"') and _DATELINE_AT_END.search(first):
            self.add(
                "title_missing",
                "the story has no title: put it on the first line, in straight double quotes",
            )
        else:
            self.check_title(queue[0][0])
            self.take_first_line(queue, "the title")

        if not queue:
            self.add(
                "dateline_missing",
                f'the title must be followed by a blank line and the dateline, like "{EXAMPLE_DATELINE}"',
            )
        else:
            self.check_dateline(queue[0][0])
            self.take_first_line(queue, "the dateline")

        self.check_disclaimer(queue)
        broken = [i + 1 for block in queue if len(block) > 1 for i in block[1:]]
        if broken:
            self.add(
                "paragraph_line_break",
                f"paragraphs break onto new lines at {_lines(broken)}; write each paragraph "
                "on one line and separate paragraphs with one blank line",
            )
        for block in queue:
            for i in block:
                self.note_markdown(self.lines[i], i)
        if len(queue) < MIN_PARAGRAPHS:
            self.add(
                "too_few_paragraphs",
                f"the story has {len(queue)} body paragraph{'s' if len(queue) != 1 else ''}; "
                f"at least {MIN_PARAGRAPHS} are needed, separated by one blank line",
            )

    def take_first_line(self, queue: list[list[int]], part: str) -> None:
        """Consume a one-line part; lines glued under it without a blank line are a finding."""
        block = queue[0]
        if len(block) > 1:
            self.add("missing_blank_line", f"put one blank line after {part} (line {block[0] + 1})")
            queue[0] = block[1:]
        else:
            queue.pop(0)

    def check_title(self, i: int) -> None:
        line = self.lines[i]
        if len(line) >= 2 and line[0] == '"' and line[-1] == '"':
            inner = line[1:-1]
        elif len(line) >= 2 and line[0] in DOUBLE_QUOTES and line[-1] in DOUBLE_QUOTES:
            inner = line[1:-1]
            self.add(
                "title_curly_quotes",
                'the title must be in straight double quotes ("..."), not curly or angle quotes',
            )
        else:
            inner = line.strip(DOUBLE_QUOTES)
            self.add(
                "title_quotes",
                'the first line must be the title in straight double quotes, like "Snow Closes '
                'the Harbour"',
            )
        if not inner.strip():
            self.add("title_empty", "the title is empty; write a headline inside the quotes")
            return
        if inner != inner.strip():
            self.add("title_whitespace", "the title starts or ends with spaces inside the quotes")
        if len(inner) > TITLE_MAX_CHARS:
            self.add(
                "title_too_long",
                f"the title has {len(inner)} characters inside the quotes; "
                f"at most {TITLE_MAX_CHARS} are allowed",
            )
        if any(ch in DOUBLE_QUOTES for ch in inner):
            self.add(
                "title_inner_quotes",
                "the title holds double quote marks inside its quotes; remove them "
                "or use single quotes",
            )
        self.note_markdown(inner, i)

    def check_dateline(self, i: int) -> None:
        line = self.lines[i]
        self.note_markdown(line, i)
        if " — " not in line:
            if "—" in line:
                self.add(
                    "dateline_dash",
                    f'the dateline needs one space on each side of the em dash, like "{EXAMPLE_DATELINE}"',
                )
            elif re.search(r"\s-{1,2}\s|[–‒―]", line):
                self.add(
                    "dateline_dash",
                    "the dateline must use an em dash (—) between the place and the date, "
                    "not a hyphen or an en dash",
                )
            else:
                self.add(
                    "dateline_format",
                    f'line {i + 1} must be the dateline, like "{EXAMPLE_DATELINE}"; '
                    f'found "{_clip(line)}"',
                )
            return
        where, _, when = line.rpartition(" — ")
        if "—" in where or not _PLACE.fullmatch(where):
            self.add(
                "dateline_place",
                f'the dateline must start with one city and one region, "City, Region"; '
                f'found "{_clip(where)}"',
            )
        match = _DATE.fullmatch(when)
        if not match:
            self.add(
                "dateline_format",
                f'the date must read "Month D, YYYY", like "March 4, 2025"; found "{_clip(when)}"',
            )
            return
        self.check_date(*match.groups())

    def check_date(self, month_name: str, day_text: str, year_text: str) -> None:
        readable = True
        if month_name not in MONTH_NAMES:
            self.add(
                "dateline_month",
                f'"{month_name}" is not a month name; write the month in full, like "January"',
            )
            readable = False
        if not re.fullmatch(r"[0-9]{4}", year_text) or year_text == "0000":
            self.add(
                "dateline_year", f'the year must have four digits, like 2025; found "{year_text}"'
            )
            readable = False
        if not re.fullmatch(r"[1-9][0-9]?", day_text):
            self.add(
                "dateline_day",
                f'the day must be a number from 1 to 31 without a leading zero; found "{day_text}"',
            )
            readable = False
        if not readable:
            return
        month, day, year = MONTH_NAMES.index(month_name) + 1, int(day_text), int(year_text)
        days_in_month = calendar.monthrange(year, month)[1]
        if day > days_in_month:
            self.add(
                "dateline_day",
                f"{month_name} {year} has no day {day}; it has {days_in_month} days",
            )
            return
        when = date(year, month, day)
        if when > date.today():
            self.add(
                "date_in_future",
                f"the date {format_day(when)} is in the future; use a date {self.rules.describe()}",
            )
        elif not self.rules.earliest <= when <= self.rules.latest:
            self.add(
                "date_out_of_range",
                f"the date {format_day(when)} is outside the allowed dates; "
                f"use a date {self.rules.describe()}",
            )
        allowed = months_for(self.season)
        if month not in allowed:
            self.add(
                "date_season",
                f"the dateline month is {month_name}, but the video looks like {self.season}: "
                f"use {month_list(allowed)}",
            )

    def check_disclaimer(self, queue: list[list[int]]) -> None:
        """Find the disclaimer as the last line and take it off the queue of body paragraphs."""
        wanted = self.rules.disclaimer
        if queue and self.lines[queue[-1][-1]] == wanted:
            last = queue[-1]
            if len(last) > 1:
                self.add(
                    "missing_blank_line",
                    f"put one blank line before the disclaimer (line {last[-1] + 1})",
                )
                queue[-1] = last[:-1]
            else:
                queue.pop()
            return
        if wanted in self.lines:
            message = f'the disclaimer must be the last line: "{wanted}"'
        elif queue and len(queue[-1]) == 1 and looks_like_disclaimer(self.lines[queue[-1][0]]):
            queue.pop()  # a disclaimer in other words: not a body paragraph
            message = f'the last line must be exactly the disclaimer: "{wanted}"'
        else:
            message = f'the story must end with the disclaimer line: "{wanted}"'
        self.add("disclaimer", message)

    def note_markdown(self, line: str, i: int) -> None:
        for rule in markdown_in(line):
            _, numbers = self.markdown.setdefault(rule.code, (rule.name, []))
            if i + 1 not in numbers:
                numbers.append(i + 1)


def _is_control(ch: str) -> bool:
    # Line and paragraph separators (U+2028/9) split lines in some readers but not others.
    return ch not in "\n\r" and unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:8])
    more = f" and {len(numbers) - 8} more" if len(numbers) > 8 else ""
    return f"line{'s' if len(numbers) > 1 else ''} {shown}{more}"


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _verb(numbers: list[int], one: str, many: str) -> str:
    return one if len(numbers) == 1 else many
