"""The engine's job processes: each runs the attempts its supervisor sends, one at a time.

Spawned (not forked), so the web server's event loop never shares a core's worth of GIL
with the CPU-heavy stages. A job process holds no state worth keeping: it never touches
the database, and only sends back progress and each attempt's `Result`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from storyteller.config import Settings
from storyteller.jobs.attempt import Result
from storyteller.jobs.work import resolve_job

log = logging.getLogger(__name__)

# A job process sends progress at most this often; the supervisor keeps only the latest.
PROGRESS_EVERY_S = 0.25
# How much lower job processes run than the server (Unix nice levels; higher is lower).
WORKER_NICENESS = 10


def _watch_parent(parent_pid: int) -> None:
    """Exit when the server process is gone, so no worker outlives a killed server."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(1.0)


def worker_main(conn: Connection, settings: Settings, parent_pid: int) -> None:
    """A worker process: run the attempts the supervisor sends, one at a time, each with
    the job function it names."""
    # Ctrl-C and SIGTERM go to the whole process group; only the supervisor decides
    # when a worker stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Below the web server: when every core is busy with videos, requests still answer.
    os.nice(WORKER_NICENESS)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    send_lock = threading.Lock()  # stages report progress from their own threads

    def send(message: tuple[str, Any]) -> None:
        with send_lock:
            conn.send(message)

    send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        job, attempt = message
        last_sent = 0.0

        def progress(stage: str, fraction: float, video_id: str = attempt.video_id) -> None:
            nonlocal last_sent
            now = time.monotonic()
            if now - last_sent >= PROGRESS_EVERY_S or fraction >= 1.0:
                last_sent = now
                send(("progress", (video_id, stage, fraction)))

        try:
            result = resolve_job(job)(attempt, settings, progress)
        except Exception as exc:  # a bug in a stage must fail the video, not the worker
            log.exception("job for video %s raised", attempt.video_id)
            result = Result.failed(
                f"{attempt.name}: unexpected error: {exc.__class__.__name__}: {exc}",
                "unexpected_error",
                retryable=True,
            )
        send(("done", (attempt.video_id, result)))
