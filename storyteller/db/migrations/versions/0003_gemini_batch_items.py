"""Requests waiting for, or inside, a Gemini Batch Mode job.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# Same as storyteller.db.types: the time zone is kept on PostgreSQL, UTC text on SQLite.
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gemini_batch_item",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("video_id", sa.String(36), nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=True),
        sa.Column("evidence_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("remote_name", sa.String(255), nullable=True),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("submitted_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_gemini_batch_item"),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["video.id"],
            name="fk_gemini_batch_item_video_id_video",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["evidence_id"],
            ["evidence.id"],
            name="fk_gemini_batch_item_evidence_id_evidence",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_gemini_batch_item_video_id", "gemini_batch_item", ["video_id"])
    op.create_index("ix_gemini_batch_item_remote_name", "gemini_batch_item", ["remote_name"])


def downgrade() -> None:
    op.drop_index("ix_gemini_batch_item_remote_name", table_name="gemini_batch_item")
    op.drop_index("ix_gemini_batch_item_video_id", table_name="gemini_batch_item")
    op.drop_table("gemini_batch_item")
