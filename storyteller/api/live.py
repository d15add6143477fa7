"""Live changes: who hears that videos changed, once the change has committed.

`EventHub` hands every change to this process's browsers (`api/events.py` streams it).
Whoever changes videos (the job engine's supervisor thread, the API's actions) calls
`EventHub.changed(video_ids)`: the hub reads those videos' current views, numbers each
event, keeps the last `KEPT_EVENTS` for clients that reconnect with `Last-Event-ID`, and
hands them to every open stream on the event loop. A client whose last id is older than
what is kept gets a `reset` event: fetch the whole state again.

`Announcer` is what the API tells (`batches.changes.LiveChanges`): the job engine, to
claim at once, and the browsers: of this process, or of every process through
PostgreSQL when `storyteller worker`s do the work.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from storyteller.api.views import video_view
from storyteller.db import crud
from storyteller.db.models import BatchStatus
from storyteller.db.notify import Notifier
from storyteller.jobs.engine import EmbeddedEngine

log = logging.getLogger(__name__)

KEPT_EVENTS = 2000
# Events waiting for one slow client before it is cut off.
SUBSCRIBER_BACKLOG = 1000
# A comment line this often keeps proxies and browsers from closing a quiet stream.
PING_EVERY_S = 15.0


@dataclass(frozen=True)
class Event:
    number: int
    kind: str
    job_id: str | None
    data: dict[str, Any]

    def encode(self, epoch: str) -> bytes:
        payload = json.dumps(self.data, separators=(",", ":"), ensure_ascii=False)
        return f"id: {epoch}-{self.number}\nevent: {self.kind}\ndata: {payload}\n\n".encode()


class EventHub:
    """Numbered events to every subscriber; safe to call from any thread."""

    def __init__(self, read: Callable[[Callable[[Session], Any]], Any]) -> None:
        self._read = read  # runs a function with a database session
        # Event ids are `<epoch>-<number>`: a client coming back after a restart of the
        # server (numbers start again) is told to fetch the state again.
        self.epoch = format(time.time_ns() // 1_000_000, "x")
        self._numbers = itertools.count(1)
        self._kept: deque[Event] = deque(maxlen=KEPT_EVENTS)
        self._forgotten_through = 0  # the newest number no longer kept
        self._lock = threading.Lock()
        self._changing = threading.Lock()
        self._subscribers: set[asyncio.Queue[Event | None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the streams run on (the app's, at start)."""
        self._loop = loop

    def changed(self, video_ids: Iterable[str]) -> None:
        """Announce the current state of these videos (after their change committed)."""
        ids = sorted(set(video_ids))
        if not ids or self._loop is None:
            return
        # Read and number under one lock: a state read earlier can never be published
        # after one read later (a stale "processing" after "cancelled").
        with self._changing:
            try:
                rows = self._read(lambda session: crud.video_status_rows(session, ids))
            except Exception:  # a live update must never break the change that caused it
                log.exception("could not read videos %s for live updates", ids)
                return
            self._publish_rows(rows)

    def _publish_rows(self, rows: list[Any]) -> None:
        # When the server read the change (epoch ms): the page's latency is measured from it.
        at = time.time_ns() // 1_000_000
        for row in rows:
            self.publish(
                "video",
                row.batch_id,
                {
                    "jobId": row.batch_id,
                    "jobStatus": BatchStatus(row.batch_status).value,
                    "video": video_view(row, row.story_text, row.story_version).model_dump(),
                    "at": at,
                },
            )

    def deleted(self, job_id: str) -> None:
        """Announce that a batch is gone (after its deletion committed)."""
        self.publish("deleted", job_id, {"jobId": job_id})

    def publish(self, kind: str, job_id: str | None, data: dict[str, Any]) -> None:
        with self._lock:
            event = Event(next(self._numbers), kind, job_id, data)
            if len(self._kept) == self._kept.maxlen:
                self._forgotten_through = self._kept[0].number
            self._kept.append(event)
            subscribers = list(self._subscribers)
        if self._loop is not None and not self._loop.is_closed():
            for queue in subscribers:
                self._loop.call_soon_threadsafe(self._deliver, queue, event)

    def _deliver(self, queue: asyncio.Queue[Event | None], event: Event) -> None:
        """On the event loop. A client that stopped reading is cut off (it reconnects
        with its Last-Event-ID) rather than piling up events in memory."""
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:
            self.unsubscribe(queue)
            _end(queue)

    def subscribe(
        self, last_event_id: str | None
    ) -> tuple[asyncio.Queue[Event | None], list[Event] | None]:
        """A queue of the events to come, and the kept events after `last_event_id`;
        None instead of those when they cannot all be replayed (too old, or from before
        a restart): the client must fetch the state again."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=SUBSCRIBER_BACKLOG)
        epoch, _, number = (last_event_id or "").partition("-")
        with self._lock:
            self._subscribers.add(queue)
            if not last_event_id:
                return queue, []
            if epoch != self.epoch or not number.isdigit():
                return queue, None
            last = int(number)
            if last < self._forgotten_through:
                return queue, None
            return queue, [event for event in self._kept if event.number > last]

    def unsubscribe(self, queue: asyncio.Queue[Event | None]) -> None:
        with self._lock:
            self._subscribers.discard(queue)

    def close(self) -> None:
        """End every stream (the server is stopping)."""
        with self._lock:
            subscribers = list(self._subscribers)
        if self._loop is not None and not self._loop.is_closed():
            for queue in subscribers:
                self._loop.call_soon_threadsafe(_end, queue)


def _end(queue: asyncio.Queue[Event | None]) -> None:
    """Make the stream reading `queue` end (on the event loop)."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(None)


class Announcer:
    """What the API tells when it changes videos: the embedded engine (when this process
    runs one) and this process's browsers, or, with `notifier` (`storyteller worker`s do
    the work), the workers and the browsers of every web process through PostgreSQL."""

    def __init__(
        self,
        hub: EventHub,
        *,
        engine: EmbeddedEngine | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.hub = hub
        self.engine = engine
        self.notifier = notifier

    def wake(self) -> None:
        if self.engine is not None:
            self.engine.wake()
        if self.notifier is not None:
            self.notifier.wake()

    def changed(self, video_ids: Iterable[str]) -> None:
        self.wake()
        if self.notifier is not None:
            self.notifier.changed(video_ids)
        else:
            self.hub.changed(video_ids)

    def deleted(self, batch_id: str) -> None:
        if self.notifier is not None:
            self.notifier.deleted(batch_id)
        else:
            self.hub.deleted(batch_id)
