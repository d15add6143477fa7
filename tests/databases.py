"""Database fixtures for every test package (loaded by tests/conftest.py): a test that asks
for `database_url`, `engine` or `session` runs on SQLite and on PostgreSQL, each time on an
empty store.

PostgreSQL: one scratch database per test session (created in the server named by
STORYTELLER_TEST_POSTGRES_URL, default the local `test` database, dropped at the
end), and one fresh schema per database inside it, chosen through `search_path`. When no
server answers, the PostgreSQL runs are skipped, unless the variable is set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from storyteller.db.migrate import migrate
from storyteller.db.models import Base
from storyteller.db.session import make_engine, make_session_factory

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[URL]:
    """A scratch PostgreSQL database for the whole session."""
    configured = os.environ.get("STORYTELLER_TEST_POSTGRES_URL")
    server = make_url(configured or DEFAULT_POSTGRES_URL)
    admin = create_engine(
        server,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 3},
    )
    name = f"storyteller_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        if configured:
            raise
        pytest.skip(f"no PostgreSQL at {server.render_as_string()}: {exc.orig}")
    try:
        yield server.set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def _empty_database(request: pytest.FixtureRequest, backend: str, folder: Path) -> Iterator[str]:
    """A new SQLite file in `folder`, or a new schema in the session's PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'store.db'}"
        return
    database: URL = request.getfixturevalue("postgres_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _render(database.update_query_dict({"options": f"-csearch_path={schema}"}))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database, never migrated."""
    with _empty_database(request, request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """An engine on a migrated database, one per backend for the session (migrating
    for every test would cost more than the tests); `session` empties it after each test."""
    with _empty_database(request, request.param, tmp_path_factory.mktemp("db")) as url:
        migrate(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the migrated database, which is empty again after the test."""
    with make_session_factory(engine)() as session:
        yield session
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
