"""The database as a web process uses it: sessions that read, transactions that write
(SQLite's write lock taken at BEGIN), and the quick read of a path polled often."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from storyteller.db.session import make_session_factory, write_engine

T = TypeVar("T")


class Database:
    """One engine's sessions. Thread-safe: every call opens its own session."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reads = make_session_factory(engine)
        self._writes = make_session_factory(write_engine(engine))

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reads() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that writes, committed at the end. On SQLite it takes the write
        lock at BEGIN, so a transaction that reads before it writes waits for another
        writer (the job engine) instead of failing with "database is locked"."""
        with self._writes.begin() as session:
            yield session

    def run(self, read: Callable[..., T], *args: Any) -> T:
        """`read(session, *args)` in a session of its own."""
        with self._reads() as session:
            return read(session, *args)

    async def quick_read(self, read: Callable[..., T], *args: Any) -> T:
        """`read(session, *args)` for an endpoint polled often. On SQLite it runs right
        here: a read of a few indexed rows from a local file takes a fraction of a
        millisecond, less than handing it to a worker thread and back. On a database
        across the network it runs in a worker thread, so the event loop never waits."""
        if self.engine.dialect.name == "sqlite":
            return self.run(read, *args)
        return await anyio.to_thread.run_sync(partial(self.run, read, *args))
