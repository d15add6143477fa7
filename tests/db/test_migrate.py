"""Migrations: applied from empty, idempotent, safe when processes start together."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

from storyteller.config import Settings
from storyteller.db.migrate import (
    MigrationError,
    alembic_config,
    current_revision,
    head_revision,
    migrate,
)
from storyteller.db.models import Base, Batch, Story, Video
from storyteller.db.session import (
    SQLITE_BUSY_TIMEOUT_MS,
    default_database_url,
    make_engine,
    make_session_factory,
    normalise_url,
    write_engine,
)

TABLES = {"batch", "video", "story", "evidence", "alembic_version"}


def test_migrate_creates_every_table_from_empty(database_url: str) -> None:
    assert current_revision(database_url) is None

    assert migrate(database_url) == head_revision()

    engine = make_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
        assert current_revision(database_url) == head_revision()
    finally:
        engine.dispose()


def test_migrating_again_changes_nothing(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO batch (id, created_at, status, priority, teller) "
                    "VALUES ('b1', CURRENT_TIMESTAMP, 'processing', 1, 'local')"
                )
            )
        assert migrate(database_url) == head_revision()
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM batch")) == 1
            assert connection.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    finally:
        engine.dispose()


def test_the_migrations_build_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def _migrate_in_child(url: str, start: Any, results: Any) -> None:
    start.wait(timeout=30)
    try:
        results.put(("ok", migrate(url)))
    except Exception as exc:
        results.put(("error", repr(exc)))


def test_two_processes_migrating_at_once_both_succeed(database_url: str) -> None:
    # fork where there is one: a spawned child spends seconds importing
    methods = multiprocessing.get_all_start_methods()
    context = (
        multiprocessing.get_context("fork")
        if "fork" in methods
        else multiprocessing.get_context("spawn")
    )
    start, results = context.Event(), context.Queue()
    children = [
        context.Process(target=_migrate_in_child, args=(database_url, start, results))
        for _ in range(2)
    ]
    for child in children:
        child.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=30)

    assert outcomes == [("ok", head_revision())] * 2
    assert all(child.exitcode == 0 for child in children)
    assert current_revision(database_url) == head_revision()


def test_threads_migrating_at_once_both_succeed(database_url: str) -> None:
    barrier = threading.Barrier(3)

    def run() -> str:
        barrier.wait(timeout=10)
        return migrate(database_url)

    with ThreadPoolExecutor(3) as pool:
        revisions = list(pool.map(lambda _: run(), range(3)))
    assert revisions == [head_revision()] * 3


def test_a_database_from_a_newer_version_is_refused(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()

    with pytest.raises(MigrationError, match="newer version"):
        migrate(database_url)


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'store.db'}"
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
    finally:
        engine.dispose()


def test_a_write_transaction_takes_the_sqlite_write_lock_at_begin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate(url)
    engine = make_engine(url)
    other = sqlite3.connect(tmp_path / "store.db", timeout=0, isolation_level=None)
    try:
        with write_engine(engine).connect() as connection, connection.begin():
            connection.exec_driver_sql("SELECT count(*) FROM batch").scalar()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        with engine.connect() as connection, connection.begin():
            connection.exec_driver_sql("SELECT count(*) FROM batch").scalar()
            other.execute("BEGIN IMMEDIATE")  # a plain transaction leaves writers be
            other.execute("ROLLBACK")
    finally:
        other.close()
        engine.dispose()


def test_the_default_database_is_a_sqlite_file_in_the_data_folder(settings: Settings) -> None:
    assert default_database_url(settings) == f"sqlite:///{settings.data_dir / 'storyteller.db'}"


def test_plain_postgresql_urls_use_psycopg() -> None:
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"


def _connect_in_child(url: str, start: Any, results: Any) -> None:
    start.wait(timeout=30)
    engine = write_engine(make_engine(url, single_connection=True))
    try:
        # a write, as a starting server's first act (migrating) is one
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS seen (pid INTEGER)")
            connection.exec_driver_sql("INSERT INTO seen VALUES (1)")
            time.sleep(0.1)  # a migration's write takes a while: others connect meanwhile
            results.put(("ok", connection.exec_driver_sql("PRAGMA journal_mode").scalar()))
    except Exception as exc:
        results.put(("error", repr(exc)))
    finally:
        engine.dispose()


def test_processes_opening_a_new_sqlite_file_at_once_all_get_it_in_wal(tmp_path: Path) -> None:
    # The switch to WAL is where two starting processes collide (SQLite skips its busy
    # handler there); a few fresh files make the race all but certain to happen.
    context = multiprocessing.get_context("fork")
    for round_ in range(12):
        url = f"sqlite:///{tmp_path / f'race-{round_}.db'}"
        start, results = context.Event(), context.Queue()
        children = [
            context.Process(target=_connect_in_child, args=(url, start, results)) for _ in range(2)
        ]
        for child in children:
            child.start()
        start.set()
        outcomes = [results.get(timeout=60) for _ in children]
        for child in children:
            child.join(timeout=30)
        assert outcomes == [("ok", "wal")] * 2, f"round {round_}"


def test_sentences_and_the_chosen_version_migrate_down_and_up(database_url: str) -> None:
    """0009 adds `story.sentences` and `video.current_story_id`; going down and up again
    keeps every row, and a story from before (no sentences) stays readable."""
    migrate(database_url)
    engine = make_engine(database_url, foreign_keys=False)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO batch (id, created_at, status, priority, teller) "
                "VALUES ('b1', CURRENT_TIMESTAMP, 'completed', 1, 'local')"
            ))  # fmt: skip
        session = make_session_factory(engine)()
        with session.begin():
            batch = session.get(Batch, "b1")
            assert batch is not None
            video = Video(batch=batch, position=0, original_name="a.mp4", size_bytes=1,
                          content_hash="0" * 64, storage_path="x", teller="local")  # fmt: skip
            session.add(video)
            session.flush()
            story = Story(video_id=video.id, version=1, teller="local", seed=0, title="T",
                          place="P", region="R", date=dt.date(2026, 1, 2),
                          paragraphs=["One. Two.", "Three."], disclaimer="D", text="t",
                          sentences=[{"text": "One. Two.", "paragraph": 0, "sources": []},
                                     {"text": "Three.", "paragraph": 1, "sources": []}])  # fmt: skip
            session.add(story)
            session.flush()
            video.current_story_id = story.id
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0007")
            columns = {c["name"] for c in inspect(connection).get_columns("story")}
            assert "sentences" not in columns
            assert "current_story_id" not in {
                c["name"] for c in inspect(connection).get_columns("video")
            }
        assert migrate(database_url) == head_revision()
        session.expunge_all()
        with session.begin():
            (kept,) = session.scalars(select(Story)).all()
            assert kept.sentences is None  # written before sentences were kept
            assert [(s.text, s.paragraph) for s in kept.linked_sentences()] == [
                ("One.", 0),
                ("Two.", 0),
                ("Three.", 1),
            ]
            assert session.scalars(select(Video.current_story_id)).one() is None
    finally:
        engine.dispose()
