"""One video to one story: gather the evidence, let a teller write, keep failures as reasons."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from storyteller.config import Settings
from storyteller.pipeline.cache import analysis_fingerprint
from storyteller.pipeline.evidence import Evidence
from storyteller.pipeline.run import StageFailed, gather_evidence
from storyteller.pipeline.stage import Progress, VideoRejected, no_progress
from storyteller.story.model import Story
from storyteller.story.rules import StoryRules
from storyteller.tellers.base import TellerError, tell
from storyteller.tellers.pricing import cost_usd
from storyteller.tellers.registry import configured_model, get_teller, with_model
from storyteller.tellers.remote import model_of, usage_of

# Failures that name a teller or model this service does not have: neither the video's
# fault nor worth trying again.
SETTINGS_FAULTS = frozenset({"unknown_teller", "no_models"})


@dataclass
class Telling:
    """What became of one video: a story and its evidence, or the reason it failed."""

    file: str
    status: Literal["completed", "failed"]
    teller: str
    story: Story | None = None
    evidence: Evidence | None = None
    error: str | None = None
    error_code: str | None = None
    # Whether trying again may help: not for a file that is not a video, yes for a
    # stage that broke or a teller that could not answer.
    retryable: bool = False
    seconds: float = 0.0
    # The model that wrote it, or was to (None for a teller without models), what it
    # spent (before it failed, too) and what that cost (None: no price known).
    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    # Which analysis settings the evidence was gathered with (see pipeline/cache.py).
    evidence_fingerprint: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The `--json` line of `storyteller tell`."""
        story, evidence = self.story, self.evidence
        return {
            "file": self.file,
            "status": self.status,
            "teller": self.teller,
            "story": story.text if story else None,
            "title": story.title if story else None,
            "place": story.place if story else None,
            "region": story.region if story else None,
            "date": story.date.isoformat() if story else None,
            "paragraphs": story.paragraphs if story else None,
            "disclaimer": story.disclaimer if story else None,
            "season": evidence.season.season.value if evidence else None,
            "evidence": evidence_summary(evidence) if evidence else None,
            "error": self.error,
            "error_code": self.error_code,
            "seconds": round(self.seconds, 3),
        }


def evidence_summary(evidence: Evidence) -> dict[str, Any]:
    """The evidence behind a story in a compact form: what was heard, read and seen."""
    transcript = evidence.transcript
    return {
        "duration_s": evidence.media.duration_s,
        "transcript": transcript.text if transcript else "",
        "language": transcript.language if transcript else None,
        "speech_note": evidence.speech_note,
        "on_screen_text": [line.text for line in evidence.on_screen_text],
        "scenes": [
            {
                "start_s": s.start_s,
                "end_s": s.end_s,
                "keyframe_s": s.keyframe_s,
                "faces": s.faces,
                "people": s.people,
                "people_where": s.people_where,
                "people_moving": s.people_moving,
                "camera": s.camera,
                "movement": s.movement,
            }
            for s in evidence.scenes
        ],
        "faces": evidence.max_faces,
        "people": evidence.max_people,
        "season": evidence.season.model_dump(mode="json"),
        "look": evidence.look.model_dump(mode="json") if evidence.look else None,
        "media": evidence.media.model_dump(mode="json"),
        "timings": evidence.timings,
    }


def tell_video(
    path: Path,
    settings: Settings,
    *,
    teller_name: str | None = None,
    model: str | None = None,
    seed: int = 0,
    name: str | None = None,
    progress: Progress = no_progress,
) -> Telling:
    """Turn one video into a story (by `model` of the teller, when given). Never raises
    for a bad video or a teller's failure: those come back as a failed `Telling` with
    the reason, and what a remote teller spent on the way."""
    started = time.perf_counter()
    teller_name = teller_name or settings.default_teller
    result = Telling(file=name or path.name, status="failed", teller=teller_name)
    with reasons_kept(result):
        if model:
            settings = with_model(settings, teller_name, model)
        result.model = configured_model(teller_name, settings)
        teller = get_teller(teller_name, settings)
        result.evidence = gather_evidence(path, settings, name=name, progress=progress)
        result.evidence_fingerprint = analysis_fingerprint(settings)
        rules = StoryRules.from_settings(settings)
        progress("telling", 0.0)
        result.story = tell(teller, result.evidence, path, rules=rules, seed=seed)
        progress("telling", 1.0)
        result.status = "completed"
        result.model = model_of(result.story) or result.model
        usage = usage_of(result.story)
        if usage is not None:
            result.tokens_in, result.tokens_out = usage.tokens_in, usage.tokens_out
    if result.model and (result.tokens_in or result.tokens_out):
        result.cost_usd = cost_usd(
            settings, teller_name, result.model, result.tokens_in, result.tokens_out
        )
    result.seconds = time.perf_counter() - started
    return result


@contextmanager
def reasons_kept(result: Telling) -> Iterator[None]:
    """What can go wrong in telling a video, kept in `result` as its reason (and whether
    trying again may help) instead of raised: the one place these errors are read."""
    try:
        yield
    except VideoRejected as exc:
        result.error, result.error_code = exc.reason, exc.code
    except (StageFailed, TellerError) as exc:
        result.error, result.error_code = exc.reason, exc.code
        result.retryable = exc.code not in SETTINGS_FAULTS
        usage = getattr(exc, "usage", None)  # a remote teller's, see tellers/remote.py
        if usage is not None:
            result.tokens_in, result.tokens_out = usage.tokens_in, usage.tokens_out
    except (OSError, ValueError) as exc:
        result.error, result.error_code = f"{result.file}: {exc}", "unreadable"
        result.retryable = True
