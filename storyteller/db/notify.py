"""Changes told across processes through PostgreSQL's LISTEN/NOTIFY.

With `STORYTELLER_JOB_ENGINE=workers`, videos change in `storyteller worker` processes
and in web processes, on any machines. Whoever changes videos hands their ids to a
`Notifier` once the change has committed; it sends them, coalesced, as
`NOTIFY storyteller_videos, '<id>,<id>,...'` (split below PostgreSQL's 8000-byte
payload limit). Every web process runs a `Listener`: a thread with its own connection
in autocommit doing `LISTEN`, which hands the ids to that process's event hub. A
`Notifier.wake()` (an upload, a retry) is `NOTIFY storyteller_queue`, which workers
listen to so that they claim at once rather than at their next look.

Notifications are not kept: one sent while a listener is away (PostgreSQL restarting)
is lost, so a listener that reconnects says so (`on_reconnect`) and the web process
tells its browsers to fetch the state again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from storyteller.db.session import normalise_url

log = logging.getLogger(__name__)

VIDEOS_CHANNEL = "storyteller_videos"
QUEUE_CHANNEL = "storyteller_queue"
DELETED_CHANNEL = "storyteller_deleted"  # payload: the id of a deleted batch

# PostgreSQL refuses payloads of 8000 bytes or more.
MAX_PAYLOAD_BYTES = 7900
# A notifier sends at most this often; what changes meanwhile goes in the next send.
SEND_EVERY_S = 0.05
# A listener that cannot connect tries again after this, doubling up to the maximum.
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 15.0
# A quiet listener checks its connection this often (a cut network raises nothing).
LISTENER_CHECK_S = 10.0


def payloads(video_ids: Iterable[str]) -> list[str]:
    """The ids as comma-separated payloads, each under `MAX_PAYLOAD_BYTES`."""
    found: list[str] = []
    current: list[str] = []
    size = 0
    for video_id in video_ids:
        length = len(video_id.encode()) + 1
        if current and size + length > MAX_PAYLOAD_BYTES:
            found.append(",".join(current))
            current, size = [], 0
        current.append(video_id)
        size += length
    if current:
        found.append(",".join(current))
    return found


def video_ids(payload: str) -> list[str]:
    """The ids a `storyteller_videos` payload names."""
    return [part for part in payload.split(",") if part]


class Notifier:
    """Sends the ids of changed videos (and queue wake-ups) from a thread of its own, so
    the caller (the engine's supervisor, a request) never waits for it; ids given while a
    send is under way go together in the next one."""

    def __init__(self, db: Engine) -> None:
        self._db = db
        self._pending: set[str] = set()
        self._wake = False
        self._closing = False
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="storyteller-notify", daemon=True)
        self._thread.start()

    def changed(self, video_ids: Iterable[str]) -> None:
        """These videos changed (committed): tell every listener."""
        with self._condition:
            before = len(self._pending)
            self._pending.update(video_ids)
            if len(self._pending) != before:
                self._condition.notify()

    def wake(self) -> None:
        """The queue changed (committed): tell the workers to look at it."""
        with self._condition:
            self._wake = True
            self._condition.notify()

    def deleted(self, batch_id: str) -> None:
        """A batch was deleted (committed): tell every listener. Rare: sent at once."""
        try:
            with self._db.begin() as connection:
                connection.execute(
                    text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": DELETED_CHANNEL, "payload": batch_id},
                )
        except Exception:  # as in _send: the deletion itself stands
            log.warning("could not notify the deletion of batch %s", batch_id, exc_info=True)

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is pending, then stop."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not (self._pending or self._wake or self._closing):
                    self._condition.wait()
                ids, self._pending = sorted(self._pending), set()
                wake, self._wake = self._wake, False
                closing = self._closing
            if ids or wake:
                self._send(ids, wake)
            if closing:
                return
            # Changes of the next moment go together: a busy worker then sends a few
            # notifications a second instead of one per video (each costs a round trip,
            # and PostgreSQL queues every notification under one lock).
            time.sleep(SEND_EVERY_S)

    def _send(self, ids: list[str], wake: bool) -> None:
        notify = text("SELECT pg_notify(:channel, :payload)")
        try:
            # Autocommit: each NOTIFY is delivered as its statement ends, no BEGIN/COMMIT.
            with self._db.connect() as connection:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                for payload in payloads(ids):
                    connection.execute(notify, {"channel": VIDEOS_CHANNEL, "payload": payload})
                if wake:
                    connection.execute(notify, {"channel": QUEUE_CHANNEL, "payload": ""})
        except Exception:  # a live update must never stop the work that caused it
            log.warning(
                "could not notify the changes of %d videos (browsers catch up when they "
                "fetch the state)",
                len(ids),
                exc_info=True,
            )


class Listener:
    """`LISTEN`s on channels with its own connection, in a thread, and calls each
    channel's handler with each payload; reconnects with backoff when the connection is
    lost, and then calls `on_reconnect` (what was sent meanwhile is lost)."""

    def __init__(
        self,
        url: str | URL,
        handlers: dict[str, Callable[[str], Any]],
        *,
        on_reconnect: Callable[[], Any] | None = None,
        name: str = "storyteller-listen",
    ) -> None:
        parsed = normalise_url(url)
        # libpq's own URL (no SQLAlchemy driver name); query options (search_path) kept.
        self._conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self._handlers = handlers
        self._on_reconnect = on_reconnect
        self._stopping = threading.Event()
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self, wait_s: float = 10.0) -> None:
        """Start listening; returns once the first `LISTEN` is done (or after `wait_s`,
        the thread carrying on trying)."""
        self._thread.start()
        if not self.listening.wait(wait_s):
            log.warning("not listening for changes yet: cannot reach PostgreSQL; still trying")

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        delay = RECONNECT_FIRST_S
        connected_before = False
        while not self._stopping.is_set():
            try:
                with psycopg.connect(
                    self._conninfo,
                    autocommit=True,
                    connect_timeout=5,
                    application_name=self._thread.name,
                    keepalives=1,
                    keepalives_idle=10,
                    keepalives_interval=5,
                    keepalives_count=3,
                ) as connection:
                    for channel in self._handlers:
                        connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self.listening.set()
                    delay = RECONNECT_FIRST_S
                    if connected_before:
                        log.info("listening for changes again")
                        self._call(self._on_reconnect)
                    connected_before = True
                    self._listen(connection)
            except psycopg.Error as exc:
                self.listening.clear()
                if self._stopping.is_set():
                    return
                log.warning(
                    "lost the connection that listens for changes (%s); again in %.1f s",
                    str(exc).strip() or type(exc).__name__,
                    delay,
                )
                self._stopping.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
        self.listening.clear()

    def _listen(self, connection: psycopg.Connection[Any]) -> None:
        checked = time.monotonic()
        while not self._stopping.is_set():
            for notice in connection.notifies(timeout=1.0):
                self._call(self._handlers.get(notice.channel), notice.payload)
                if self._stopping.is_set():
                    return
            if time.monotonic() - checked >= LISTENER_CHECK_S:
                checked = time.monotonic()
                connection.execute("SELECT 1")

    @staticmethod
    def _call(handler: Callable[..., Any] | None, *args: Any) -> None:
        if handler is None:
            return
        try:
            handler(*args)
        except Exception:  # one bad notification must not stop the listening
            log.exception("handling a change notification failed")
