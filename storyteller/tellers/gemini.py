"""The gemini teller: Google Gemini watches the video and writes the story from it and the evidence."""

from __future__ import annotations

import functools
import json
import logging
import mimetypes
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from storyteller.config import Settings
from storyteller.pipeline.evidence import Evidence
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
    parse_duration,
    parse_retry_after,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

PROVIDER = "Gemini"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_MEDIA_RESOLUTIONS = {
    "low": "MEDIA_RESOLUTION_LOW",
    "medium": "MEDIA_RESOLUTION_MEDIUM",
    "high": "MEDIA_RESOLUTION_HIGH",
}
# Containers PyAV names, for files whose name says nothing of their type.
_MIME_BY_CONTAINER = {"webm": "video/webm", "matroska": "video/x-matroska", "mov": "video/mp4"}


def _transient_errors() -> tuple[type[BaseException], ...]:
    """Timeouts and refused connections of whichever HTTP library the client runs on."""
    found: list[type[BaseException]] = [TimeoutError, ConnectionError]
    for module in ("httpx", "httpx2"):
        try:
            lib = __import__(module)
        except ImportError:
            continue
        found += [lib.TimeoutException, lib.ConnectError, lib.RemoteProtocolError]
    return tuple(found)


@functools.lru_cache(maxsize=8)
def _client(api_key: str, base_url: str | None, timeout_ms: int) -> Any:
    """One client per key, endpoint and timeout in a process, shared by its videos: making
    one loads the certificate bundle three times (~150 ms of CPU), which five workers
    starting videos at once on two cores turned into most of a second each."""
    from google import genai
    from google.genai import types

    options: dict[str, Any] = {"timeout": timeout_ms}
    if base_url:
        options["base_url"] = base_url
    # No retry_options: the client's retries ignore the server's RetryInfo; ours do not.
    return genai.Client(api_key=api_key, http_options=types.HttpOptions(**options))


class GeminiTeller(RemoteTeller):
    """Sends the video (inline, or through the Files API when large) and the evidence to
    Gemini and asks for the story as JSON in the story schema."""

    name: ClassVar[str] = "gemini"
    provider: ClassVar[str] = PROVIDER

    def __init__(
        self,
        settings: Settings,
        *,
        retry: RetryPolicy | None = None,
        gate: RequestGate | None = None,
        file_poll_s: float = 1.0,
    ) -> None:
        if settings.gemini_api_key is None or not settings.gemini_api_key.get_secret_value():
            raise RemoteTellerError(
                "set GEMINI_API_KEY to use the gemini teller", code="not_configured"
            )
        from google import genai
        from google.genai import types

        self._types = types
        self._errors = genai.errors
        self.settings = settings
        self.retry = retry or RetryPolicy(max_retries=settings.teller_max_retries)
        self.gate = gate or gate_for(
            "gemini",
            settings.data_dir,
            concurrency=settings.gemini_max_concurrency,
            per_minute=settings.gemini_requests_per_minute,
        )
        self.file_poll_s = file_poll_s
        self._transient = _transient_errors()
        self.client = _client(
            settings.gemini_api_key.get_secret_value(),
            settings.gemini_base_url,
            int(settings.gemini_timeout_s * 1000),
        )

    @property
    def model(self) -> str:
        return self.settings.gemini_model

    # --- the conversation --------------------------------------------------------------

    @contextmanager
    def conversation(self, evidence: Evidence, video: Path | None) -> Iterator[Ask]:
        types = self._types
        file_name: str | None = None
        try:
            parts: list[Any] = []
            if video is not None:
                part, file_name = self.video_part(evidence, video)
                parts.append(part)

            def ask(prompt: str, seed: int) -> Reply:
                return self._generate([*parts, types.Part(text=prompt)], seed)

            yield ask
        finally:
            if file_name is not None:
                self.delete_file(file_name)

    def video_part(
        self, evidence: Evidence, video: Path, *, inline_max_bytes: float | None = None
    ) -> tuple[Any, str | None]:
        """The video as a request part: inline up to `inline_max_bytes` (default: the
        setting), else uploaded through the Files API and ready; with the uploaded file's
        name, which the caller deletes once done with it."""
        types = self._types
        metadata = types.VideoMetadata(fps=self.settings.gemini_fps)
        mime = _mime_type(video, evidence)
        if inline_max_bytes is None:
            inline_max_bytes = self.settings.gemini_inline_max_mb * 1_000_000
        if video.stat().st_size <= inline_max_bytes:
            blob = types.Blob(data=video.read_bytes(), mime_type=mime)
            return types.Part(inline_data=blob, video_metadata=metadata), None
        uploaded = self._upload(video, mime, evidence.file_name)
        try:
            ready = self._wait_until_active(uploaded)
        except BaseException:
            self.delete_file(uploaded.name)
            raise
        data = types.FileData(file_uri=ready.uri, mime_type=ready.mime_type or mime)
        return types.Part(file_data=data, video_metadata=metadata), uploaded.name

    def generation_config(self, seed: int) -> Any:
        """Structured output in the story schema, at the configured media resolution."""
        types = self._types
        return types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema=STORY_SCHEMA,
            media_resolution=_MEDIA_RESOLUTIONS[self.settings.gemini_media_resolution],
            seed=seed,
        )

    def call(self, request: Callable[[], T]) -> T:
        """`request()` with our retries; a failure raises RemoteTellerError with the reason."""
        return self.retry.run(request, self._classify)

    def _generate(self, parts: list[Any], seed: int) -> Reply:
        types = self._types
        config = self.generation_config(seed)
        contents = [types.Content(role="user", parts=parts)]

        def call() -> Any:
            with self.gate.slot():
                return self.client.models.generate_content(
                    model=self.model, contents=contents, config=config
                )

        return reply_of(self.retry.run(call, self._classify))

    # --- the Files API -------------------------------------------------------------------

    def _upload(self, video: Path, mime: str, display_name: str) -> Any:
        config = self._types.UploadFileConfig(mime_type=mime, display_name=display_name[:512])
        return self.retry.run(
            lambda: self.client.files.upload(file=video, config=config), self._classify
        )

    def _wait_until_active(self, file: Any) -> Any:
        deadline = time.monotonic() + self.settings.gemini_timeout_s
        while True:
            state = _enum_name(file.state) if file.state else "STATE_UNSPECIFIED"
            if state == "ACTIVE":
                return file
            if state == "FAILED":
                detail = f": {file.error.message}" if file.error and file.error.message else ""
                raise RemoteTellerError(
                    f"{PROVIDER} could not process the uploaded video{detail}", code="upload_failed"
                )
            if time.monotonic() >= deadline:
                raise RemoteTellerError(
                    f"{PROVIDER} was still processing the uploaded video after "
                    f"{self.settings.gemini_timeout_s:.0f} s",
                    code="upload_timeout",
                )
            time.sleep(self.file_poll_s)
            file = self.retry.run(partial(self.client.files.get, name=file.name), self._classify)

    def delete_file(self, name: str) -> None:
        try:
            self.retry.run(lambda: self.client.files.delete(name=name), self._classify)
        except Exception as exc:
            # The story is not lost for it; Google removes stored files after 48 hours.
            log.warning("could not delete %s from Gemini's Files API: %s", name, exc)

    # --- failures ------------------------------------------------------------------------

    def _classify(self, exc: Exception) -> Failure | None:
        if isinstance(exc, self._errors.APIError):
            return _api_failure(exc, self.model)
        if isinstance(exc, self._transient):
            return Failure(
                f"{PROVIDER} did not answer in time ({type(exc).__name__}, limit "
                f"{self.settings.gemini_timeout_s:g} s)",
                True,
            )
        if isinstance(exc, json.JSONDecodeError):
            return Failure(f"{PROVIDER} sent a response that is not JSON ({exc.msg})", True)
        return None


def reply_of(response: Any) -> Reply:
    """The story's text in a GenerateContentResponse, with the tokens it cost; raises
    RemoteTellerError for a blocked or unfinished answer."""
    usage = _usage(response)
    feedback = response.prompt_feedback
    if not response.candidates:
        reason = feedback.block_reason if feedback and feedback.block_reason else None
        if reason is not None:
            message = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
            raise RemoteTellerError(
                f"{PROVIDER} blocked the request ({_enum_name(reason)}){message}",
                code="blocked",
                usage=usage,
            )
        raise RemoteTellerError(f"{PROVIDER} gave no answer", usage=usage)
    candidate = response.candidates[0]
    finish = _enum_name(candidate.finish_reason) if candidate.finish_reason else "STOP"
    if finish != "STOP":
        code = "blocked" if finish in _BLOCKS else "unfinished"
        raise RemoteTellerError(
            f"{PROVIDER} did not finish the story (finish reason {finish})",
            code=code,
            usage=usage,
        )
    text = (
        "".join(
            part.text for part in (candidate.content.parts or []) if part.text and not part.thought
        )
        if candidate.content
        else ""
    )
    return Reply(text=text, usage=usage)


_BLOCKS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)


def _api_failure(exc: Any, model: str) -> Failure:
    """A Gemini API error as a Failure: the reason, whether to retry, the delay asked for."""
    status = int(exc.code or 0)
    body = exc.details if isinstance(exc.details, dict) else {}
    error = body.get("error", body)
    details = error.get("details") if isinstance(error, dict) else None
    details = details if isinstance(details, list) else []
    delay = next(
        (
            parse_duration(str(d.get("retryDelay", "")))
            for d in details
            if isinstance(d, dict) and d.get("@type") == _RETRY_INFO
        ),
        None,
    )
    if delay is None and exc.response is not None:
        delay = parse_retry_after(exc.response.headers.get("retry-after"))
    message = exc.message or str(exc.status or "")
    key_invalid = any(
        isinstance(d, dict)
        and d.get("@type") == _ERROR_INFO
        and d.get("reason") == "API_KEY_INVALID"
        for d in details
    )
    if key_invalid:
        return Failure(f"{PROVIDER} API key rejected ({status}): {message}", False, code="auth")
    if status == 404:
        return Failure(
            f"{PROVIDER} model {model!r} not found (404): {message}; "
            "check STORYTELLER_GEMINI_MODEL",
            False,
            code="not_configured",
        )
    return failure_for_status(PROVIDER, status, message, delay_s=delay)


def _usage(response: Any) -> Usage:
    meta = response.usage_metadata
    if meta is None:
        return Usage(requests=1)
    out = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
    return Usage(tokens_in=meta.prompt_token_count or 0, tokens_out=out, requests=1)


def _enum_name(value: Any) -> str:
    return str(getattr(value, "name", value))


def _mime_type(video: Path, evidence: Evidence) -> str:
    # Uploads are stored by content, so the name the user gave says more than the path.
    for name in (evidence.file_name, video.name):
        guessed, _ = mimetypes.guess_type(name)
        if guessed and guessed.startswith("video/"):
            return guessed
    container = evidence.media.container.split(",")[0]
    return _MIME_BY_CONTAINER.get(container, "video/mp4")
