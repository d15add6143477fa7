"""A fake Gemini API: a real HTTP server in a thread speaking the wire protocol google-genai uses.

It answers generateContent (with usageMetadata: tokens counted from the request and the answer
as Gemini counts them, see tests/fakes/tokens.py, unless an answer fixes them), the Files API (resumable upload start, chunks
and finalize; files.get with the state PROCESSING, then ACTIVE; files.delete) and errors in
Google's format. Answers to generateContent can be scripted one per call to inject faults.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fakes.http import FakeServer, JsonHandler
from tests.fakes.tokens import gemini_prompt_tokens, text_tokens

API_KEY = "fake-gemini-key"

GOOD_PARAGRAPHS = [
    "Snow covered the road on Tuesday as drivers slowed to a crawl near the edge of town.",
    'A resident filming the scene said "the road is covered in snow" as the flakes kept falling.',
    "Crews were expected to clear the main routes by evening, officials said.",
]


def story_json(
    *,
    title: str = "Snow Slows Drivers on Edge of Town",
    place: str = "Duluth",
    region: str = "Minnesota",
    when: date | str = "2026-01-14",
    paragraphs: list[str] | None = None,
    sentences: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> str:
    """The JSON a model answers with in the story schema. Its sentences are `sentences`,
    else each paragraph as one sentence standing on nothing (as the fake knows no video)."""
    paragraphs = GOOD_PARAGRAPHS if paragraphs is None else paragraphs
    if sentences is None:
        sentences = [
            {"text": text, "paragraph": index, "sources": []}
            for index, text in enumerate(paragraphs)
        ]
    data = {
        "title": title,
        "place": place,
        "region": region,
        "date": str(when),
        "paragraphs": paragraphs,
        "sentences": sentences,
        **extra,
    }
    return json.dumps(data)


@dataclass
class Answer:
    """One scripted answer to generateContent."""

    status: int = 200
    body: Any = None  # dict as JSON, str/bytes as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    # Usage reported; None: counted from the request (video, text) and the answer's text.
    tokens_in: int | None = None
    tokens_out: int | None = None

    # --- the faults ---------------------------------------------------------------------

    @classmethod
    def story(cls, text: str | None = None, **fields: Any) -> Answer:
        """A finished answer whose text is `text` (default: a story in the schema)."""
        return cls(body={"_text": text if text is not None else story_json(**fields)})

    @classmethod
    def error(
        cls,
        code: int,
        status: str,
        message: str = "",
        *,
        retry_delay: str | None = None,
        retry_after: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> Answer:
        """An error in Google's format, with a RetryInfo delay or a Retry-After header."""
        found = list(details or [])
        if retry_delay is not None:
            found.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
            )
        error: dict[str, Any] = {"code": code, "message": message or status, "status": status}
        if found:
            error["details"] = found
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return cls(status=code, body={"error": error}, headers=headers)

    @classmethod
    def rate_limited(cls, retry_delay: str = "0.05s") -> Answer:
        return cls.error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            retry_delay=retry_delay,
        )

    @classmethod
    def unavailable(cls) -> Answer:
        return cls.error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")

    @classmethod
    def internal(cls) -> Answer:
        return cls.error(500, "INTERNAL", "An internal error has occurred.")

    @classmethod
    def forbidden(cls) -> Answer:
        return cls.error(
            403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without "
            "established identity). Please use API Key or other form of API consumer identity."
        )  # fmt: skip

    @classmethod
    def slow(cls, delay_s: float, then: Answer | None = None) -> Answer:
        """An answer sent only after `delay_s` (past the client's timeout, to test it)."""
        answer = then or cls.story()
        answer.delay_s = delay_s
        return answer

    @classmethod
    def malformed(cls) -> Answer:
        """A 200 whose body is not JSON (a proxy's page, a cut connection)."""
        return cls(body=b'{"candidates": [{"content": {"parts": [{"te')

    @classmethod
    def blocked(cls, reason: str = "SAFETY") -> Answer:
        """A prompt blocked by the safety filter: no candidates, the reason in promptFeedback."""
        return cls(
            body={
                "promptFeedback": {
                    "blockReason": reason,
                    "safetyRatings": [
                        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
                    ],
                },
                "_no_candidates": True,
            },
            tokens_out=0,
        )

    @classmethod
    def unfinished(cls, finish_reason: str = "MAX_TOKENS") -> Answer:
        """A candidate that stopped for another reason than STOP."""
        return cls(body={"_text": '{"title": "Snow', "_finish": finish_reason})

    @property
    def text(self) -> str:
        """The answer's text ("" for faults and blocks)."""
        return str(self.body.get("_text", "")) if isinstance(self.body, dict) else ""

    def usage(self, tokens_in: int) -> tuple[int, int]:
        """(tokens in, tokens out) reported: the fixed figures, or `tokens_in` as counted
        from the request and the answer's text at about four characters a token."""
        return (
            self.tokens_in if self.tokens_in is not None else tokens_in,
            self.tokens_out if self.tokens_out is not None else text_tokens(self.text),
        )


@dataclass
class StoredFile:
    name: str
    display_name: str
    mime_type: str
    size: int
    data: bytearray = field(default_factory=bytearray)
    polls_left: int = 1  # files.get answers PROCESSING this many times, then ACTIVE
    finalized: bool = False

    @property
    def state(self) -> str:
        return "ACTIVE" if self.finalized and self.polls_left <= 0 else "PROCESSING"


class FakeGemini(FakeServer):
    """The server. `base_url` goes to the client; `script()` queues answers; `calls` counts
    requests by kind; `files_left()` names the files still stored."""

    def __init__(self, *, api_key: str = API_KEY, processing_polls: int = 1) -> None:
        self.api_key = api_key
        self.processing_polls = processing_polls
        self.calls: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []  # generateContent bodies, in order
        self.model_paths: list[str] = []  # the model named in each generateContent path
        self.reported: list[tuple[int, int]] = []  # (tokens in, tokens out) answered
        self.files: dict[str, StoredFile] = {}
        self.uploads: dict[str, StoredFile] = {}
        self.used_before_active = 0
        self.in_flight = 0
        self.max_in_flight = 0  # most generateContent calls answered at once
        self.batch_mode = FakeBatchMode()  # Batch Mode jobs (batchGenerateContent)
        super().__init__(_handler(self), default=Answer.story())

    @property
    def base_url(self) -> str:
        return self.root_url

    def files_left(self) -> list[str]:
        with self._lock:
            return sorted(self.files)

    def usage(self) -> tuple[int, int]:
        """Tokens reported in and out, summed."""
        with self._lock:
            return sum(i for i, _ in self.reported), sum(o for _, o in self.reported)

    def count_usage(self, answer: Answer, model: str, request: dict[str, Any]) -> tuple[int, int]:
        """What generateContent reports for an answer to `request` (kept in `reported`):
        the video (inline or uploaded) and every text part counted as Gemini counts them."""
        counted = 0
        if answer.tokens_in is None:
            counted = gemini_prompt_tokens(request, model, self.file_bytes)
        usage = answer.usage(counted)
        with self._lock:
            self.reported.append(usage)
        return usage

    def file_bytes(self, uri: str) -> bytes | None:
        """The bytes of an uploaded file named by its URI."""
        with self._lock:
            stored = self.files.get("files/" + uri.rsplit("/files/", 1)[-1])
            return bytes(stored.data) if stored is not None else None

    def prompts(self) -> list[str]:
        """The text parts of every generateContent request, in order."""
        return [
            "".join(p.get("text", "") for c in r.get("contents", []) for p in c.get("parts", []))
            for r in self.requests
        ]

    # --- answering ------------------------------------------------------------------------

    def next_answer(self, model: str, request: dict[str, Any]) -> Answer:
        with self._lock:
            self.calls["generate"] += 1
            self.requests.append(request)
            self.model_paths.append(model)
            answer: Answer = self._script.pop(0) if self._script else self.default
            return answer

    def new_id(self) -> str:
        with self._lock:
            self._next_id += 1
            return f"fake{self._next_id:04d}"

    def wait(self, seconds: float) -> None:
        self._stop.wait(seconds)


def generate_body(
    answer: Answer, model: str, usage: tuple[int, int] | None = None
) -> dict[str, Any]:
    """The generateContent response for a scripted answer, reporting `usage` (tokens in and
    out; default: the answer's own, tokens in unknown being 0)."""
    body = dict(answer.body)
    tokens_in, tokens_out = usage or answer.usage(0)
    usage_metadata = {
        "promptTokenCount": tokens_in,
        "candidatesTokenCount": tokens_out,
        "totalTokenCount": tokens_in + tokens_out,
    }
    out: dict[str, Any] = {"usageMetadata": usage_metadata, "modelVersion": model}
    if body.get("_no_candidates"):
        out["promptFeedback"] = body["promptFeedback"]
        return out
    out["candidates"] = [
        {
            "content": {"parts": [{"text": body.get("_text", "")}], "role": "model"},
            "finishReason": body.get("_finish", "STOP"),
            "index": 0,
        }
    ]
    return out


_GENERATE = re.compile(r"^/(?:v1|v1beta|v1alpha)/models/(?P<model>[^/:]+):generateContent$")
_UPLOAD = re.compile(r"^/upload/(?:v1|v1beta|v1alpha)/files$")
_FILE = re.compile(r"^/(?:v1|v1beta|v1alpha)/(?P<name>files/[^/]+)$")


def _handler(fake: FakeGemini) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        content_type = "application/json; charset=UTF-8"

        def error(self, code: int, status: str, message: str) -> None:
            self.send(code, {"error": {"code": code, "message": message, "status": status}})

        def authorised(self) -> bool:
            if self.headers.get("x-goog-api-key") == fake.api_key:
                return True
            info = {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
            message = "API key not valid. Please pass a valid API key."
            body = {
                "error": {
                    "code": 400,
                    "message": message,
                    "status": "INVALID_ARGUMENT",
                    "details": [info],
                }
            }
            self.send(400, body)
            return False

        # --- routes -----------------------------------------------------------------

        def do_POST(self) -> None:
            url = urlparse(self.path)
            raw = self.body()
            if url.path.startswith("/upload/") and "upload_id" in parse_qs(url.query):
                self.upload_chunk(parse_qs(url.query)["upload_id"][0], raw)
                return
            if not self.authorised():
                return
            if match := _GENERATE.match(url.path):
                self.generate(match["model"], json.loads(raw or b"{}"))
            elif _UPLOAD.match(url.path):
                self.upload_start(json.loads(raw or b"{}"))
            elif match := _BATCH_CREATE.match(url.path):
                self.send(*fake.batch_mode.create(fake, match["model"], json.loads(raw or b"{}")))
            elif match := _BATCH_CANCEL.match(url.path):
                self.send(*fake.batch_mode.cancel(match["id"]))
            else:
                self.error(404, "NOT_FOUND", f"no route {url.path}")

        def do_GET(self) -> None:
            if not self.authorised():
                return
            if batch := _BATCH.match(urlparse(self.path).path):
                self.send(*fake.batch_mode.get(fake, batch["id"]))
                return
            match = _FILE.match(urlparse(self.path).path)
            if not match:
                self.error(404, "NOT_FOUND", "no such route")
                return
            with fake._lock:
                fake.calls["files_get"] += 1
                stored = fake.files.get(match["name"])
                if stored is not None:
                    stored.polls_left -= 1
            if stored is None:
                self.error(403, "PERMISSION_DENIED", f"You do not have permission to access "
                           f"the File {match['name']} or it may not exist.")  # fmt: skip
                return
            self.send(200, _file_json(stored, fake.base_url))

        def do_DELETE(self) -> None:
            if not self.authorised():
                return
            match = _FILE.match(urlparse(self.path).path)
            with fake._lock:
                fake.calls["files_delete"] += 1
                removed = fake.files.pop(match["name"], None) if match else None
            if removed is None:
                self.error(404, "NOT_FOUND", "no such file")
                return
            self.send(200, {})

        # --- generateContent ------------------------------------------------------------

        def generate(self, model: str, request: dict[str, Any]) -> None:
            with fake._lock:
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                self.answer(model, request)
            finally:
                with fake._lock:
                    fake.in_flight -= 1

        def answer(self, model: str, request: dict[str, Any]) -> None:
            answer = fake.next_answer(model, request)
            for uri in _file_uris(request):
                name = "files/" + uri.rsplit("/files/", 1)[-1]
                with fake._lock:
                    stored = fake.files.get(name)
                if stored is None or stored.state != "ACTIVE":
                    with fake._lock:
                        fake.used_before_active += 1
                    state = "missing" if stored is None else stored.state
                    self.error(400, "FAILED_PRECONDITION",
                               f"The File {name} is not in an ACTIVE state ({state}).")  # fmt: skip
                    return
            if answer.delay_s:
                fake.wait(answer.delay_s)
            if answer.status != 200:
                self.send(answer.status, answer.body, answer.headers)
                return
            if isinstance(answer.body, bytes | str):
                raw = answer.body.encode() if isinstance(answer.body, str) else answer.body
                self.send(200, raw, answer.headers)
                return
            usage = fake.count_usage(answer, model, request)
            self.send(200, generate_body(answer, model, usage), answer.headers)

        # --- the Files API ----------------------------------------------------------------

        def upload_start(self, request: dict[str, Any]) -> None:
            if self.headers.get("X-Goog-Upload-Protocol") != "resumable" or (
                self.headers.get("X-Goog-Upload-Command") != "start"
            ):
                self.error(400, "INVALID_ARGUMENT", "expected a resumable upload start")
                return
            meta = request.get("file", {})
            upload_id = fake.new_id()
            stored = StoredFile(
                name=f"files/{upload_id}",
                display_name=meta.get("displayName", ""),
                mime_type=self.headers.get("X-Goog-Upload-Header-Content-Type", ""),
                size=int(self.headers.get("X-Goog-Upload-Header-Content-Length", "0")),
                polls_left=fake.processing_polls,
            )
            with fake._lock:
                fake.calls["upload_start"] += 1
                fake.uploads[upload_id] = stored
            location = f"{fake.base_url}/upload/v1beta/files?upload_id={upload_id}&upload_protocol=resumable"
            self.send(200, b"", {"x-goog-upload-url": location, "x-goog-upload-status": "active"})

        def upload_chunk(self, upload_id: str, chunk: bytes) -> None:
            command = self.headers.get("X-Goog-Upload-Command", "")
            offset = int(self.headers.get("X-Goog-Upload-Offset", "-1"))
            with fake._lock:
                fake.calls["upload_chunk"] += 1
                stored = fake.uploads.get(upload_id)
            if stored is None or offset != len(stored.data):
                self.send(400, {"error": {"code": 400, "message": "bad offset", "status": "INVALID_ARGUMENT"}},
                          {"x-goog-upload-status": "final"})  # fmt: skip
                return
            stored.data.extend(chunk)
            if "finalize" not in command:
                self.send(200, b"", {"x-goog-upload-status": "active"})
                return
            stored.finalized = True
            with fake._lock:
                fake.uploads.pop(upload_id, None)
                fake.files[stored.name] = stored
            self.send(
                200, {"file": _file_json(stored, fake.base_url)}, {"x-goog-upload-status": "final"}
            )

    return Handler


def _file_json(stored: StoredFile, base_url: str) -> dict[str, Any]:
    return {
        "name": stored.name,
        "displayName": stored.display_name,
        "mimeType": stored.mime_type,
        "sizeBytes": str(len(stored.data)),
        "createTime": "2026-01-01T00:00:00.000000Z",
        "expirationTime": "2026-01-03T00:00:00.000000Z",
        "sha256Hash": "",
        "uri": f"{base_url}/v1beta/{stored.name}",
        "state": stored.state,
        "source": "UPLOADED",
    }


def wire(data: dict[str, Any], name: str) -> Any:
    """A field of a request in either JSON spelling the API accepts (`fileUri`, `file_uri`);
    google-genai sends the inner fields of inlineData and fileData in snake case."""
    snake = re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
    return data.get(name, data.get(snake))


def _file_uris(request: dict[str, Any]) -> Iterator[str]:
    for content in request.get("contents", []):
        for part in content.get("parts", []):
            uri = wire(wire(part, "fileData") or {}, "fileUri")
            if uri:
                yield uri


# --- Batch Mode --------------------------------------------------------------------------

_BATCH_CREATE = re.compile(
    r"^/(?:v1|v1beta|v1alpha)/models/(?P<model>[^/:]+):batchGenerateContent$"
)
_BATCH = re.compile(r"^/(?:v1|v1beta|v1alpha)/batches/(?P<id>[^/:]+)$")
_BATCH_CANCEL = re.compile(r"^/(?:v1|v1beta|v1alpha)/batches/(?P<id>[^/:]+):cancel$")
_BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
_BATCH_ENDED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})
# google.rpc codes of the HTTP statuses scripted answers use, for errors inside a batch.
_RPC_CODES = {400: 3, 403: 7, 404: 5, 429: 8, 500: 13, 503: 14, 504: 4}


@dataclass
class FakeBatchJob:
    """One Batch Mode job: its inlined requests, and its answers once it has succeeded."""

    id: str
    model: str
    display_name: str
    requests: list[dict[str, Any]]  # {"request": {...}, "metadata": {...}} as sent
    outcome: str = "SUCCEEDED"
    polls: int = 0
    cancelled: bool = False
    responses: list[dict[str, Any]] | None = None


class FakeBatchMode:
    """Batch Mode on the fake: a job is PENDING for `pending_polls` gets, RUNNING for
    `running_polls` more, then ends as scripted (default SUCCEEDED). Its requests are
    answered when it succeeds, in order, from `script_answers` (then a good story), each
    counted like a generateContent call."""

    def __init__(self, *, pending_polls: int = 1, running_polls: int = 1) -> None:
        self.pending_polls = pending_polls
        self.running_polls = running_polls
        self.jobs: dict[str, FakeBatchJob] = {}
        self._answers: list[Answer] = []
        self._outcomes: list[str] = []
        self._lock = threading.Lock()

    def script_answers(self, *answers: Answer) -> None:
        """Answer the next batched requests with these, in order; then good stories."""
        with self._lock:
            self._answers.extend(answers)

    def script_outcomes(self, *states: str) -> None:
        """End the next jobs in these states (FAILED, EXPIRED, CANCELLED...), in order."""
        with self._lock:
            self._outcomes.extend(states)

    def sizes(self) -> list[int]:
        """How many requests each job held, in the order they were created."""
        with self._lock:
            return [len(job.requests) for job in self.jobs.values()]

    def requests(self) -> list[dict[str, Any]]:
        """Every batched request (as generateContent bodies), in order."""
        with self._lock:
            return [r["request"] for job in self.jobs.values() for r in job.requests]

    # --- the routes -----------------------------------------------------------------------

    def create(self, fake: FakeGemini, model: str, body: dict[str, Any]) -> tuple[int, Any]:
        batch = body.get("batch", {})
        requests = batch.get("inputConfig", {}).get("requests", {}).get("requests")
        if not isinstance(requests, list) or not requests:
            return 400, _rpc_error(400, "INVALID_ARGUMENT", "batch.input_config is required")
        job = FakeBatchJob(
            id=fake.new_id(),
            model=model,
            display_name=str(batch.get("displayName", "")),
            requests=requests,
        )
        with self._lock:
            fake.calls["batch_create"] += 1
            if self._outcomes:
                job.outcome = self._outcomes.pop(0)
            self.jobs[job.id] = job
        return 200, self._json(job, "PENDING")

    def get(self, fake: FakeGemini, job_id: str) -> tuple[int, Any]:
        with self._lock:
            fake.calls["batch_get"] += 1
            job = self.jobs.get(job_id)
            if job is None:
                return 404, _rpc_error(404, "NOT_FOUND", f"batches/{job_id} not found")
            job.polls += 1
            state = self._state(job)
            answer = state == "SUCCEEDED" and job.responses is None
        if answer:
            responses = [self._answer(fake, job.model, r) for r in job.requests]
            with self._lock:
                job.responses = responses
        return 200, self._json(job, state)

    def cancel(self, job_id: str) -> tuple[int, Any]:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return 404, _rpc_error(404, "NOT_FOUND", f"batches/{job_id} not found")
            if self._state(job) not in _BATCH_ENDED:
                job.cancelled = True
        return 200, {}

    # --- the answers ----------------------------------------------------------------------

    def _state(self, job: FakeBatchJob) -> str:
        if job.cancelled:
            return "CANCELLED"
        if job.polls <= self.pending_polls:
            return "PENDING"
        if job.polls <= self.pending_polls + self.running_polls:
            return "RUNNING"
        return job.outcome

    def _answer(self, fake: FakeGemini, model: str, inlined: dict[str, Any]) -> dict[str, Any]:
        request = inlined.get("request", {})
        with self._lock:
            answer = self._answers.pop(0) if self._answers else Answer.story()
        out: dict[str, Any] = {"metadata": inlined["metadata"]} if "metadata" in inlined else {}
        for uri in _file_uris(request):
            name = "files/" + uri.rsplit("/files/", 1)[-1]
            with fake._lock:
                stored = fake.files.get(name)
            if stored is None or stored.state != "ACTIVE":
                out["error"] = {"code": 9, "message": f"The File {name} is not ACTIVE."}
                return out
        if answer.status != 200:
            error = answer.body.get("error", {}) if isinstance(answer.body, dict) else {}
            code = _RPC_CODES.get(answer.status, 2)
            out["error"] = {"code": code, "message": error.get("message", "error")}
            return out
        usage = fake.count_usage(answer, model, request)
        out["response"] = generate_body(answer, model, usage)
        return out

    def _json(self, job: FakeBatchJob, state: str) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "@type": _BATCH_TYPE,
            "model": f"models/{job.model}",
            "displayName": job.display_name,
            "createTime": "2026-01-01T00:00:00.000000Z",
            "updateTime": "2026-01-01T00:00:01.000000Z",
            "state": f"BATCH_STATE_{state}",
            "batchStats": {"requestCount": str(len(job.requests))},
            "name": f"batches/{job.id}",
        }
        if state == "SUCCEEDED" and job.responses is not None:
            metadata["output"] = {"inlinedResponses": {"inlinedResponses": job.responses}}
        return {"name": f"batches/{job.id}", "metadata": metadata, "done": state in _BATCH_ENDED}


def _rpc_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}
