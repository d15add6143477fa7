"""The story: the parts every story is made of, and its rendering as plain text."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

TITLE_MAX_CHARS = 45
MIN_PARAGRAPHS = 3


def format_dateline(place: str, region: str, when: date) -> str:
    """`City, Region — Month D, YYYY`: an em dash with a space each side."""
    return f"{place}, {region} — {MONTH_NAMES[when.month - 1]} {when.day}, {when.year}"


class SourceKind(StrEnum):
    """What a sentence stands on: a line spoken, text on screen, or what a shot shows."""

    SPEECH = "speech"
    TEXT = "text"
    SCENE = "scene"


class Source(BaseModel):
    """A moment of the video a sentence stands on (seconds from its start)."""

    # Written as the API writes its fields (`startS`); read under either name.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    kind: SourceKind
    start_s: float = Field(ge=0, description="Where it starts, in seconds from the start.")
    end_s: float = Field(ge=0, description="Where it ends; never before `startS`.")


class Sentence(BaseModel):
    """One sentence of the story's body and the moments it stands on. The sentences of a
    paragraph joined with single spaces give the paragraph back exactly."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    text: str
    paragraph: int = Field(ge=0, description="Which body paragraph it is in, from 0.")
    sources: list[Source] = Field(
        default_factory=list,
        description="The evidence it stands on; empty when it states what is not known "
        "or its teller did not say.",
    )


class Story(BaseModel):
    """A story in parts. `text` is what users read, copy and export."""

    title: str = Field(description="Headline without the surrounding quotes.")
    place: str = Field(description="City of the dateline.")
    region: str = Field(description="Region, state or country of the dateline.")
    date: date
    paragraphs: list[str] = Field(description="Body paragraphs, plain text, at least three.")
    disclaimer: str
    sentences: list[Sentence] = Field(
        default_factory=list,
        description="The body's sentences with their sources, when the teller recorded them.",
    )

    @property
    def dateline(self) -> str:
        return format_dateline(self.place, self.region, self.date)

    @property
    def text(self) -> str:
        blocks = [f'"{self.title}"', self.dateline, *self.paragraphs, self.disclaimer]
        return "\n\n".join(blocks)
