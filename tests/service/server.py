"""`storyteller serve` as users run it: a real uvicorn process on a data folder that
outlives it (used by the service tests and by bench/service.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served_in_thread(app: Any) -> Iterator[str]:
    """`app` served by uvicorn on a loopback port, in a thread of this process; its
    address while the block runs."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)


class _StorytellerProcess:
    """A `storyteller` command in its own process group, its output in `log`, started
    when its health URL answers 200."""

    kind = "process"

    def __init__(self, data_dir: Path, command: list[str], health_url: str, log: str, **env: str):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "STORYTELLER_DATA_DIR": str(data_dir), **env}
        self.command = [sys.executable, "-m", "storyteller", *command]
        self.health_url = health_url
        self.log = data_dir / log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        """Start it and wait until its health URL answers 200."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(self.health_url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"the {self.kind} did not start:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL it and its child processes, as a power cut or the OOM killer would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, as a service manager stops it; the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class ServeProcess(_StorytellerProcess):
    """`storyteller serve`; `env` adds settings (environment variables)."""

    kind = "server"

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            data_dir, ["serve", "--port", str(self.port)], f"{self.url}/health", "server.log", **env
        )

    def rss_mb(self) -> float:
        assert self.process is not None
        return float(psutil.Process(self.process.pid).memory_info().rss) / 2**20

    def job(self, job_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/api/job/{job_id}", timeout=10)
        answer.raise_for_status()
        job: dict[str, Any] = answer.json()
        return job


class WorkerProcess(_StorytellerProcess):
    """`storyteller worker` with its health endpoint; `env` adds settings (environment
    variables). `job` names the job function."""

    kind = "worker"

    def __init__(
        self, data_dir: Path, *, job: str, concurrency: int = 1, name: str = "worker", **env: str
    ) -> None:
        self.health_port = free_port()
        command = [
            "worker", "--concurrency", str(concurrency),
            "--health-port", str(self.health_port), "--job", job,
        ]  # fmt: skip
        health_url = f"http://127.0.0.1:{self.health_port}/health"
        super().__init__(data_dir, command, health_url, f"{name}.log", **env)

    def health(self) -> httpx.Response:
        return httpx.get(self.health_url, timeout=5)
