"""The openai teller: any OpenAI-compatible chat model looks at the keyframes and writes the story
from them and the evidence."""

from __future__ import annotations

import base64
import functools
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from storyteller.config import Settings
from storyteller.pipeline.cache import EvidenceCache
from storyteller.pipeline.evidence import Evidence, Scene
from storyteller.tellers.gate import RequestGate, gate_for
from storyteller.tellers.remote import (
    STORY_SCHEMA,
    Ask,
    Failure,
    RemoteTeller,
    RemoteTellerError,
    Reply,
    RetryPolicy,
    Usage,
    failure_for_status,
    parse_retry_after,
)

log = logging.getLogger(__name__)

PROVIDER = "OpenAI"
# Local servers (Ollama, vLLM, LM Studio) ignore the key, but the client insists on one.
_NO_KEY = "not-needed"

# How the answer's JSON is asked for, best first: a JSON schema the server enforces, any JSON
# object, or only the prompt's word. A server that refuses one is asked the next way.
JSON_SCHEMA, JSON_OBJECT, PLAIN = "json_schema", "json_object", "plain"
FORMATS = (JSON_SCHEMA, JSON_OBJECT, PLAIN)


def _closed(schema: Any) -> Any:
    """`schema` with every object in it closed (`additionalProperties: false`), as OpenAI's
    strict structured output wants (Gemini's schema has no such keyword)."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    if schema.get("type") == "object":
        closed["additionalProperties"] = False
    return closed


_STRICT_SCHEMA: dict[str, Any] = _closed(STORY_SCHEMA)


class _FormatRefused(Exception):
    """The server answered 400 to the response_format asked for."""


@functools.lru_cache(maxsize=8)
def _client(api_key: str, base_url: str | None, timeout_s: float) -> Any:
    """One client per key, endpoint and timeout in a process, shared by its videos (making
    one loads the certificate bundle; its connection pool is worth keeping too)."""
    import openai

    # max_retries=0: the client's own retries would stack under ours, outside the gate.
    return openai.OpenAI(
        api_key=api_key, base_url=base_url or None, timeout=timeout_s, max_retries=0
    )


class OpenAITeller(RemoteTeller):
    """Sends the video's keyframes as images and the evidence to an OpenAI-compatible chat
    completions API and asks for the story as JSON in the story schema."""

    name: ClassVar[str] = "openai"
    provider: ClassVar[str] = PROVIDER

    def __init__(
        self,
        settings: Settings,
        *,
        retry: RetryPolicy | None = None,
        gate: RequestGate | None = None,
    ) -> None:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        if not key and not settings.openai_base_url:
            raise RemoteTellerError(
                "set OPENAI_API_KEY to use the openai teller, or STORYTELLER_OPENAI_BASE_URL "
                "for a local server",
                code="not_configured",
            )
        import openai

        self._openai = openai
        self.settings = settings
        self.retry = retry or RetryPolicy(max_retries=settings.teller_max_retries)
        self.gate = gate or gate_for(
            "openai",
            settings.data_dir,
            concurrency=settings.openai_max_concurrency,
            per_minute=settings.openai_requests_per_minute,
        )
        self.keyframes = EvidenceCache(settings)
        self.client = _client(key or _NO_KEY, settings.openai_base_url, settings.openai_timeout_s)
        self._format = JSON_SCHEMA
        self._format_lock = threading.Lock()

    @property
    def model(self) -> str:
        return self.settings.openai_model

    @property
    def response_format(self) -> str:
        """How the JSON answer is asked for now; it only falls back, once per refusal."""
        return self._format

    # --- the conversation --------------------------------------------------------------

    @contextmanager
    def conversation(self, evidence: Evidence, video: Path | None) -> Iterator[Ask]:
        images = self._images(evidence)

        def ask(prompt: str, seed: int) -> Reply:
            return self._complete(prompt, images, seed)

        yield ask

    def _images(self, evidence: Evidence) -> list[dict[str, Any]]:
        """Content parts for the chosen keyframes: a line naming the shot, then the JPEG."""
        folder = self.keyframes.keyframe_dir(evidence.content_hash)
        parts: list[dict[str, Any]] = []
        stored = [s for s in evidence.scenes if s.keyframe]
        for scene in spread(stored, self.settings.openai_max_keyframes):
            try:
                data = (folder / str(scene.keyframe)).read_bytes()
            except OSError:
                # The cache may have been cleared since the analysis; the text evidence remains.
                log.info(
                    "keyframe %s of %s is missing; not sent", scene.keyframe, evidence.file_name
                )
                continue
            url = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
            label = f"Keyframe of shot {scene.index + 1}, at {scene.keyframe_s:.1f} s:"
            parts.append({"type": "text", "text": label})
            parts.append({"type": "image_url", "image_url": {"url": url}})
        return parts

    def _complete(self, prompt: str, images: list[dict[str, Any]], seed: int) -> Reply:
        while True:
            fmt = self._format
            try:
                completion = self.retry.run(
                    partial(self._create, prompt, images, seed, fmt), self._classify
                )
            except _FormatRefused as exc:
                self._fall_back(fmt, str(exc))
                continue
            return self._reply(completion)

    def _create(self, prompt: str, images: list[dict[str, Any]], seed: int, fmt: str) -> Any:
        # Plain dicts: the same JSON goes to servers that are not OpenAI.
        messages: list[Any] = []
        if fmt != JSON_SCHEMA:
            schema = json.dumps(STORY_SCHEMA, separators=(",", ":"))
            messages.append(
                {
                    "role": "system",
                    "content": "Answer with one JSON object and nothing else, matching this "
                    f"JSON Schema: {schema}",
                }
            )
        messages.append({"role": "user", "content": [{"type": "text", "text": prompt}, *images]})
        options: dict[str, Any] = {}
        if fmt == JSON_SCHEMA:
            options["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "story", "schema": _STRICT_SCHEMA, "strict": True},
            }
        elif fmt == JSON_OBJECT:
            options["response_format"] = {"type": "json_object"}
        try:
            with self.gate.slot():
                completion = self.client.chat.completions.create(
                    model=self.model, messages=messages, seed=seed, **options
                )
        except self._openai.BadRequestError as exc:
            if fmt != PLAIN and _about_format(exc):
                raise _FormatRefused(_message(exc)) from exc
            raise
        if isinstance(completion, str):
            # The client hands back the text of an answer that did not say it was JSON.
            raise json.JSONDecodeError("not a chat completion", completion, 0)
        return completion

    def _fall_back(self, refused: str, message: str) -> None:
        with self._format_lock:
            following = FORMATS[FORMATS.index(refused) + 1]
            if FORMATS.index(self._format) < FORMATS.index(following):
                log.info(
                    "%s refused response_format %s (%s); asking with %s from now on",
                    self.model,
                    refused,
                    message,
                    following,
                )
                self._format = following

    def _reply(self, completion: Any) -> Reply:
        usage = _usage(completion)
        if not completion.choices:
            raise RemoteTellerError(f"{PROVIDER} ({self.model}) gave no answer", usage=usage)
        choice = completion.choices[0]
        message = choice.message
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise RemoteTellerError(
                f"{PROVIDER} ({self.model}) refused: {refusal}", code="blocked", usage=usage
            )
        finish = choice.finish_reason or "stop"
        if finish == "content_filter":
            raise RemoteTellerError(
                f"{PROVIDER} ({self.model}) blocked the answer (content filter)",
                code="blocked",
                usage=usage,
            )
        if finish != "stop":
            raise RemoteTellerError(
                f"{PROVIDER} ({self.model}) did not finish the story (finish reason {finish})",
                code="unfinished",
                usage=usage,
            )
        return Reply(text=message.content or "", usage=usage)

    # --- failures ------------------------------------------------------------------------

    def _classify(self, exc: Exception) -> Failure | None:
        openai = self._openai
        if isinstance(exc, openai.APITimeoutError):
            return Failure(
                f"{PROVIDER} did not answer in time (limit {self.settings.openai_timeout_s:g} s)",
                True,
            )
        if isinstance(exc, openai.APIConnectionError):
            where = self.settings.openai_base_url or "api.openai.com"
            return Failure(f"{PROVIDER} could not be reached at {where} ({exc.message})", True)
        if isinstance(exc, openai.APIStatusError):
            return _status_failure(exc, self.model)
        if isinstance(exc, json.JSONDecodeError):
            return Failure(f"{PROVIDER} sent a response that is not JSON ({exc.msg})", True)
        return None


def spread(scenes: Sequence[Scene], most: int) -> list[Scene]:
    """At most `most` of the scenes, evenly spread from the first to the last."""
    if most <= 0:
        return []
    if len(scenes) <= most:
        return list(scenes)
    if most == 1:
        return [scenes[len(scenes) // 2]]
    step = (len(scenes) - 1) / (most - 1)
    return [scenes[round(i * step)] for i in range(most)]


def _message(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.message)


def _about_format(exc: Any) -> bool:
    body = exc.body if isinstance(exc.body, dict) else {}
    text = f"{_message(exc)} {body.get('param') or ''}".lower()
    return any(word in text for word in ("response_format", "json_schema", "json_object"))


def _status_failure(exc: Any, model: str) -> Failure:
    """An HTTP error of the server as a Failure: the reason, whether to retry, the delay."""
    status = int(exc.status_code)
    message = _message(exc)
    headers = exc.response.headers
    delay = None
    if headers.get("retry-after-ms"):
        try:
            delay = max(0.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            delay = None
    if delay is None:
        delay = parse_retry_after(headers.get("retry-after"))
    if status == 404:
        return Failure(
            f"{PROVIDER} model {model!r} not found (404): {message}; "
            "check STORYTELLER_OPENAI_MODEL",
            False,
            code="not_configured",
        )
    return failure_for_status(PROVIDER, status, message, delay_s=delay)


def _usage(completion: Any) -> Usage:
    usage = getattr(completion, "usage", None)
    if usage is None:
        return Usage(requests=1)
    return Usage(
        tokens_in=usage.prompt_tokens or 0, tokens_out=usage.completion_tokens or 0, requests=1
    )
