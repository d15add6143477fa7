"""The loop that delivers the outbox, in every process that runs (`storyteller serve`'s
web process, a `storyteller worker`, a web process of the many-machines mode).

One thread looks for due messages (a cheap read first, so an idle loop takes no write
lock), claims as many as it has free slots (`STORYTELLER_NOTIFICATION_CONCURRENCY`) and
hands each to a pool that sends it through its channel; the thread records the outcomes
that came back meanwhile in the transaction of its next claim. It
looks every `STORYTELLER_NOTIFICATION_POLL_S`, at once when woken: by the engine of its
process when videos end, by PostgreSQL's NOTIFY on `storyteller_outbox` (sent at the
commit that wrote a message, from any process), and when a slot frees up.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from storyteller.config import Settings
from storyteller.db.database import Database
from storyteller.db.models import Channel
from storyteller.db.notify import Listener
from storyteller.jobs.queue import new_worker_id
from storyteller.notifications.channels import Send
from storyteller.notifications.channels import channels as default_channels
from storyteller.notifications.outbox import OUTBOX_CHANNEL, Message, Outbox, Outcome

log = logging.getLogger(__name__)

# After a database error, the loop waits this long before it looks again.
ERROR_PAUSE_S = 2.0


class Deliverer:
    """Delivers due messages until stopped. `start()`, `wake()`, `stop()`."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        channels: dict[Channel, Send] | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = Outbox(engine, settings)
        self.worker_id = worker_id or new_worker_id()
        self.channels = channels or default_channels(Database(engine))
        self.concurrency = settings.notification_concurrency
        self._pool = ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="storyteller-deliver"
        )
        self._busy = 0  # deliveries under way
        self._done: list[tuple[Message, Outcome]] = []  # delivered, not yet recorded
        self._lock = threading.Lock()
        self._woken = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="storyteller-outbox", daemon=True)
        self._listener = (
            Listener(
                engine.url,
                {OUTBOX_CHANNEL: lambda _: self.wake()},
                name="storyteller-outbox-listen",
            )
            if engine.dialect.name == "postgresql"
            else None
        )

    def start(self) -> None:
        if self._listener is not None:
            self._listener.start()
        self._thread.start()

    def wake(self, *_: object) -> None:
        """Look for due messages now (any argument is ignored: it fits change callbacks)."""
        self._woken.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Take nothing new; wait up to `timeout_s` for deliveries under way (one cut short
        is delivered again by whoever claims it once its lease passes)."""
        self._stopping.set()
        self._woken.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
        if self._listener is not None:
            self._listener.stop()

    def _run(self) -> None:
        while not self._stopping.is_set():
            pause = self.settings.notification_poll_s
            try:
                if self._settle():
                    continue  # more may be due at once
            except SQLAlchemyError:
                log.warning("cannot look for notifications to deliver; trying again", exc_info=True)
                pause = ERROR_PAUSE_S
            self._woken.wait(pause)
            self._woken.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            self._settle(claim=False)  # what finished while stopping
        except SQLAlchemyError:
            log.warning("cannot record the last deliveries; they will be sent again", exc_info=True)

    def _settle(self, *, claim: bool = True) -> bool:
        """Record what was delivered and claim what is due for the free slots, in one
        transaction; whether to look again at once."""
        with self._lock:
            done, self._done = self._done, []
            free = self.concurrency - self._busy
        # Due or not is a read (no lock): an idle process never takes the write lock.
        due = claim and free > 0 and (bool(done) or self.outbox.next_due_in() == 0)
        if not done and not due:
            return False
        try:
            states, claimed = self.outbox.settle(done, self.worker_id, limit=free if due else 0)
        except SQLAlchemyError:
            with self._lock:
                self._done[:0] = done  # recorded at the next look
            raise
        for (message, outcome), state in zip(done, states, strict=True):
            if not outcome.delivered:
                log.info(
                    "notification %s (%s), attempt %d, not delivered (now %s): %s",
                    message.id,
                    message.event,
                    message.attempt,
                    state,
                    outcome.error,
                )
        with self._lock:
            self._busy += len(claimed)
        for message in claimed:
            self._pool.submit(self._deliver, message)
        return bool(done) or (bool(claimed) and len(claimed) == free)

    def _deliver(self, message: Message) -> None:
        try:
            outcome = self.channels[message.channel](self.settings, message)
        except Exception:  # a fault of ours: logged, and the message tried again later
            log.exception("delivering notification %s failed", message.id)
            outcome = Outcome(
                delivered=False, retryable=True, error="internal error: see the service's log"
            )
        with self._lock:
            self._busy -= 1
            self._done.append((message, outcome))
        self._woken.set()
