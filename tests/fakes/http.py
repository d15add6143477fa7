"""What every fake provider server shares: a JSON request handler on http.server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


class JsonHandler(BaseHTTPRequestHandler):
    """Reads request bodies and answers JSON; a client that gave up is not an error."""

    protocol_version = "HTTP/1.1"
    content_type: ClassVar[str] = "application/json"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", self.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test)


class FakeServer:
    """A fake provider on a free port of 127.0.0.1, in a thread: `start()`, `stop()`,
    and `script()` to queue the next answers (then `default`)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], default: Any) -> None:
        self.default = default
        self._script: list[Any] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._next_id = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def root_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def script(self, *answers: Any) -> None:
        """Answer the next calls with these, in order; then the default."""
        with self._lock:
            self._script.extend(answers)

    def next_scripted(self) -> Any:
        with self._lock:
            return self._script.pop(0) if self._script else self.default
