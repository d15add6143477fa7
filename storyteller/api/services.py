"""What every endpoint reaches: the settings, the database, the upload store, the queue."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from storyteller.config import Settings

if TYPE_CHECKING:
    from storyteller.api.events import EventHub
from storyteller.db.notify import Listener, Notifier
from storyteller.db.session import make_session_factory, write_engine
from storyteller.jobs.actions import UserActions
from storyteller.jobs.engine import EmbeddedEngine
from storyteller.jobs.queue import JobQueue
from storyteller.storage.objects import VideoStore
from storyteller.storage.uploads import UploadStore

T = TypeVar("T")


@dataclass
class Services:
    settings: Settings
    db: Engine
    sessions: sessionmaker[Session]
    store: UploadStore  # where uploads are written (with `s3`, before they are published)
    queue: JobQueue
    actions: UserActions
    videos: VideoStore  # where finished videos live, for every process (storage/objects.py)
    engine: EmbeddedEngine | None = None  # None when the app runs without background work
    events: EventHub | None = None  # live updates to browsers
    # With `workers` (STORYTELLER_JOB_ENGINE): changes go to every process through
    # PostgreSQL (NOTIFY), and come back to this one's hub through its listener.
    notifier: Notifier | None = None
    listener: Listener | None = None

    def __post_init__(self) -> None:
        self._writes = make_session_factory(write_engine(self.db))

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that writes, committed at the end. On SQLite it takes the write
        lock at BEGIN, so a transaction that reads before it writes waits for another
        writer (the job engine) instead of failing with "database is locked"."""
        with self._writes.begin() as session:
            yield session

    async def quick_read(self, read: Callable[..., T], *args: Any) -> T:
        """`read(session, *args)` for an endpoint polled often. On SQLite it runs right
        here: a read of a few indexed rows from a local file takes a fraction of a
        millisecond, less than handing it to a worker thread and back. On a database
        across the network it runs in a worker thread, so the event loop never waits."""

        def run() -> T:
            with self.sessions() as session:
                return read(session, *args)

        if self.db.dialect.name == "sqlite":
            return run()
        return await run_in_threadpool(run)

    def wake(self) -> None:
        """Tell the job engine the queue changed."""
        if self.engine is not None:
            self.engine.wake()
        if self.notifier is not None:
            self.notifier.wake()

    def changed(self, video_ids: Iterable[str]) -> None:
        """These videos changed (committed): wake the engine, tell the browsers (of
        every web process, when the work is done by `storyteller worker`s)."""
        self.wake()
        if self.notifier is not None:
            self.notifier.changed(video_ids)
        elif self.events is not None:
            self.events.changed(video_ids)

    def deleted(self, batch_id: str) -> None:
        """This batch was deleted (committed): tell the browsers of every web process."""
        if self.notifier is not None:
            self.notifier.deleted(batch_id)
        elif self.events is not None:
            self.events.deleted(batch_id)


async def services(request: Request) -> Services:
    """The app's services (a FastAPI dependency; async so that FastAPI does not hop to a
    worker thread just to read an attribute)."""
    found: Services = request.app.state.services
    return found
