"""A form upload cut short by a killed server leaves no partial file once the server is
back: the next start deletes what no live process writes."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.server import ServeProcess

pytestmark = pytest.mark.timeout(180)

BOUNDARY = "storytellerboundary"


def endless_form(stop: threading.Event) -> Iterator[bytes]:
    """The start of a multipart form whose video never ends (until `stop`)."""
    yield (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="videos"; '
            'filename="long.mp4"\r\nContent-Type: video/mp4\r\n\r\n'
        ).encode()
        + b"\x00\x00\x00\x18ftypmp42"
        + bytes(1 << 20)
    )
    while not stop.wait(0.05):
        yield bytes(64 << 10)


def test_a_killed_servers_partial_upload_is_gone_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    partial = data / "uploads" / ".partial"
    server = ServeProcess(data, MAX_CONCURRENT_JOBS="1")
    server.start()
    stop = threading.Event()

    def send() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server is killed under it
            httpx.post(
                f"{server.url}/api/upload",
                content=endless_form(stop),
                headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                timeout=60,
            )

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        deadline = time.monotonic() + 30
        while not (partial.is_dir() and any(partial.iterdir())):
            assert time.monotonic() < deadline, "no partial file appeared"
            time.sleep(0.1)
        server.kill()
        [left] = list(partial.iterdir())  # a minute old at most: the hour rule keeps it
        assert left.suffix == ".part"
        server.start()
        assert list(partial.iterdir()) == []
    finally:
        stop.set()
        sender.join(10)
        if server.running():
            server.kill()
