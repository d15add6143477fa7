"""The admin's controls and figures: the service's pause flag, paused batches, the workers'
registry and the time each stage of a video took.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

# As in storyteller.db.types: JSONB on PostgreSQL, JSON text on SQLite; times keep their zone.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "service_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("changed_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_service_state"),
    )
    op.execute("INSERT INTO service_state (id, paused) VALUES (1, false)")
    op.create_table(
        "worker",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("queues", JSON, nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("heartbeat_at", TIME, nullable=False),
        sa.Column("stopped_at", TIME, nullable=True),
        sa.Column("videos_done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("current", JSON, nullable=False),
        sa.Column("draining", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("stop_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name="pk_worker"),
    )
    op.create_table(
        "stage_timing",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("video_id", sa.String(36), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("ended_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stage_timing"),
        sa.ForeignKeyConstraint(
            ["video_id"], ["video.id"], name="fk_stage_timing_video_id_video", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_stage_timing_ended_at", "stage_timing", ["ended_at"])
    op.create_index("ix_stage_timing_video_id", "stage_timing", ["video_id"])
    with op.batch_alter_table("batch") as table:
        table.add_column(
            sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("ix_batch_paused", "batch", ["paused"])
    op.create_index("ix_video_completed_at", "video", ["completed_at"])
    op.create_index("ix_video_failures", "video", ["status", "error_code", "completed_at"])
    op.create_index("ix_story_created_at", "story", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_story_created_at", "story")
    op.drop_index("ix_video_failures", "video")
    op.drop_index("ix_video_completed_at", "video")
    op.drop_index("ix_batch_paused", "batch")
    with op.batch_alter_table("batch") as table:
        table.drop_column("paused")
    op.drop_index("ix_stage_timing_video_id", "stage_timing")
    op.drop_index("ix_stage_timing_ended_at", "stage_timing")
    op.drop_table("stage_timing")
    op.drop_table("worker")
    op.drop_table("service_state")
