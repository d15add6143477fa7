"""The model chosen per batch, video and story; a video's wait for budget.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Adding nullable columns needs no table rebuild on SQLite, so no batch mode here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

MODEL = sa.String(128)


def upgrade() -> None:
    op.add_column("batch", sa.Column("model", MODEL, nullable=True))
    op.add_column("video", sa.Column("model", MODEL, nullable=True))
    op.add_column("video", sa.Column("wait_reason", sa.Text(), nullable=True))
    op.add_column("video", sa.Column("cost_reserved_usd", sa.Float(), nullable=True))
    op.add_column("story", sa.Column("model", MODEL, nullable=True))


def downgrade() -> None:
    op.drop_column("story", "model")
    op.drop_column("video", "cost_reserved_usd")
    op.drop_column("video", "wait_reason")
    op.drop_column("video", "model")
    op.drop_column("batch", "model")
