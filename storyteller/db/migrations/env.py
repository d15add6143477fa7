"""Alembic's entry point: runs the migrations on the connection `migrate()` hands over.

`storyteller.db.migrate.migrate(url)` is the way to apply them; it passes an open
connection (already in a transaction and holding the migration lock) in
`config.attributes["connection"]`. Without one (Alembic's own commands, e.g. writing a
new revision with `alembic_config(url)` and `alembic.command.revision(...,
autogenerate=True)`), a connection is opened from the `sqlalchemy.url` option.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from storyteller.db.models import Base
from storyteller.db.session import make_engine


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: rebuild the table instead ("batch" mode).
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url option set")
    engine = make_engine(url, single_connection=True, foreign_keys=False)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; use migrate(url)")
run_migrations_online()
