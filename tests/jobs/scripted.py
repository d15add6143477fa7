"""Job functions for engine tests, run inside real worker processes. What a job does is
written in its video's name: `ok.mp4` answers at once, `sleep-5.mp4` works for 5 s,
`crash.mp4` kills its worker, `raise.mp4` raises, `reject.mp4` fails as a bad video,
`spend-0.25.mp4` answers with a story that cost $0.25, `waste-0.25.mp4` fails after
spending $0.25 (a model whose answers broke the contract).
Every run is appended to `runs.log` in the data folder, so tests can count them."""

from __future__ import annotations

import os
import time
from datetime import date

from storyteller.config import Settings
from storyteller.db.models import ErrorCause
from storyteller.jobs.attempt import Attempt, Result, Usage
from storyteller.jobs.work import JobProgress
from storyteller.story.model import Story

SCRIPTED = "tests.jobs.scripted:scripted"


def a_story(name: str) -> Story:
    return Story(
        title=f"Story of {name}",
        place="Banff",
        region="Alberta",
        date=date(2025, 1, 14),
        paragraphs=["First paragraph.", "Second paragraph.", "Third paragraph."],
        disclaimer="This story was written by AI from the video and is for entertainment only.",
    )


def runs(settings: Settings) -> list[str]:
    """Video ids of every job run so far, in order."""
    log = settings.data_dir / "runs.log"
    return log.read_text().split() if log.exists() else []


def scripted(job: Attempt, settings: Settings, progress: JobProgress) -> Result:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / "runs.log", "a") as log:
        log.write(job.video_id + "\n")
    action, _, argument = job.name.removesuffix(".mp4").partition("-")
    if action == "sleep":
        seconds = float(argument)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            progress("scenes", 1 - (end - time.monotonic()) / seconds)
            time.sleep(0.05)
    elif action == "crash":
        os._exit(3)
    elif action == "raise":
        raise RuntimeError("the scripted job broke")
    elif action == "reject":
        return Result.failed(
            f"{job.name} is not a video", "not_a_video", cause=ErrorCause.VIDEO, retryable=False
        )
    elif action == "waste":
        return Result.failed(
            "the story breaks the contract: the title is 60 characters",
            "story_invalid",
            retryable=False,
            usage=Usage(job.teller, "gemini-test", 1000, 200, float(argument)),
        )
    elif action == "spend":
        return Result(story=a_story(job.name), usage=Usage(job.teller, None, 1, 1, float(argument)))
    return Result(story=a_story(job.name))
