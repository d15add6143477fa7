"""Job functions for the service benchmarks, named `bench.jobs:...` for the worker processes."""

from __future__ import annotations

from datetime import date

from storyteller.config import Settings
from storyteller.jobs.work import Job, JobProgress, JobResult
from storyteller.story.model import Story

INSTANT = "bench.jobs:instant"


def instant(job: Job, settings: Settings, progress: JobProgress) -> JobResult:
    """A teller that answers at once: what is left is the engine's own cost."""
    return JobResult(
        story=Story(
            title=f"Story of {job.name}",
            place="Banff",
            region="Alberta",
            date=date(2025, 1, 14),
            paragraphs=["First paragraph.", "Second paragraph.", "Third paragraph."],
            disclaimer=settings.disclaimer,
        )
    )
