"""The stage contract: every step from video to evidence is a `Stage` run on a `Context`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from storyteller.config import Settings
from storyteller.errors import StorytellerError
from storyteller.pipeline.evidence import (
    Look,
    MediaInfo,
    Scene,
    ScreenText,
    SeasonGuess,
    SpeechNote,
    Transcript,
)

# Called as progress(stage_name, fraction_done) with fraction_done in 0..1.
Progress = Callable[[str, float], None]


def no_progress(stage: str, fraction: float) -> None:
    """The progress callback of callers that do not show progress."""


class VideoRejected(StorytellerError):
    """The file cannot be turned into a story; `reason` says why in words a user can act on."""

    code = "not_a_video"


@dataclass
class Context:
    """What the stages share while one video is analysed; stages fill it in order."""

    path: Path
    settings: Settings
    progress: Progress = no_progress
    # The name the user knows the file by (an upload keeps its original name).
    name: str = ""
    media: MediaInfo | None = None
    scenes: list[Scene] = field(default_factory=list)
    # Full-resolution RGB keyframe of each scene, by scene index (not serialised).
    keyframes: dict[int, np.ndarray] = field(default_factory=dict)
    # Small RGB frames sampled evenly during the scene pass, as (time, frame), for the
    # look stage; kept small so a long video's samples stay a few tens of megabytes.
    samples: list[tuple[float, np.ndarray]] = field(default_factory=list)
    # More full-resolution RGB frames of a scene kept by the scene pass, by scene index, as
    # (time, frame): the text stage reads them instead of seeking back (not serialised).
    extra_frames: dict[int, list[tuple[float, np.ndarray]]] = field(default_factory=dict)
    # Height of the largest face in each scene's keyframe, as a share of the picture's.
    largest_face: dict[int, float] = field(default_factory=dict)
    transcript: Transcript | None = None
    speech_note: SpeechNote | None = None
    on_screen_text: list[ScreenText] = field(default_factory=list)
    look: Look | None = None
    season: SeasonGuess | None = None

    def __post_init__(self) -> None:
        self.name = self.name or self.path.name


class Stage(Protocol):
    """One step of the pipeline. `run` reads what earlier stages left in the context
    and adds its own part; it reports progress through `ctx.progress(self.name, f)`."""

    name: str

    def run(self, ctx: Context) -> None: ...


class SceneWork:
    """A stage that works scene by scene on the keyframes (faces, people, on-screen text).

    `scene` does one scene whose keyframe is in `ctx.keyframes`; `finish` runs once all are
    done. The pipeline calls `scene` as the scene pass closes each scene (on another
    thread), then `finish`; `run`, the `Stage` contract, does the same for scenes already
    found. Both go through the same two methods."""

    name: str = ""

    def scene(self, ctx: Context, scene: Scene) -> None:
        raise NotImplementedError

    def finish(self, ctx: Context) -> None:
        ctx.progress(self.name, 1.0)

    def run(self, ctx: Context) -> None:
        total = max(1, len(ctx.scenes))
        for done, scene in enumerate(ctx.scenes, start=1):
            self.scene(ctx, scene)
            ctx.progress(self.name, min(0.99, done / total))
        self.finish(ctx)
