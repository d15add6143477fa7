"""`storyteller worker`: the job engine without a web server, one of any number on one
PostgreSQL.

A worker is the embedded engine run headless: its supervisor claims videos from the
shared queue (the video rows, `FOR UPDATE SKIP LOCKED`), runs each in a child process,
heartbeats them and records the results, exactly as inside `storyteller serve`. What it
adds: every change is sent to the web processes with NOTIFY (`db/notify.py`), a NOTIFY
on the queue channel (an upload, a retry) wakes it, its log names each video it starts
and how it ends, an optional `/health` endpoint says whether it is working, and SIGTERM
or SIGINT stops it gracefully (running videos finish within `shutdown_grace_s`, the
rest go back to the queue without charging an attempt), as does an admin's stop
(`storyteller admin stop WORKER`). A drained worker (`storyteller admin drain WORKER`)
finishes what it holds and then stays up, idle, listed as drained, until the drain is
lifted or it is stopped: whoever drains a machine decides when it goes.
"""

from __future__ import annotations

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
from storyteller.db.models import Priority, WorkerKind
from storyteller.db.notify import QUEUE_CHANNEL, Listener, Notifier
from storyteller.db.session import default_database_url, make_engine
from storyteller.errors import StorytellerError
from storyteller.jobs.batch_mode.coordinator import later_hook
from storyteller.jobs.engine import EmbeddedEngine
from storyteller.jobs.queue import JobQueue
from storyteller.jobs.work import DEFAULT_JOB
from storyteller.notifications.delivery import Deliverer
from storyteller.storage.objects import StorageError, video_store

log = logging.getLogger(__name__)

# How a worker's database connections are named in PostgreSQL's pg_stat_activity.
WORKER_APPLICATION = "storyteller-worker"


class WorkerRefused(StorytellerError):
    """The worker cannot run with these settings; `reason` says what to change."""


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
            "draining": bool(engine and engine.orders.draining),
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
            raise WorkerRefused(f"the video storage cannot be used: {exc.detail}") from exc
        url = default_database_url(self.settings)
        migrate(url)
        # Every use of the database is in the supervisor's retrying loop (or the
        # notifier's): no check of a connection before each transaction.
        db = make_engine(url, check_connections=False, application_name=WORKER_APPLICATION)
        notifier = Notifier(db)
        queue = JobQueue(db, priorities=self.queues)
        engine = EmbeddedEngine(
            self.settings,
            db,
            job=self.job,
            concurrency=self.concurrency,
            queue=queue,
            on_change=notifier.changed,
            later=later_hook(self.settings, db, queue, on_change=notifier.changed),
            kind=WorkerKind.WORKER,
            on_stop=self.stop,  # an admin's stop: as SIGTERM
        )
        listener = Listener(
            url, {QUEUE_CHANNEL: lambda _: engine.wake()}, name="storyteller-queue-listen"
        )
        deliverer = Deliverer(self.settings, db)  # notifications leave from workers too
        supervised = True
        try:
            engine.start()
            self.engine = engine
            listener.start()
            deliverer.start()
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
            deliverer.stop(self.settings.webhook_timeout_s)
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
