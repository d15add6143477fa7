"""Engines and sessions: SQLite (WAL, the embedded default) or PostgreSQL, from one URL.

SQLite transactions are begun by SQLAlchemy rather than by Python's sqlite3 module,
so that a transaction can take the write lock up front (`BEGIN IMMEDIATE`, see
`write_engine`): a transaction that reads and then writes (claiming a video) otherwise
fails with "database is locked" instead of waiting when another writer got in first.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from storyteller.config import Settings

DATABASE_FILE = "storyteller.db"

# How long a SQLite connection waits for another one's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Execution option read when a SQLite transaction begins: DEFERRED (the default) or
# IMMEDIATE (take the write lock at BEGIN). Ignored on PostgreSQL.
SQLITE_BEGIN = "sqlite_begin"


def default_database_url(settings: Settings) -> str:
    """`settings.database_url` when set (STORYTELLER_DATABASE_URL), else a SQLite file
    in the data folder."""
    url: str | None = getattr(settings, "database_url", None)
    if url:
        return url
    return f"sqlite:///{settings.data_dir / DATABASE_FILE}"


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL; plain `postgresql://` and `postgres://` mean psycopg 3,
    the only PostgreSQL driver installed."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(
    url: str | URL,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    echo: bool = False,
    foreign_keys: bool = True,
    single_connection: bool = False,
    check_connections: bool = True,
    application_name: str | None = None,
) -> Engine:
    """An engine for `url`, set up for this product's use of it.

    Both keep a pool of `pool_size` connections plus up to `max_overflow` more.
    SQLite: WAL journal (readers never wait for the writer), foreign keys enforced,
    a busy timeout of `SQLITE_BUSY_TIMEOUT_MS`, `synchronous=NORMAL` (in WAL mode a
    killed process loses nothing; only a power cut can lose the last commits). The
    folder of the file is created; an in-memory database lives only as long as its
    connection, so migrations need a file. PostgreSQL: connections are checked before
    use, so a restarted server is survived; `check_connections=False` saves that round
    trip for a caller that retries on its own (a worker's supervisor: the first use of a
    dropped connection fails, and the pool starts afresh). `application_name` names the
    connections in `pg_stat_activity`.

    `single_connection` opens a fresh connection for each use and keeps none, and
    `foreign_keys=False` leaves SQLite's unchecked: both for one-off work such as
    migrations. Engines do not survive `fork()`: make one in
    each worker process.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(
            parsed,
            echo=echo,
            foreign_keys=foreign_keys,
            single_connection=single_connection,
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
    options: dict[str, Any] = {"echo": echo, "pool_pre_ping": check_connections}
    if application_name:
        options["connect_args"] = {"application_name": application_name}
    if single_connection:
        options["poolclass"] = NullPool
    else:
        options.update(pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800)
    return create_engine(parsed, **options)


def _sqlite_engine(
    url: URL,
    *,
    echo: bool,
    foreign_keys: bool,
    single_connection: bool,
    pool_size: int,
    max_overflow: int,
) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"echo": echo}
    if single_connection:
        options["poolclass"] = NullPool
    elif not in_memory:
        options.update(pool_size=pool_size, max_overflow=max_overflow)
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy emit BEGIN itself (see `_on_begin`); the sqlite3 module's own
        # transaction handling would begin too late and never IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL waits for other connections' locks.
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not in_memory:
                _switch_to_wal(cursor)
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = str(connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")).upper()
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(f"{SQLITE_BEGIN} must be DEFERRED, IMMEDIATE or EXCLUSIVE, not {mode}")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _switch_to_wal(cursor: Any) -> None:
    """Put the database file in WAL mode (it stays so). SQLite does not call the busy
    handler while two connections race to switch a new file, so the loser gets "database
    is locked" at once: wait and try again, up to the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def write_engine(engine: Engine) -> Engine:
    """The same engine (same pool) whose SQLite transactions take the write lock at BEGIN.

    Use it for transactions that read and then write (claim the next video, add a story
    version): they then wait for other writers, up to the busy timeout, instead of failing.
    On PostgreSQL it is the engine itself; lock rows there with `SELECT ... FOR UPDATE`.
    """
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (the API returns them)."""
    return sessionmaker(engine, expire_on_commit=False)
