"""Batches, videos, story versions and shared evidence.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Plain SQLAlchemy types only (no imports from the models), so this revision keeps
creating the same tables whatever the models become later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Same as storyteller.db.types: the time zone is kept on PostgreSQL, UTC text on SQLite.
TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "batch",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("completed_at", TIME, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("teller", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_batch"),
    )
    op.create_index("ix_batch_created_at", "batch", ["created_at"])

    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("json", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evidence"),
        sa.UniqueConstraint(
            "content_hash", "fingerprint", name="uq_evidence_content_hash_fingerprint"
        ),
    )

    op.create_table(
        "video",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("storage_path", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(32), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("teller", sa.String(64), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_cause", sa.String(16), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("completed_at", TIME, nullable=True),
        sa.Column("heartbeat_at", TIME, nullable=True),
        sa.Column("run_after", TIME, nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("evidence_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_video"),
        sa.UniqueConstraint("batch_id", "position", name="uq_video_batch_id_position"),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name="ck_video_progress_fraction"),
        sa.CheckConstraint("attempts >= 0", name="ck_video_attempts_not_negative"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batch.id"], name="fk_video_batch_id_batch", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["evidence_id"],
            ["evidence.id"],
            name="fk_video_evidence_id_evidence",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_video_content_hash", "video", ["content_hash"])
    op.create_index("ix_video_claim", "video", ["status", "priority", "run_after", "created_at"])
    op.create_index("ix_video_heartbeat", "video", ["status", "heartbeat_at"])
    op.create_index("ix_video_batch_status", "video", ["batch_id", "status"])

    op.create_table(
        "story",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("video_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("teller", sa.String(64), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("place", sa.String(255), nullable=False),
        sa.Column("region", sa.String(255), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("paragraphs", JSON, nullable=False),
        sa.Column("disclaimer", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=True),
        sa.Column("tokens_out", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("evidence_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_story"),
        sa.UniqueConstraint("video_id", "version", name="uq_story_video_id_version"),
        sa.ForeignKeyConstraint(
            ["video_id"], ["video.id"], name="fk_story_video_id_video", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["evidence_id"],
            ["evidence.id"],
            name="fk_story_evidence_id_evidence",
            ondelete="SET NULL",
        ),
    )


def downgrade() -> None:
    op.drop_table("story")
    op.drop_table("video")
    op.drop_table("evidence")
    op.drop_index("ix_batch_created_at", table_name="batch")
    op.drop_table("batch")
