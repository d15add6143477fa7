"""The rules a story is held to that are settings: which dates a dateline may carry, the disclaimer."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from storyteller.config import Settings
from storyteller.story.model import MONTH_NAMES
from storyteller.story.season import Season, months_for

# A disclaimer says who wrote the story (a machine) and what it is for (entertainment,
# fiction); a body paragraph rarely says both, so both are needed to call a line one.
_WHO = re.compile(
    r"\b(?:ai|a\.i\.|artificial intelligence|language model|generated|machine[- ]written)\b",
    re.IGNORECASE,
)
_WHAT = re.compile(
    r"\b(?:entertainment|fiction|fictional|fictionalized|illustrative|not real|story)\b",
    re.IGNORECASE,
)
_LABEL = re.compile(r"^\W*disclaimer\b", re.IGNORECASE)
_DISCLAIMER_MAX_CHARS = 400


def looks_like_disclaimer(text: str) -> bool:
    """Whether a paragraph reads like a model-written disclaimer (AI-made, for entertainment)."""
    text = text.strip()
    if not text or len(text) > _DISCLAIMER_MAX_CHARS:
        return False
    return bool(_LABEL.match(text)) or bool(_WHO.search(text) and _WHAT.search(text))


def month_list(months: frozenset[int]) -> str:
    """Month numbers as words in calendar order: 'December, January or February'."""
    ordered = sorted(months)
    if 1 in months and 12 in months and len(months) < 12:
        # A winter reads from December on, the way people say it.
        ordered = [12] + [m for m in ordered if m != 12]
    names = [MONTH_NAMES[m - 1] for m in ordered]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def format_day(when: date) -> str:
    """A date the way the dateline writes it: 'March 4, 2025'."""
    return f"{MONTH_NAMES[when.month - 1]} {when.day}, {when.year}"


@dataclass(frozen=True)
class StoryRules:
    """Dates a dateline may carry (`earliest`..`latest`, never after today) and the disclaimer."""

    earliest: date
    latest: date
    disclaimer: str

    def __post_init__(self) -> None:
        if self.earliest > self.latest:
            raise ValueError(
                f"no dateline date is allowed: the range starts {self.earliest} "
                f"and ends {self.latest}"
            )

    @classmethod
    def from_settings(cls, settings: Settings, today: date | None = None) -> StoryRules:
        earliest, latest = settings.story_date_range(today)
        return cls(earliest=earliest, latest=latest, disclaimer=settings.disclaimer)

    @property
    def last_allowed(self) -> date:
        """The latest date a story may carry: `latest`, unless that is still in the future."""
        return min(self.latest, date.today())

    def allows(self, when: date, season: Season | str | None = Season.NEUTRAL) -> bool:
        """Whether a dateline may carry this date for a video of this season."""
        return self.earliest <= when <= self.last_allowed and when.month in months_for(season)

    def allowed_spans(
        self, season: Season | str | None = Season.NEUTRAL
    ) -> list[tuple[date, date]]:
        """The allowed dates as one (first, last) span per calendar month, oldest first."""
        months = months_for(season)
        spans: list[tuple[date, date]] = []
        year, month = self.earliest.year, self.earliest.month
        last = self.last_allowed
        while (year, month) <= (last.year, last.month):
            month_end = date(year, month, calendar.monthrange(year, month)[1])
            first_day, last_day = max(self.earliest, date(year, month, 1)), min(last, month_end)
            if month in months and first_day <= last_day:
                spans.append((first_day, last_day))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return spans

    def allowed_dates(self, season: Season | str | None = Season.NEUTRAL) -> list[date]:
        """Every date a dateline may carry for this season, oldest first (empty if none)."""
        return [
            date.fromordinal(day)
            for first, last in self.allowed_spans(season)
            for day in range(first.toordinal(), last.toordinal() + 1)
        ]

    def nearest_allowed(
        self, when: date, season: Season | str | None = Season.NEUTRAL
    ) -> date | None:
        """The allowed date closest to `when` (itself if allowed), or None if none is allowed.

        Each allowed month offers the same day of the month (clamped to the month and the
        range). When `when`'s own month agrees with the season, only that month's candidates
        in other years count: a story about the Fourth of July stays in July. Ties go to the
        earlier date, so the answer never depends on anything but the arguments.
        """
        if self.allows(when, season):
            return when
        candidates = [
            _clamp(_same_day_in(first.year, first.month, when.day), first, last)
            for first, last in self.allowed_spans(season)
        ]
        same_month = [c for c in candidates if c.month == when.month]
        pool = same_month or candidates
        if not pool:
            return None
        return min(pool, key=lambda c: (abs((c - when).days), c))

    def describe(self, season: Season | str | None = Season.NEUTRAL) -> str:
        """The allowed dates in words, for messages: 'from March 1, 2025 to ...'."""
        text = f"from {format_day(self.earliest)} to {format_day(self.last_allowed)}"
        if Season(season or Season.NEUTRAL) is not Season.NEUTRAL:
            text += f", in {month_list(months_for(season))}"
        return text


def _same_day_in(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _clamp(when: date, first: date, last: date) -> date:
    return max(first, min(when, last))
