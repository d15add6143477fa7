"""Alembic migrations of the store, applied by `storyteller.db.migrate.migrate`."""
