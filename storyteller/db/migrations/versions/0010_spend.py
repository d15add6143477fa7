"""The ledger of what the AI tellers cost (`spend`), kept when batches are deleted, filled
with what the stories and failed attempts of the batches still here spent.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "spend",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("owner_id", sa.String(36), nullable=True),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("video_id", sa.String(36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("teller", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("wrote_story", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_spend"),
    )
    op.create_index("ix_spend_created_at", "spend", ["created_at"])
    op.create_index("ix_spend_batch_id", "spend", ["batch_id"])
    op.create_index("ix_spend_owner_created_at", "spend", ["owner_id", "created_at"])
    # What was spent before the ledger, as far as the rows still tell it (attempt 0: the
    # number of the attempt was not kept on a story).
    for source, attempt, wrote_story in (
        ("story", "0", "true"),
        ("attempt_cost", "s.attempt", "false"),
    ):
        op.execute(
            "INSERT INTO spend (created_at, owner_id, batch_id, video_id, attempt, teller,"
            " model, tokens_in, tokens_out, cost_usd, wrote_story)"
            f" SELECT s.created_at, b.owner_id, v.batch_id, v.id, {attempt}, s.teller,"
            f" s.model, s.tokens_in, s.tokens_out, s.cost_usd, {wrote_story}"
            f" FROM {source} s JOIN video v ON v.id = s.video_id JOIN batch b ON b.id = v.batch_id"
            " WHERE s.tokens_in IS NOT NULL"
        )


def downgrade() -> None:
    op.drop_index("ix_spend_owner_created_at", "spend")
    op.drop_index("ix_spend_batch_id", "spend")
    op.drop_index("ix_spend_created_at", "spend")
    op.drop_table("spend")
