"""One video to one story: gather the evidence, let a teller write, keep failures as reasons."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from storyteller.config import Settings
from storyteller.pipeline.evidence import Evidence
from storyteller.pipeline.run import StageFailed, gather_evidence
from storyteller.pipeline.stage import Progress, VideoRejected, no_progress
from storyteller.story.model import Story
from storyteller.story.rules import StoryRules
from storyteller.tellers.base import TellerError, tell
from storyteller.tellers.registry import get_teller


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
    # Tokens a remote teller spent before it failed (a story carries its own usage).
    tokens_in: int = 0
    tokens_out: int = 0

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
            {"start_s": s.start_s, "end_s": s.end_s, "keyframe_s": s.keyframe_s, "faces": s.faces}
            for s in evidence.scenes
        ],
        "faces": evidence.max_faces,
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
    seed: int = 0,
    name: str | None = None,
    progress: Progress = no_progress,
) -> Telling:
    """Turn one video into a story. Never raises for a bad video or a teller's failure:
    those come back as a failed `Telling` with the reason."""
    started = time.perf_counter()
    teller_name = teller_name or settings.default_teller
    result = Telling(file=name or path.name, status="failed", teller=teller_name)
    try:
        teller = get_teller(teller_name, settings)
        result.evidence = gather_evidence(path, settings, name=name, progress=progress)
        rules = StoryRules.from_settings(settings)
        result.story = tell(teller, result.evidence, path, rules=rules, seed=seed)
        result.status = "completed"
    except VideoRejected as exc:
        result.error, result.error_code = exc.reason, exc.code
    except (StageFailed, TellerError) as exc:
        result.error, result.error_code = exc.reason, exc.code
        result.retryable = exc.code != "unknown_teller"
        usage = getattr(exc, "usage", None)  # a remote teller's, see tellers/remote.py
        if usage is not None:
            result.tokens_in, result.tokens_out = usage.tokens_in, usage.tokens_out
    except (OSError, ValueError) as exc:
        result.error, result.error_code = f"{result.file}: {exc}", "unreadable"
        result.retryable = True
    result.seconds = time.perf_counter() - started
    return result
