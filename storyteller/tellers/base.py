"""The teller interface: evidence (and the video) in, a story that meets the contract out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from storyteller.errors import StorytellerError
from storyteller.pipeline.evidence import Evidence, dateline_season
from storyteller.story.model import Story
from storyteller.story.repair import RepairError, repair
from storyteller.story.rules import StoryRules
from storyteller.story.validator import Finding, validate
from storyteller.tellers.grounding import linked


class TellerError(StorytellerError):
    """A teller could not write a story; `reason` is shown to the user."""

    code = "teller_failed"


class StoryRejected(TellerError):
    """The teller's answer broke the story contract and could not be repaired."""

    def __init__(self, findings: list[Finding]) -> None:
        listed = "; ".join(f.message for f in findings)
        super().__init__(f"the story breaks the contract: {listed}", code="story_invalid")
        self.findings = findings


class Teller(ABC):
    """Writes a draft story from the evidence. Drafts are repaired and validated by `tell`,
    so a teller never delivers a broken story."""

    name: ClassVar[str]

    @abstractmethod
    def draft(
        self, evidence: Evidence, video: Path | None, *, seed: int, rules: StoryRules
    ) -> Story | str:
        """A story in parts, or as text to be parsed."""


def tell(
    teller: Teller, evidence: Evidence, video: Path | None, *, rules: StoryRules, seed: int = 0
) -> Story:
    """Draft, repair, validate and ground its sentences: the one way a story leaves a
    teller."""
    season = dateline_season(evidence.season)
    try:
        story = repair(teller.draft(evidence, video, seed=seed, rules=rules), rules, season)
    except RepairError as exc:
        raise TellerError(
            f"the story could not be repaired: {exc.reason}", code="story_invalid"
        ) from exc
    findings = validate(story.text, rules, season)
    if findings:
        raise StoryRejected(findings)
    return linked(story, evidence)
