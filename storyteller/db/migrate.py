"""Bring a database to the newest schema, safely when several processes start at once.

Alembic runs in-process from the migrations inside the package: no `alembic.ini` is
needed. The whole upgrade is one transaction, taken under a lock: PostgreSQL's
transaction-level advisory lock, or SQLite's write lock (`BEGIN IMMEDIATE`). A second
process starting at the same moment waits, then finds the schema current and does
nothing.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from storyteller.db.session import SQLITE_BEGIN, make_engine, normalise_url
from storyteller.errors import StorytellerError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Key of the PostgreSQL advisory lock held while migrating: 64 bits of a fixed name.
ADVISORY_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"storyteller.db.migrate").digest()[:8], "big", signed=True
)

# Alembic keeps its running context in module globals: one migration per process at a time.
_in_process = threading.Lock()


class MigrationError(StorytellerError):
    """The database cannot be brought to this version's schema; `reason` says why."""


def alembic_config(url: str | URL | None = None) -> Config:
    """Alembic's configuration for the migrations in this package (for `migrate` and for
    Alembic's own commands, such as writing a new revision)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if url is not None:
        rendered = normalise_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest schema revision this version of the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise MigrationError("the package holds no migrations")
    return head


def current_revision(url: str | URL) -> str | None:
    """The schema revision the database is at; None when it was never migrated."""
    engine = make_engine(url, single_connection=True)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def migrate(url: str | URL) -> str:
    """Create or upgrade the schema of the database at `url` to the newest revision and
    return that revision. Running it again is a no-op; it is safe to call from several
    processes at once."""
    # Foreign keys off on SQLite: rebuilding a table (SQLite's way to alter one) drops
    # the old one, which with foreign keys on would cascade-delete its children. They
    # are checked before the transaction commits instead.
    engine = make_engine(url, single_connection=True, foreign_keys=False)
    try:
        with _in_process, engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                connection = connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                    )
                _upgrade(connection)
                if sqlite:
                    _check_foreign_keys(connection)
                revision = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    return revision or ""


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    current = MigrationContext.configure(connection).get_current_revision()
    if current is not None and not _known(config, current):
        raise MigrationError(
            f"the database is at schema revision {current}, which this version of "
            "storyteller does not know: a newer version has used it. Upgrade storyteller."
        )
    try:
        command.upgrade(config, "head")
    except CommandError as exc:
        raise MigrationError(f"the database schema could not be upgraded: {exc}") from exc


def _known(config: Config, revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(config).get_revision(revision) is not None
    except CommandError:
        return False


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({row[0] for row in broken})
        raise MigrationError(f"migration left rows pointing at missing rows in: {tables}")
