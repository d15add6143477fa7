"""Job functions for the service benchmarks, named `bench.jobs:...` for the worker processes."""

from __future__ import annotations

import time
from datetime import date

from storyteller.config import Settings
from storyteller.jobs.attempt import Attempt, Result
from storyteller.jobs.work import JobProgress
from storyteller.story.model import Story

INSTANT = "bench.jobs:instant"


def instant(job: Attempt, settings: Settings, progress: JobProgress) -> Result:
    """A teller that answers at once: what is left is the engine's own cost."""
    return Result(
        story=Story(
            title=f"Story of {job.name}",
            place="Banff",
            region="Alberta",
            date=date(2025, 1, 14),
            paragraphs=["First paragraph.", "Second paragraph.", "Third paragraph."],
            disclaimer=settings.disclaimer,
        )
    )


WAIT_1S = "bench.jobs:wait_1s"
WAIT_LONG = "bench.jobs:wait_long"


def wait_1s(job: Attempt, settings: Settings, progress: JobProgress) -> Result:
    """A teller that waits 1 s for its answer, as a remote model does: no CPU, only time."""
    time.sleep(1.0)
    return instant(job, settings, progress)


def wait_long(job: Attempt, settings: Settings, progress: JobProgress) -> Result:
    """A video that takes ten minutes, reporting progress every second (the recovery bench
    kills its worker long before it ends)."""
    for second in range(600):
        progress("scenes", second / 600)
        time.sleep(1.0)
    return instant(job, settings, progress)
