"""The durable store: SQLAlchemy models, the engine and session factory, Alembic migrations."""
