"""The two shapes a video takes through the engine: the `Attempt` a worker claimed, and its `Result`.

The queue hands out attempts, a job function turns one into a result, and the queue
keeps the result as it is: a story (with the evidence behind it), or a failure with its
cause and reason, plus one `Usage` record of what a provider counted. No other copy of
these fields exists on the way from the video row to the story row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storyteller.db.models import ErrorCause, Priority
from storyteller.pipeline.evidence import Evidence
from storyteller.story.model import Story


@dataclass(frozen=True)
class Attempt:
    """A video handed to a worker: what the work needs, and the claim's identity (every
    change the worker makes is conditional on `video_id`, `worker_id` and `number`)."""

    video_id: str
    batch_id: str
    worker_id: str
    number: int  # 1 for the first attempt
    key: str  # the video's key in the storage every process reaches ("" if never stored)
    name: str  # the file's name as uploaded
    content_hash: str
    teller: str
    seed: int
    model: str | None = None  # None: the teller's configured model
    priority: Priority = Priority.NORMAL


@dataclass(frozen=True)
class Usage:
    """What a provider counted for one attempt, and what that cost (None: no price known)."""

    teller: str
    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None

    @property
    def spent(self) -> bool:
        return bool(self.tokens_in or self.tokens_out)


@dataclass(frozen=True)
class Failure:
    """Why an attempt wrote no story. `cause` tells the video's fault from ours (or a
    provider's); `retryable` whether another attempt may help."""

    reason: str
    code: str = "failed"
    cause: ErrorCause = ErrorCause.SERVICE
    retryable: bool = False


@dataclass(frozen=True)
class Result:
    """What became of an attempt: a story, a failure, or (`later`) a request whose answer
    comes later, handed to the engine's `later` hook (Gemini Batch Mode)."""

    story: Story | None = None
    failure: Failure | None = None
    evidence: Evidence | None = None
    evidence_fingerprint: str | None = None
    usage: Usage | None = None
    later: dict[str, Any] | None = None

    @classmethod
    def failed(
        cls,
        reason: str,
        code: str,
        *,
        cause: ErrorCause = ErrorCause.SERVICE,
        retryable: bool,
        usage: Usage | None = None,
    ) -> Result:
        return cls(failure=Failure(reason, code, cause, retryable), usage=usage)

    @property
    def why(self) -> Failure:
        """The failure, or one that says no story was written (a result with neither)."""
        return self.failure or Failure("no story was written")
