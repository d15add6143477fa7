"""What attempts that wrote no story spent, for the budgets.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

# Same as storyteller.db.types: the time zone is kept on PostgreSQL, UTC text on SQLite.
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "attempt_cost",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("video_id", sa.String(36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("teller", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attempt_cost"),
        sa.ForeignKeyConstraint(
            ["video_id"], ["video.id"], name="fk_attempt_cost_video_id_video", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_attempt_cost_video_id", "attempt_cost", ["video_id"])
    op.create_index("ix_attempt_cost_created_at", "attempt_cost", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_attempt_cost_created_at", table_name="attempt_cost")
    op.drop_index("ix_attempt_cost_video_id", table_name="attempt_cost")
    op.drop_table("attempt_cost")
