"""Each story's sentences with the moments they stand on, and the story version a video's
owner chose as current.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

# As in storyteller.db.types: JSONB on PostgreSQL, JSON text on SQLite.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Plain added columns (no constraint): SQLite adds them in place, no table rebuild.
    with op.batch_alter_table("story") as table:
        table.add_column(sa.Column("sentences", JSON, nullable=True))
    with op.batch_alter_table("video") as table:
        table.add_column(sa.Column("current_story_id", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("video") as table:
        table.drop_column("current_story_id")
    with op.batch_alter_table("story") as table:
        table.drop_column("sentences")
