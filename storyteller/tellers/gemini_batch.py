"""Gemini Batch Mode: a video's request written now and sent later in a group (half price,
answers within hours), and each answer read back as the gemini teller reads its own."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from storyteller.config import Settings
from storyteller.pipeline.evidence import Evidence
from storyteller.story.rules import StoryRules
from storyteller.tellers.gemini import PROVIDER, GeminiTeller, reply_of
from storyteller.tellers.remote import RemoteTellerError, Reply, story_prompt

log = logging.getLogger(__name__)

# A Batch Mode job's states, as google-genai names them.
DONE = "JOB_STATE_SUCCEEDED"
ENDED_WITHOUT_ANSWERS = frozenset({"JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"})
# Room left in a Batch Mode job for the prompt and the JSON around a video sent inline.
PROMPT_ROOM_BYTES = 200_000
# google.rpc codes (and their HTTP forms) of a request that is wrong, not unlucky: sending
# it again will not help.
REFUSED_CODES = frozenset({3, 5, 7, 16, 400, 401, 403, 404})


def in_batch_mode(settings: Settings, teller: str, priority: str) -> bool:
    """Whether a video goes through Gemini Batch Mode (low priority, gemini, when on)."""
    return settings.gemini_batch_mode and teller == "gemini" and priority == "low"


@dataclass(frozen=True)
class BatchRequest:
    """What a worker hands back for Batch Mode: the model, the request as google-genai's
    JSON (an InlinedRequest) and the video's file on the Files API, if it was uploaded."""

    model: str
    request: str
    file_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "request": self.request, "file_name": self.file_name}


def inline_limit(settings: Settings) -> float:
    """Largest video sent inside a Batch Mode request: the teller's limit, and small enough
    that the request (base64, a third larger) fits a Batch Mode job on its own."""
    room = (settings.gemini_batch_max_mb * 1_000_000 - PROMPT_ROOM_BYTES) * 3 / 4
    return max(0.0, min(settings.gemini_inline_max_mb * 1_000_000, room))


def batch_request(
    teller: GeminiTeller, evidence: Evidence, video: Path, *, seed: int, rules: StoryRules
) -> BatchRequest:
    """The request the gemini teller would send first for this video, kept to be sent in a
    Batch Mode job. A large video is uploaded (and ready) first; its file is the caller's
    to delete once the request has its answer."""
    types = teller._types
    part, file_name = teller.video_part(
        evidence, video, inline_max_bytes=inline_limit(teller.settings)
    )
    request = types.InlinedRequest(
        model=teller.model,
        contents=[
            types.Content(role="user", parts=[part, types.Part(text=story_prompt(evidence, rules))])
        ],
        config=teller.generation_config(seed),
    )
    return BatchRequest(teller.model, request.model_dump_json(exclude_none=True), file_name)


def reask_request(
    request: str, evidence: Evidence, rules: StoryRules, *, problems: Sequence[str], previous: str
) -> str:
    """The same request asking again with what was wrong with the previous answer, as the
    gemini teller asks again."""
    from google.genai import types

    inlined = types.InlinedRequest.model_validate_json(request)
    prompt = story_prompt(evidence, rules, problems=problems, previous=previous)
    contents = cast(list[Any], inlined.contents or [])
    for content in contents:
        for part in content.parts or []:
            if part.text is not None:
                part.text = prompt
    return inlined.model_dump_json(exclude_none=True)


class ItemFailed(RemoteTellerError):
    """One request of a Batch Mode job has no story; `retry` says whether sending it again
    can help."""

    def __init__(self, reason: str, *, code: str, retry: bool, usage: Any = None) -> None:
        super().__init__(reason, code=code, usage=usage)
        self.retry = retry


def read_answer(inlined: Any) -> Reply:
    """The text of one answer of a Batch Mode job (an InlinedResponse), with its tokens.
    Raises ItemFailed."""
    if inlined is None:
        raise ItemFailed(
            f"{PROVIDER} Batch Mode gave no answer to it", code="batch_item", retry=True
        )
    if inlined.error is not None:
        code = int(inlined.error.code or 0)
        message = " ".join((inlined.error.message or "no message").split())[:300]
        raise ItemFailed(
            f"{PROVIDER} Batch Mode could not answer it ({code}): {message}",
            code="batch_item",
            retry=code not in REFUSED_CODES,
        )
    if inlined.response is None:
        raise ItemFailed(
            f"{PROVIDER} Batch Mode gave no answer to it", code="batch_item", retry=True
        )
    try:
        return reply_of(inlined.response)
    except RemoteTellerError as exc:
        raise ItemFailed(
            exc.reason, code=exc.code, retry=exc.code != "blocked", usage=exc.usage
        ) from exc


@dataclass(frozen=True)
class JobState:
    """A Batch Mode job as last seen: its state, and once it succeeded, its answers by the
    key each request was sent with."""

    name: str
    state: str
    answers: dict[str, Any]
    error: str | None = None


class BatchModeClient:
    """Gemini's Batch Mode API through the gemini teller's client, retries and failures."""

    def __init__(self, settings: Settings) -> None:
        self.teller = GeminiTeller(settings)
        self._types = self.teller._types

    def submit(self, model: str, requests: Sequence[tuple[str, str]], *, display_name: str) -> str:
        """Send `requests` (key, request JSON) as one Batch Mode job; its name."""
        types = self._types
        inlined = []
        for key, text in requests:
            request = types.InlinedRequest.model_validate_json(text)
            request.metadata = {"key": key}
            inlined.append(request)
        config = types.CreateBatchJobConfig(display_name=display_name[:128])
        client = self.teller.client
        job = self.teller.call(
            lambda: client.batches.create(model=model, src=inlined, config=config)
        )
        if not job.name:
            raise RemoteTellerError(f"{PROVIDER} Batch Mode gave the job no name")
        return str(job.name)

    def get(self, name: str, keys: Sequence[str]) -> JobState:
        """The job's state; once done, its answers by key (by order for answers without
        one: Gemini keeps the order of the requests)."""
        client = self.teller.client
        job = self.teller.call(lambda: client.batches.get(name=name))
        state = str(getattr(job.state, "name", job.state) or "JOB_STATE_UNSPECIFIED")
        answers: dict[str, Any] = {}
        if state == DONE and job.dest is not None:
            for position, inlined in enumerate(job.dest.inlined_responses or []):
                key = (inlined.metadata or {}).get("key")
                if key is None and position < len(keys):
                    key = keys[position]
                if key is not None:
                    answers[str(key)] = inlined
        error = job.error.message if job.error is not None else None
        return JobState(name=name, state=state, answers=answers, error=error)

    def cancel(self, name: str) -> None:
        """Ask Gemini to stop a job (best effort: it may have finished meanwhile)."""
        client = self.teller.client
        try:
            self.teller.call(lambda: client.batches.cancel(name=name))
        except Exception as exc:
            log.warning("could not cancel the Batch Mode job %s: %s", name, exc)

    def delete_file(self, name: str) -> None:
        self.teller.delete_file(name)
