"""The stages a video goes through, as people are told them, and one progress figure for all.

A stage's code (`probe`, `scenes`, ...) is what a stage reports and what the API's
`stage` field keeps; its label is the product's words for it (`stageLabel`). Some stages
run side by side (speech beside the picture stages), so the overall fraction is the sum
of each stage's share of the work times its own fraction done: it only ever grows while
one attempt runs. This module imports nothing heavy: the web process reads the labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StageInfo:
    code: str
    label: str
    # Share of one video's work: each stage's time over the sum of all stages' times,
    # measured on the 7.6 s speech clip and the 60 s benchmark clip (`Evidence.timings`;
    # docs/benchmarks.md), rounded; telling is the local teller's second plus room for
    # an AI teller's answer.
    weight: float


# Before telling, in the order their labels are shown when several run at once.
ANALYSIS: tuple[StageInfo, ...] = (
    StageInfo("probe", "reading the file", 0.01),
    StageInfo("scenes", "finding the shots", 0.25),
    StageInfo("text", "reading the text on screen", 0.25),
    StageInfo("faces", "looking at the pictures", 0.03),
    StageInfo("people", "looking at the pictures", 0.03),
    StageInfo("motion", "looking at the pictures", 0.01),
    StageInfo("look", "looking at the pictures", 0.01),
    StageInfo("speech", "listening", 0.33),
)
STAGES: tuple[StageInfo, ...] = (
    *ANALYSIS,
    StageInfo("telling", "writing the story", 0.08),
    # Bytes analysed before: the evidence is read back, standing for every stage above.
    StageInfo("cache", "remembering what was seen before", sum(stage.weight for stage in ANALYSIS)),
    # Gemini Batch Mode: the request waits at Gemini (hours at most) for its answer.
    StageInfo("batch", "waiting for Gemini Batch Mode", 0.0),
)
BY_CODE = {stage.code: stage for stage in STAGES}


# A claimed video before its first stage reports (its worker is opening the file).
STARTING = "starting"


def stage_label(code: str | None) -> str:
    """The words for a stage code (the code itself for one this list does not know)."""
    if code is None:
        return STARTING
    known = BY_CODE.get(code)
    return known.label if known else code


class OverallProgress:
    """Turns each stage's own progress into one fraction for the whole video and the stage
    to show: `report(fraction, stage)`. The fraction never goes back; the stage shown is
    the first unfinished one in the order above (the shots before listening while both
    run), so the label does not flicker between stages running side by side."""

    def __init__(self, report: Callable[[float, str], None]) -> None:
        self.done: dict[str, float] = {}
        self.report = report
        self.reported = 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        self.done[stage] = max(self.done.get(stage, 0.0), fraction)
        overall = sum(self._weight(code) * done for code, done in self.done.items())
        self.reported = max(self.reported, min(1.0, overall))
        self.report(self.reported, self.showing(stage))

    def showing(self, latest: str) -> str:
        for info in STAGES:
            if self.done.get(info.code, 1.0) < 1.0:
                return info.code
        return latest

    @staticmethod
    def _weight(code: str) -> float:
        known = BY_CODE.get(code)
        return known.weight if known else 0.0
