"""A fake OpenAI-compatible server: a real HTTP server in a thread speaking chat completions.

It answers POST /v1/chat/completions as the OpenAI API does (id, object, choices with the
message's content and refusal, finish_reason, usage: counted from the request and the answer
as OpenAI counts them, see tests/fakes/tokens.py, unless an answer fixes them) and errors as `{"error": {"message",
"type", "param", "code"}}`, with Retry-After on 429. Answers can be scripted one per call to
inject faults; which response formats it accepts can be limited, as many servers do.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlparse

from tests.fakes.gemini import GOOD_PARAGRAPHS, story_json
from tests.fakes.http import FakeServer, JsonHandler
from tests.fakes.tokens import openai_prompt_tokens, text_tokens

__all__ = ["API_KEY", "GOOD_PARAGRAPHS", "Answer", "FakeOpenAI", "story_json"]

API_KEY = "sk-fake-openai-key"


@dataclass
class Answer:
    """One scripted answer to a chat completion."""

    status: int = 200
    content: str | None = None  # the message's text; None: a story in the schema
    refusal: str | None = None
    finish_reason: str = "stop"
    error: dict[str, Any] | None = None  # the error object of a non-200 answer
    raw: bytes | None = None  # a body sent as it is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    # Usage reported; None: counted from the request (images, text) and the answer's text.
    tokens_in: int | None = None
    tokens_out: int | None = None

    # --- the faults ---------------------------------------------------------------------

    @classmethod
    def story(cls, text: str | None = None, **fields: Any) -> Answer:
        """A finished answer whose text is `text` (default: a story in the schema)."""
        return cls(content=text if text is not None else story_json(**fields))

    @classmethod
    def failure(
        cls,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        retry_after: str | None = None,
    ) -> Answer:
        """An error in OpenAI's format, with a Retry-After header when given."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        error = {"message": message, "type": type, "param": param, "code": code}
        return cls(status=status, error=error, headers=headers)

    @classmethod
    def rate_limited(cls, retry_after: str = "0.05") -> Answer:
        return cls.failure(
            429,
            "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. "
            "Please try again in 20s.",
            type="requests",
            code="rate_limit_exceeded",
            retry_after=retry_after,
        )

    @classmethod
    def internal(cls) -> Answer:
        return cls.failure(500, "The server had an error while processing your request.",
                           type="server_error")  # fmt: skip

    @classmethod
    def unavailable(cls, retry_after: str | None = None) -> Answer:
        return cls.failure(503, "The engine is currently overloaded, please try again later.",
                           type="server_error", retry_after=retry_after)  # fmt: skip

    @classmethod
    def unauthorised(cls) -> Answer:
        return cls.failure(
            401,
            "Incorrect API key provided: sk-wron*****. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )

    @classmethod
    def format_refused(cls, kind: str = "json_schema") -> Answer:
        """The 400 a server without structured output gives for a response_format."""
        return cls.failure(
            400,
            f"Invalid parameter: 'response_format' of type '{kind}' is not supported with "
            "this model.",
            param="response_format",
        )

    @classmethod
    def slow(cls, delay_s: float, then: Answer | None = None) -> Answer:
        """An answer sent only after `delay_s` (past the client's timeout, to test it)."""
        answer = then or cls.story()
        answer.delay_s = delay_s
        return answer

    @classmethod
    def malformed(cls) -> Answer:
        """A 200 whose body is not JSON (a proxy's page, a cut connection)."""
        return cls(raw=b'{"id": "chatcmpl-x", "choices": [{"message": {"content": "{\\"ti')

    @classmethod
    def refused(cls, refusal: str = "I'm sorry, I can't help with that request.") -> Answer:
        """The model declines: no content, the reason in message.refusal."""
        return cls(content=None, refusal=refusal, tokens_out=12)

    @classmethod
    def filtered(cls) -> Answer:
        """The provider's content filter cut the answer."""
        return cls(content="", finish_reason="content_filter", tokens_out=0)

    @classmethod
    def cut_short(cls) -> Answer:
        """An answer that ran out of tokens."""
        return cls(content='{"title": "Snow', finish_reason="length")


class FakeOpenAI(FakeServer):
    """The server. `base_url` (ending in /v1) goes to the client; `script()` queues answers;
    `calls` counts requests; `requests` keeps their bodies; `reported` the usage answered."""

    def __init__(
        self,
        *,
        api_key: str | None = API_KEY,
        formats: frozenset[str] = frozenset({"json_schema", "json_object"}),
    ) -> None:
        self.api_key = api_key  # None: any key or none, as local servers do
        self.formats = formats  # the response_format types it accepts
        self.calls: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []  # chat completion bodies, in order
        self.auth_headers: list[str | None] = []
        self.reported: list[tuple[int, int]] = []  # (prompt tokens, completion tokens)
        self.in_flight = 0
        self.max_in_flight = 0
        super().__init__(_handler(self), default=Answer.story())

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def prompts(self) -> list[str]:
        """The text parts of the user message of every request, in order."""
        return [
            "".join(p["text"] for p in user_parts(r) if p["type"] == "text") for r in self.requests
        ]

    def images(self, request: int = 0) -> list[str]:
        """The image URLs of one request."""
        return [
            p["image_url"]["url"]
            for p in user_parts(self.requests[request])
            if p["type"] == "image_url"
        ]

    def formats_asked(self) -> list[str]:
        """The response_format type of every request ('plain' when none)."""
        return [r.get("response_format", {}).get("type", "plain") for r in self.requests]

    def usage(self) -> tuple[int, int]:
        """Tokens reported in and out, summed."""
        with self._lock:
            return sum(i for i, _ in self.reported), sum(o for _, o in self.reported)

    # --- answering ------------------------------------------------------------------------

    def record(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.calls["chat"] += 1
            self.requests.append(request)

    def next_answer(self) -> Answer:
        with self._lock:
            answer: Answer = self._script.pop(0) if self._script else self.default
            return answer

    def new_id(self) -> str:
        with self._lock:
            self._next_id += 1
            return f"chatcmpl-fake{self._next_id:04d}"

    def wait(self, seconds: float) -> None:
        self._stop.wait(seconds)


def user_parts(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The content parts of a request's user message (a plain string counts as one text)."""
    for message in request.get("messages", []):
        if message.get("role") == "user":
            content = message["content"]
            return [{"type": "text", "text": content}] if isinstance(content, str) else content
    return []


def completion_body(
    fake: FakeOpenAI, answer: Answer, model: str, request: dict[str, Any]
) -> dict[str, Any]:
    """The chat completion for a scripted answer to `request`, as OpenAI sends it; its usage
    is kept in `fake.reported`."""
    content = answer.content
    if content is None and answer.refusal is None:
        content = story_json()
    tokens_in = answer.tokens_in
    if tokens_in is None:
        tokens_in = openai_prompt_tokens(request)
    tokens_out = answer.tokens_out
    if tokens_out is None:
        tokens_out = text_tokens(content or answer.refusal or "")
    with fake._lock:
        fake.reported.append((tokens_in, tokens_out))
    usage = {
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }
    return {
        "id": fake.new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": answer.refusal},
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": usage,
        "system_fingerprint": "fp_fake",
    }


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def error(self, status: int, message: str, **fields: Any) -> None:
            error = {"message": message, "type": "invalid_request_error", "param": None,
                     "code": None, **fields}  # fmt: skip
            self.send(status, {"error": error})

        def do_POST(self) -> None:
            raw = self.body()
            if urlparse(self.path).path != "/v1/chat/completions":
                self.error(404, f"Invalid URL (POST {self.path})")
                return
            auth = self.headers.get("Authorization")
            with fake._lock:
                fake.auth_headers.append(auth)
            if fake.api_key is not None and auth != f"Bearer {fake.api_key}":
                with fake._lock:
                    fake.calls["refused_key"] += 1
                self.send(401, {"error": Answer.unauthorised().error})
                return
            try:
                request = json.loads(raw)
            except json.JSONDecodeError:
                self.error(400, "We could not parse the JSON body of your request.")
                return
            with fake._lock:
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                self.complete(request)
            finally:
                with fake._lock:
                    fake.in_flight -= 1

        def complete(self, request: dict[str, Any]) -> None:
            fake.record(request)
            kind = request.get("response_format", {}).get("type")
            if kind is not None and kind != "text" and kind not in fake.formats:
                # Refused before the model runs: the scripted answer waits for the next call.
                refused = Answer.format_refused(kind)
                self.send(refused.status, {"error": refused.error})
                return
            unfit = strict_schema_problem(request.get("response_format", {}))
            if unfit is not None:
                # OpenAI checks a strict schema before the model runs, as it is sent.
                self.send(400, {"error": Answer.failure(400, unfit, param="response_format").error})
                return
            answer = fake.next_answer()
            if answer.delay_s:
                fake.wait(answer.delay_s)
            if answer.raw is not None:
                self.send(answer.status, answer.raw, answer.headers)
                return
            if answer.status != 200:
                self.send(answer.status, {"error": answer.error}, answer.headers)
                return
            model = str(request.get("model", ""))
            self.send(200, completion_body(fake, answer, model, request), answer.headers)

    return Handler


def strict_schema_problem(response_format: dict[str, Any]) -> str | None:
    """Why OpenAI would refuse a strict JSON schema (every object closed, every property
    required), in its words; None when it would take it."""
    if response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema", {})
    if not spec.get("strict"):
        return None

    def problem(schema: Any, context: tuple[str, ...]) -> str | None:
        if not isinstance(schema, dict):
            return None
        where = f"Invalid schema for response_format '{spec.get('name')}': In context={context}"
        if schema.get("type") == "object":
            if schema.get("additionalProperties") is not False:
                return (
                    f"{where}, 'additionalProperties' is required to be supplied and to be false."
                )
            missing = set(schema.get("properties", {})) - set(schema.get("required", []))
            if missing:
                return f"{where}, 'required' is required to include every key: {sorted(missing)}."
        for name, value in schema.get("properties", {}).items():
            if found := problem(value, (*context, "properties", name)):
                return found
        return problem(schema.get("items"), (*context, "items"))

    return problem(spec.get("schema"), ())
