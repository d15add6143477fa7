"""The story: the parts every story is made of, and its rendering as plain text."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

TITLE_MAX_CHARS = 45
MIN_PARAGRAPHS = 3


def format_dateline(place: str, region: str, when: date) -> str:
    """`City, Region — Month D, YYYY`: an em dash with a space each side."""
    return f"{place}, {region} — {MONTH_NAMES[when.month - 1]} {when.day}, {when.year}"


class Story(BaseModel):
    """A story in parts. `text` is what users read, copy and export."""

    title: str = Field(description="Headline without the surrounding quotes.")
    place: str = Field(description="City of the dateline.")
    region: str = Field(description="Region, state or country of the dateline.")
    date: date
    paragraphs: list[str] = Field(description="Body paragraphs, plain text, at least three.")
    disclaimer: str

    @property
    def dateline(self) -> str:
        return format_dateline(self.place, self.region, self.date)

    @property
    def text(self) -> str:
        blocks = [f'"{self.title}"', self.dateline, *self.paragraphs, self.disclaimer]
        return "\n\n".join(blocks)
