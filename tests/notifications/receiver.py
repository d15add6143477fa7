"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 that checks every
request's signature with the `standardwebhooks` library, as a receiver would, keeps what
arrived, and answers as scripted (`answers`, then 200)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Arrival:
    at: float  # time.time()
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay_s: float = 0.0  # answered this late (a receiver still working when the sender dies)


class Receiver:
    def __init__(self, path: str = "/hook") -> None:
        self.path = path
        self.secret: str | None = None
        self.answers: list[Answer] = []
        self.arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server calls
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver._arrived(headers, body)
                answer = receiver._next_answer()
                time.sleep(answer.delay_s)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the sender is gone

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _arrived(self, headers: dict[str, str], body: bytes) -> None:
        verified = False
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
        with self._lock:
            self.arrivals.append(Arrival(time.time(), headers, body, verified))

    def _next_answer(self) -> Answer:
        with self._lock:
            return self.answers.pop(0) if self.answers else Answer()

    def wait_for(self, count: int, timeout_s: float = 30.0) -> list[Arrival]:
        """Block until `count` requests arrived; all of them."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                if len(self.arrivals) >= count:
                    return list(self.arrivals)
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.arrivals)} of {count} requests arrived")
            time.sleep(0.02)
