"""The embedded engine: a supervisor thread in the server process and a few worker processes.

The supervisor is the only part that talks to the database. It claims videos for its
free workers, hands each one over a pipe to a worker process (spawned, so the web
server's event loop never shares a core's worth of GIL with the CPU-heavy stages),
forwards their progress as heartbeats, and records each result with a conditional
update. Workers hold no state worth keeping: a worker that dies, or is killed because
its video was cancelled, is replaced, and its video goes back to the queue (or fails
once it has used its attempts).

If the whole server dies, its videos stay `processing` under a worker id naming this
host and the dead process; the next engine to start on this host sees that the process
is gone and requeues them at once, uncharged (the video was not at fault). Videos of
workers on other hosts are requeued when their heartbeat is older than
`heartbeat_timeout_s`.

The engine registers in the `worker` table and reports there every second (what it runs,
how many videos it has done, the time each stage took), reading back an admin's orders:
`draining` (finish what it holds, claim nothing new, until the order is lifted) and
`stop` (as on SIGTERM: the `on_stop` callback, by default stopping this engine).

A result may come later than its attempt (Gemini Batch Mode answers within hours): the
engine's `later` hook takes such attempts, names the job function that prepares them,
and holds their results; the engine knows nothing else of it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine

from storyteller.config import Settings
from storyteller.db.models import ErrorCause, VideoStatus, WorkerKind
from storyteller.db.types import utcnow
from storyteller.jobs.attempt import Attempt, Result
from storyteller.jobs.budget import Budget
from storyteller.jobs.job_process import worker_main
from storyteller.jobs.queue import JobQueue, Orders, Timing, new_worker_id
from storyteller.jobs.work import DEFAULT_JOB
from storyteller.logs import about
from storyteller.storage.objects import check_key, video_store

log = logging.getLogger(__name__)

# Worker ids of the engines running in this process (tests may run two side by side).
_LIVE_WORKER_IDS: set[str] = set()

# How often running videos are heartbeated (with their progress) and checked for cancels.
HEARTBEAT_EVERY_S = 1.0
# A worker that sends nothing (no progress, no result) this long is taken to be stuck.
WORKER_SILENCE_S = 300.0
# Finished stories the database refuses this many times in a row are let go (their
# videos run again once found stalled) rather than blocking every other video.
HAND_IN_TRIES = 3
# How long the supervisor sleeps when nothing happens (a wake() cuts it short).
IDLE_WAIT_S = 1.0
# Silent workers are looked for at least this often: a video of a killed worker on
# another machine runs again within heartbeat_timeout_s plus this.
RECOVERY_EVERY_MAX_S = 5.0


class Later(Protocol):
    """The hook for attempts whose result comes later than their job ends."""

    job: str  # the job function that prepares such an attempt (module:function)

    def takes(self, attempt: Attempt) -> bool:
        """Whether this attempt's result comes later."""

    def defer(self, attempt: Attempt, result: Result) -> None:
        """Hold a prepared result (`result.later`); the hook ends the video itself."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def recovery_every_s(settings: Settings) -> float:
    """How often the supervisor looks for videos whose worker went silent or died."""
    return min(settings.heartbeat_timeout_s / 4, RECOVERY_EVERY_MAX_S)


# --- the supervisor ----------------------------------------------------------


@dataclass
class _Slot:
    """One worker process and the video it runs, if any."""

    process: multiprocessing.process.BaseProcess
    conn: Connection
    ready: bool = False
    attempt: Attempt | None = None
    stage: str | None = None
    progress: float = 0.0
    started: float = field(default_factory=time.monotonic)
    stage_since: float = field(default_factory=time.monotonic)  # when `stage` began
    announced: tuple[str | None, int] = (None, -1)  # stage and percent last announced
    last_message: float = field(default_factory=time.monotonic)  # when the worker last spoke

    def moved(self) -> bool:
        """Whether the stage or the whole percent changed since the last call."""
        now = (self.stage, int(self.progress * 100))
        changed, self.announced = now != self.announced, now
        return changed


class EmbeddedEngine:
    """Runs queued videos `concurrency` at a time in worker processes, inside this process."""

    def __init__(
        self,
        settings: Settings,
        db: Engine,
        *,
        job: str = DEFAULT_JOB,
        concurrency: int | None = None,
        queue: JobQueue | None = None,
        on_change: Callable[[list[str]], None] | None = None,
        later: Later | None = None,
        kind: WorkerKind = WorkerKind.EMBEDDED,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.concurrency = concurrency or settings.concurrent_jobs
        if self.concurrency > 1 and not settings.whisper_threads:
            # Each video gets its share of the cores for speech, so workers do not fight.
            cores = os.cpu_count() or 1
            settings = settings.model_copy(
                update={"whisper_threads": max(1, cores // self.concurrency)}
            )
        self.settings = settings
        self.job = job
        self.queue = queue or JobQueue(db)
        self.budget = Budget(settings, db)
        self.later = later
        # Told the ids of videos the engine changed, once committed (live updates).
        self.on_change = on_change or (lambda video_ids: None)
        self.videos = video_store(settings)
        self.worker_id = new_worker_id()
        self._context = multiprocessing.get_context("spawn")
        self._slots: list[_Slot] = []
        self._wake_reader, self._wake_writer = self._context.Pipe(duplex=False)
        self._wake_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._draining = threading.Event()
        self._stopped = threading.Event()
        self._last_recovery = 0.0
        # Stories the workers finished, handed in with the next claim (`_hand_in_and_fill`).
        self._finished: list[tuple[Attempt, Result]] = []
        self._hand_in_failures = 0
        # The registry: what this engine reports, and what an admin ordered it.
        self.kind = kind
        self.on_stop = on_stop or self._stop_in_background
        self.videos_done = 0
        self._timings: list[Timing] = []
        self.orders = Orders()
        self._stopping = threading.Lock()

    # --- control -------------------------------------------------------------

    def start(self) -> None:
        """Requeue what dead servers on this host left running, start the workers and
        the supervisor."""
        recovered = self.queue.recover_stalled(
            timeout_s=self.settings.heartbeat_timeout_s, dead_workers=self._dead_local_workers()
        )
        if recovered:
            log.info("requeued %d videos left running by a stopped server", len(recovered))
            self.on_change(recovered)
        # The budgets may have changed since videos were held back for them.
        self.on_change(self.budget.release_holds())
        _LIVE_WORKER_IDS.add(self.worker_id)
        self.queue.register(self.worker_id, kind=self.kind, concurrency=self.concurrency)
        self._slots = [self._spawn() for _ in range(self.concurrency)]
        self._thread = threading.Thread(
            target=self._supervise, name="storyteller-engine", daemon=True
        )
        self._thread.start()
        if self.later is not None:
            self.later.start()
        log.info("job engine started: %d workers (%s)", self.concurrency, self.worker_id)

    def wake(self) -> None:
        """Look at the queue now (after an upload, retry, cancel or regenerate)."""
        with self._wake_lock, contextlib.suppress(OSError):  # OSError: stopped
            self._wake_writer.send_bytes(b"!")

    def stop(self, grace_s: float | None = None) -> None:
        """Stop taking videos; let running ones finish for up to `grace_s` (default: the
        setting), then give the rest back to the queue without charging an attempt."""
        with self._stopping:  # an admin's stop and the server's may come together
            self._stop(grace_s)

    def _stop(self, grace_s: float | None) -> None:
        if self._thread is None:
            return
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        self._draining.set()
        self.wake()
        deadline = time.monotonic() + grace
        while self.running_videos() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stopped.set()
        self.wake()
        self._thread.join(timeout=10)
        self._thread = None
        if self.later is not None:
            self.later.stop()
        for slot in self._slots:
            if slot.attempt is None:
                self._end(slot, kill=not slot.ready)
                continue
            attempt, slot.attempt = slot.attempt, None
            self._end(slot, kill=True)
            if self.queue.release(attempt):
                log.info(
                    "video %s (%s) back in the queue: this worker is stopping",
                    attempt.video_id,
                    attempt.name,
                    extra=about(batch=attempt.batch_id, video=attempt.video_id),
                )
                self.on_change([attempt.video_id])
        self._slots = []
        _LIVE_WORKER_IDS.discard(self.worker_id)
        try:
            self.queue.sign_off(self.worker_id)
        except Exception:  # the database may be away: the row then just goes silent
            log.warning("could not mark worker %s stopped", self.worker_id, exc_info=True)
        with self._wake_lock:
            self._wake_writer.close()
            self._wake_reader.close()

    def supervising(self) -> bool:
        """Whether the supervisor thread is alive (a worker's health check)."""
        return self._thread is not None and self._thread.is_alive()

    def running_videos(self) -> list[str]:
        return [slot.attempt.video_id for slot in self._slots if slot.attempt is not None]

    def describe(self) -> dict[str, Any]:
        """The engine's state, for the stats endpoint and logs."""
        return {
            "engine": "embedded",
            "worker_id": self.worker_id,
            "workers": len(self._slots),
            "running": self.running_videos(),
            "draining": self._draining.is_set() or self.orders.draining,
        }

    def _stop_in_background(self) -> None:
        """An admin's stop of the engine inside a server: the server goes on serving."""
        threading.Thread(target=self.stop, name="storyteller-engine-stop", daemon=True).start()

    # --- the supervisor thread -----------------------------------------------

    def _supervise(self) -> None:
        last_heartbeat = time.monotonic()
        while not self._stopped.is_set():
            try:
                self._hand_in_and_fill()
                self._wait_and_handle()
                now = time.monotonic()
                if now - last_heartbeat >= HEARTBEAT_EVERY_S:
                    last_heartbeat = now
                    self._heartbeat()
                    self._report()
                if now - self._last_recovery >= recovery_every_s(self.settings):
                    self._last_recovery = now
                    recovered = self.queue.recover_stalled(
                        timeout_s=self.settings.heartbeat_timeout_s,
                        dead_workers=self._dead_local_workers(),
                    )
                    if recovered:
                        log.info(
                            "requeued %d videos whose worker stopped: %s",
                            len(recovered),
                            ", ".join(recovered),
                        )
                        self.on_change(recovered)
            except Exception:
                # The database may be briefly away (a restarted PostgreSQL): keep going.
                log.exception("job engine: error in the supervisor; retrying in a second")
                time.sleep(1.0)
                # Every worker's heartbeats stopped too: give them a full timeout to
                # resume before taking their videos for stalled.
                self._last_recovery = time.monotonic() + self.settings.heartbeat_timeout_s
        try:  # what finished in the last look
            self._hand_in_and_fill()
        except Exception:
            log.exception("job engine: could not keep the last stories; their videos run again")

    def _hand_in_and_fill(self) -> None:
        """Keep the stories the workers finished and give the free slots new videos, in
        one transaction: a busy engine commits once per look, not twice per video. Kept
        for the next look when the database is away."""
        idle = (
            []
            if self._draining.is_set() or self.orders.draining
            else [slot for slot in self._slots if slot.ready and slot.attempt is None]
        )
        finished = self._finished
        try:
            if idle and finished:
                kept, claims = self.queue.complete_and_claim(
                    finished, self.worker_id, limit=len(idle)
                )
            elif idle:
                kept, claims = set(), self.queue.claim(self.worker_id, limit=len(idle))
            elif finished:
                kept, claims = self.queue.complete_many(finished), []
            else:
                return
        except Exception:
            self._hand_in_failures += 1
            if self._hand_in_failures >= HAND_IN_TRIES:
                # Something in them the database refuses: they must not block the
                # engine. Their videos go back to the queue once found stalled.
                log.error("dropping %d finished stories that could not be kept", len(finished))
                self._finished, self._hand_in_failures = [], 0
            raise
        self._finished, self._hand_in_failures = [], 0
        for attempt, _ in finished:
            if attempt.video_id in kept:
                log.info(
                    "video %s (%s) completed",
                    attempt.video_id,
                    attempt.name,
                    extra=about(batch=attempt.batch_id, video=attempt.video_id),
                )
            else:
                log.info(
                    "video %s (%s): story not kept, the video was cancelled or taken over",
                    attempt.video_id,
                    attempt.name,
                    extra=about(batch=attempt.batch_id, video=attempt.video_id),
                )
        for attempt in claims:
            log.info(
                "starting video %s (%s), attempt %d",
                attempt.video_id,
                attempt.name,
                attempt.number,
                extra=about(batch=attempt.batch_id, video=attempt.video_id),
            )
        self._fill_slots(idle, claims)
        changed = sorted(kept) + [attempt.video_id for attempt in claims]
        if changed:
            self.on_change(changed)

    def _fill_slots(self, idle: list[_Slot], attempts: list[Attempt]) -> None:
        for slot, attempt in zip(idle, attempts, strict=False):
            # A video cancelled and retried within a heartbeat can come back while its
            # cancelled run still goes on in another slot: that run stops now.
            for other in self._slots:
                if other.attempt is not None and other.attempt.video_id == attempt.video_id:
                    other.attempt = None
                    self._replace(other)
            self._hand_over(slot, attempt)

    def _hand_over(self, slot: _Slot, attempt: Attempt) -> None:
        try:
            key = check_key(attempt.key)
        except ValueError:
            self._fail(
                attempt,
                Result.failed(
                    f"{attempt.name}: the upload was not stored", "file_missing", retryable=False
                ),
            )
            return
        # The worker reads the video through the storage (with `s3`, fetching it); here
        # only a copy at hand is used: the budget reads the length from it.
        if not self._within_budget(attempt, self.videos.local_path(key)):
            return
        later = self.later is not None and self.later.takes(attempt)
        job = self.later.job if later and self.later is not None else self.job
        slot.attempt, slot.stage, slot.progress = attempt, None, 0.0
        slot.started = slot.last_message = slot.stage_since = time.monotonic()
        slot.announced = (None, 0)
        try:
            slot.conn.send((job, attempt))
        except OSError:
            self._worker_died(slot)

    def _within_budget(self, attempt: Attempt, path: Path | None) -> bool:
        """Reserve what the video is expected to spend, or hold it back with the reason
        when that would pass a budget (the slot then stays free for another video)."""
        if not self.budget.enabled:
            return True
        verdict = self.budget.admit(attempt, path, utcnow())
        if verdict.allowed:
            return True
        log.info(
            "video %s (%s) held back: %s",
            attempt.video_id,
            attempt.name,
            verdict.reason,
            extra=about(batch=attempt.batch_id, video=attempt.video_id),
        )
        self.queue.release(attempt, until=verdict.until, reason=verdict.reason)
        self.on_change([attempt.video_id])
        return False

    def _wait_and_handle(self) -> None:
        conns: list[Any] = [self._wake_reader] + [slot.conn for slot in self._slots]
        for ready in wait(conns, timeout=IDLE_WAIT_S):
            if ready is self._wake_reader:
                while self._wake_reader.poll():
                    self._wake_reader.recv_bytes()
                continue
            slot = next((s for s in self._slots if s.conn is ready), None)
            if slot is not None:  # None: replaced meanwhile
                self._drain_messages(slot)

    def _drain_messages(self, slot: _Slot) -> None:
        try:
            while slot.conn.poll():
                kind, payload = slot.conn.recv()
                slot.last_message = time.monotonic()
                if kind == "ready":
                    slot.ready = True
                elif kind == "progress":
                    video_id, stage, fraction = payload
                    if slot.attempt is not None and slot.attempt.video_id == video_id:
                        if stage != slot.stage:
                            self._stage_ended(slot)
                            slot.stage_since = slot.last_message
                        slot.stage, slot.progress = stage, fraction
                elif kind == "done":
                    video_id, result = payload
                    if slot.attempt is not None and slot.attempt.video_id == video_id:
                        self._stage_ended(slot)
                        self.videos_done += 1
                        attempt, slot.attempt = slot.attempt, None
                        self._record(attempt, result)
        except (EOFError, OSError):
            self._worker_died(slot)

    def _stage_ended(self, slot: _Slot) -> None:
        """Keep how long the slot's stage took, for the next report."""
        if slot.attempt is not None and slot.stage:
            self._timings.append(
                Timing(
                    slot.attempt.video_id,
                    slot.stage,
                    max(0.0, time.monotonic() - slot.stage_since),
                    utcnow(),
                )
            )

    def _report(self) -> None:
        """Tell the registry this engine lives (with its videos and stage timings), and
        follow the admin's orders read back: drain, or stop."""
        timings, self._timings = self._timings, []
        try:
            orders = self.queue.report(
                self.worker_id,
                # Stories not yet handed in are still this engine's videos.
                current=self.running_videos() + [a.video_id for a, _ in self._finished],
                videos_done=self.videos_done,
                timings=timings,
            )
        except Exception:
            self._timings = timings + self._timings  # kept for the next report
            raise
        if orders.draining != self.orders.draining:
            log.info(
                "worker %s %s",
                self.worker_id,
                "draining" if orders.draining else "taking videos again",
            )
        if orders.stop and not self.orders.stop:
            log.info("worker %s: an admin asked it to stop", self.worker_id)
            self.orders = orders
            self.on_stop()
        self.orders = orders

    def _record(self, attempt: Attempt, result: Result) -> None:
        """A story waits to be handed in with the next claim; a failure is kept at once;
        a result that comes later goes to the hook that holds it."""
        if result.later is not None and self.later is not None:
            self.later.defer(attempt, result)
        elif result.story is not None:
            self._finished.append((attempt, result))
        else:
            self._fail(attempt, result)

    def _fail(self, attempt: Attempt, result: Result) -> None:
        status = self.queue.fail(attempt, result)
        if status is None:
            log.info(
                "video %s (%s) was no longer this worker's: %s",
                attempt.video_id,
                attempt.name,
                result.why.reason,
                extra=about(batch=attempt.batch_id, video=attempt.video_id),
            )
            return
        ended = {
            VideoStatus.PENDING: "back in the queue for another try",
            VideoStatus.COMPLETED: "kept its earlier story",
        }.get(status, str(status))
        log.info(
            "video %s (%s) %s: %s",
            attempt.video_id,
            attempt.name,
            ended,
            result.why.reason,
            extra=about(batch=attempt.batch_id, video=attempt.video_id),
        )
        self.on_change([attempt.video_id])

    def _heartbeat(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if not slot.process.is_alive() and not slot.conn.poll():
                self._worker_died(slot)
            elif slot.attempt is not None and now - slot.started > self.settings.video_time_limit_s:
                self._overtime(slot)
            elif slot.attempt is not None and now - slot.last_message > WORKER_SILENCE_S:
                # Alive but silent for minutes: stuck in a stage. Its video goes back to
                # the queue (or fails once out of attempts) and the worker is replaced.
                log.warning(
                    "worker %s silent on %s; replacing it",
                    slot.process.pid,
                    slot.attempt.video_id,
                    extra=about(batch=slot.attempt.batch_id, video=slot.attempt.video_id),
                )
                slot.process.kill()
                self._worker_died(slot)
        running = [slot for slot in self._slots if slot.attempt is not None]
        if not running:
            return
        lost = self.queue.heartbeat_many(
            [(slot.attempt, slot.stage, slot.progress) for slot in running if slot.attempt]
        )
        moved = [
            slot.attempt.video_id
            for slot in running
            if slot.attempt and slot.attempt.video_id not in lost and slot.moved()
        ]
        if moved:
            self.on_change(moved)
        for slot in running:
            if slot.attempt is not None and slot.attempt.video_id in lost:
                # Cancelled (or recovered elsewhere): stop working on it at once.
                log.info(
                    "stopping %s: it was cancelled",
                    slot.attempt.video_id,
                    extra=about(batch=slot.attempt.batch_id, video=slot.attempt.video_id),
                )
                slot.attempt = None
                self._replace(slot)

    def _overtime(self, slot: _Slot) -> None:
        """The attempt ran past the time limit: its worker is stopped and the video fails,
        the video's fault (another try would take as long)."""
        attempt, slot.attempt = slot.attempt, None
        assert attempt is not None
        limit = self.settings.video_time_limit_s
        log.warning(
            "video %s (%s) ran past %g s; stopping worker %s",
            attempt.video_id,
            attempt.name,
            limit,
            slot.process.pid,
        )
        self._replace(slot)
        self._fail(
            attempt,
            Result.failed(
                f"{attempt.name} took longer than the {_seconds(limit)} a video may take "
                f"(during {slot.stage or 'its start'}); it was stopped",
                "time_limit",
                cause=ErrorCause.VIDEO,
                retryable=False,
            ),
        )

    # --- workers ---------------------------------------------------------------

    def _spawn(self) -> _Slot:
        parent_conn, child_conn = self._context.Pipe()
        process = self._context.Process(
            target=worker_main,
            args=(child_conn, self.settings, os.getpid()),
            name="storyteller-worker",
            daemon=True,
        )
        process.start()
        child_conn.close()
        return _Slot(process=process, conn=parent_conn)

    def _replace(self, slot: _Slot) -> None:
        self._end(slot, kill=True)
        fresh = self._spawn()
        index = self._slots.index(slot)
        self._slots[index] = fresh

    def _worker_died(self, slot: _Slot) -> None:
        if slot not in self._slots:
            return
        slot.process.join(timeout=1)
        exitcode = slot.process.exitcode
        attempt, slot.attempt = slot.attempt, None
        if attempt is not None:
            # Its own worker died while the service went on: the attempt is charged, so
            # a video that kills every worker it is given ends failed.
            self._fail(
                attempt,
                Result.failed(
                    f"{attempt.name}: the worker processing it stopped unexpectedly"
                    f" (exit code {exitcode})",
                    "worker_crashed",
                    cause=ErrorCause.SERVICE,
                    retryable=True,
                ),
            )
        if self._stopped.is_set():
            return
        log.warning(
            "worker process %s stopped (exit code %s); starting another", slot.process.pid, exitcode
        )
        self._replace(slot)

    def _end(self, slot: _Slot, *, kill: bool) -> None:
        if kill:
            slot.process.kill()
        else:
            with contextlib.suppress(OSError):
                slot.conn.send(None)
        slot.process.join(timeout=5)
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join(timeout=5)
        slot.conn.close()

    def _dead_local_workers(self) -> list[str]:
        """Worker ids holding videos that name a process on this host that is gone (or
        an earlier server that had this process id)."""
        host = socket.gethostname()
        dead = []
        for worker in self.queue.claimed_workers():
            worker_host, _, rest = worker.partition(":")
            pid_text, _, _ = rest.partition(":")
            if worker_host != host or not pid_text.isdigit() or worker in _LIVE_WORKER_IDS:
                continue
            pid = int(pid_text)
            if pid == os.getpid() or not _process_alive(pid):
                dead.append(worker)
        return dead


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _seconds(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    if minutes and rest:
        return f"{minutes} min {rest} s"
    return f"{minutes} min" if minutes else f"{rest} s"
