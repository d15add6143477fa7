"""`storyteller worker`: the job engine without a web server, one of any number on one
PostgreSQL.

A worker is the embedded engine run headless: its supervisor claims videos from the
shared queue (the video rows, `FOR UPDATE SKIP LOCKED`), runs each in a child process,
heartbeats them and records the results, exactly as inside `storyteller serve`. What it
adds: every change is sent to the web processes with NOTIFY (`db/notify.py`), a NOTIFY
on the queue channel (an upload, a retry) wakes it, its log names each video it starts
and how it ends, an optional `/health` endpoint says whether it is working, and SIGTERM
or SIGINT stops it gracefully (running videos finish within `shutdown_grace_s`, the
rest go back to the queue without charging an attempt).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from storyteller.config import Settings
from storyteller.db.migrate import migrate
from storyteller.db.models import ErrorCause, Priority, VideoStatus
from storyteller.db.notify import QUEUE_CHANNEL, Listener, Notifier
from storyteller.db.session import default_database_url, make_engine
from storyteller.errors import StorytellerError
from storyteller.jobs.engine import EmbeddedEngine
from storyteller.jobs.queue import Claim, JobQueue, Outcome, Spent
from storyteller.jobs.work import DEFAULT_JOB
from storyteller.storage.objects import StorageError, video_store

log = logging.getLogger(__name__)

# How a worker's database connections are named in PostgreSQL's pg_stat_activity.
WORKER_APPLICATION = "storyteller-worker"


class WorkerRefused(StorytellerError):
    """The worker cannot run with these settings; `reason` says what to change."""


class _LoggedQueue(JobQueue):
    """The queue, saying in the log which video this worker starts and how each ends."""

    def claim(self, worker_id: str, *, limit: int = 1) -> list[Claim]:
        claims = super().claim(worker_id, limit=limit)
        _log_claims(claims)
        return claims

    def complete_many(
        self, finished: Iterable[tuple[Claim, Outcome]], *, drop_batch_items: Iterable[int] = ()
    ) -> set[str]:
        finished = list(finished)
        kept = super().complete_many(finished, drop_batch_items=drop_batch_items)
        _log_completions(finished, kept)
        return kept

    def complete_and_claim(
        self, finished: Iterable[tuple[Claim, Outcome]], worker_id: str, *, limit: int
    ) -> tuple[set[str], list[Claim]]:
        finished = list(finished)
        kept, claims = super().complete_and_claim(finished, worker_id, limit=limit)
        _log_completions(finished, kept)
        _log_claims(claims)
        return kept, claims

    def fail(
        self,
        claim: Claim,
        *,
        reason: str,
        code: str,
        cause: ErrorCause,
        retryable: bool,
        batch_item_id: int | None = None,
        spent: Spent | None = None,
    ) -> VideoStatus | None:
        status = super().fail(
            claim,
            reason=reason,
            code=code,
            cause=cause,
            retryable=retryable,
            batch_item_id=batch_item_id,
            spent=spent,
        )
        ended = {
            None: "was no longer this worker's",
            VideoStatus.PENDING: "back in the queue for another try",
            VideoStatus.COMPLETED: "kept its earlier story",
        }.get(status, str(status))
        log.info("video %s (%s) %s: %s", claim.video_id, claim.original_name, ended, reason)
        return status

    def release(
        self, claim: Claim, *, until: dt.datetime | None = None, reason: str | None = None
    ) -> bool:
        released = super().release(claim, until=until, reason=reason)
        if released:
            why = reason or "this worker is stopping"
            log.info(
                "video %s (%s) back in the queue: %s", claim.video_id, claim.original_name, why
            )
        return released

    def recover_stalled(self, *, timeout_s: float, dead_workers: Iterable[str] = ()) -> list[str]:
        recovered = super().recover_stalled(timeout_s=timeout_s, dead_workers=dead_workers)
        if recovered:
            log.info(
                "requeued %d videos whose worker stopped: %s", len(recovered), ", ".join(recovered)
            )
        return recovered


class Worker:
    """One `storyteller worker` process: `run()` until `stop()` (or a signal)."""

    def __init__(
        self,
        settings: Settings,
        *,
        concurrency: int | None = None,
        job: str = DEFAULT_JOB,
        queues: Iterable[Priority] = (),
    ) -> None:
        if not settings.uses_postgres:
            raise WorkerRefused(
                "storyteller worker needs PostgreSQL: set STORYTELLER_DATABASE_URL to "
                "postgresql+psycopg://user@host/db, the database the web processes use "
                "(with STORYTELLER_JOB_ENGINE=workers)"
            )
        self.settings = settings
        self.concurrency = concurrency
        self.job = job
        self.queues = list(queues) or list(Priority)  # the priorities it takes
        self.started = time.monotonic()
        self.engine: EmbeddedEngine | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        """Stop gracefully (from any thread, or a signal handler)."""
        self._stop.set()

    def health(self) -> tuple[int, dict[str, Any]]:
        """The answer of `GET /health`: 503 when the supervisor is not running."""
        engine = self.engine
        alive = engine is not None and engine.supervising()
        if self._stop.is_set():
            status = "stopping"
        else:
            status = "ok" if alive else "starting" if engine is None else "down"
        return (200 if alive else 503), {
            "status": status,
            "worker_id": engine.worker_id if engine else None,
            "concurrency": engine.concurrency if engine else self.concurrency,
            "queues": [priority.value for priority in self.queues],
            "running": engine.running_videos() if engine else [],
            "uptime_s": round(time.monotonic() - self.started, 1),
        }

    def run(self, *, health_port: int | None = None, health_host: str = "127.0.0.1") -> bool:
        """Work until stopped; False when it stopped because its supervisor died (a
        process manager should start it again)."""
        health = None
        if health_port is not None:  # first: a port in use stops the worker before it claims
            try:
                health = _HealthServer((health_host, health_port), self)
            except OSError as exc:
                raise WorkerRefused(
                    f"cannot answer health checks on {health_host}:{health_port}: {exc.strerror}"
                ) from exc
            threading.Thread(
                target=health.serve_forever, name="storyteller-health", daemon=True
            ).start()
            log.info("health at http://%s:%d/health", health_host, health.server_port)
        try:  # a worker that cannot read the videos must not claim them
            video_store(self.settings).check()
        except StorageError as exc:
            raise WorkerRefused(f"the video storage cannot be used: {exc.reason}") from exc
        url = default_database_url(self.settings)
        migrate(url)
        # Every use of the database is in the supervisor's retrying loop (or the
        # notifier's): no check of a connection before each transaction.
        db = make_engine(url, check_connections=False, application_name=WORKER_APPLICATION)
        notifier = Notifier(db)
        engine = EmbeddedEngine(
            self.settings,
            db,
            job=self.job,
            concurrency=self.concurrency,
            queue=_LoggedQueue(db, priorities=self.queues),
            on_change=notifier.changed,
        )
        listener = Listener(
            url, {QUEUE_CHANNEL: lambda _: engine.wake()}, name="storyteller-queue-listen"
        )
        supervised = True
        try:
            engine.start()
            self.engine = engine
            listener.start()
            log.info(
                "worker %s ready: %d at a time, taking %s priority videos",
                engine.worker_id,
                engine.concurrency,
                "/".join(priority.value for priority in self.queues),
            )
            while not self._stop.wait(1.0):
                if not engine.supervising():
                    log.error("the supervisor thread is gone; stopping so that I am restarted")
                    supervised = False
                    break
            running = engine.running_videos()
            log.info(
                "stopping: %d running videos may finish within %.0f s, then go back to the queue",
                len(running),
                self.settings.shutdown_grace_s,
            )
        finally:
            engine.stop(self.settings.shutdown_grace_s)
            listener.stop()
            notifier.close()
            if health is not None:
                health.shutdown()
                health.server_close()
            db.dispose()
        log.info("worker %s stopped", engine.worker_id)
        return supervised

    def stop_on_signals(self) -> None:
        """SIGTERM and SIGINT stop the worker gracefully (call from the main thread)."""

        def handle(signum: int, frame: FrameType | None) -> None:
            log.info("%s received", signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)


def _log_claims(claims: list[Claim]) -> None:
    for claim in claims:
        log.info(
            "starting video %s (%s), attempt %d",
            claim.video_id,
            claim.original_name,
            claim.attempt,
        )


def _log_completions(finished: list[tuple[Claim, Outcome]], kept: set[str]) -> None:
    for claim, _ in finished:
        if claim.video_id in kept:
            log.info("video %s (%s) completed", claim.video_id, claim.original_name)
        else:
            log.info(
                "video %s (%s): story not kept, the video was cancelled or taken over",
                claim.video_id,
                claim.original_name,
            )


class _HealthServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], worker: Worker) -> None:
        self.worker = worker
        super().__init__(address, _HealthHandler)


class _HealthHandler(BaseHTTPRequestHandler):
    server: _HealthServer

    def do_GET(self) -> None:  # the name http.server calls
        if self.path.split("?", 1)[0] != "/health":
            self._answer(404, {"error": "not found: this server only answers GET /health"})
            return
        self._answer(*self.server.worker.health())

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds
        pass
