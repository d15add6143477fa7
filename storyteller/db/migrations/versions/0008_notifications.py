"""Notifications: users' webhook endpoints and e-mail choices, a batch's own address, the
outbox of messages to deliver and the log of each delivery attempt.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

# As in storyteller.db.types: JSONB on PostgreSQL, JSON text on SQLite; times keep their zone.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)
EMAIL = sa.String(320)


def upgrade() -> None:
    op.create_table(
        "webhook_endpoint",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("events", JSON, nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoint"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name="fk_webhook_endpoint_user_id_app_user",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_webhook_endpoint_user_id", "webhook_endpoint", ["user_id"])
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("endpoint_id", sa.String(36), nullable=True),
        sa.Column("email", EMAIL, nullable=True),
        sa.Column("batch_id", sa.String(36), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("claim_expires_at", TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("delivered_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_message"),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoint.id"],
            name="fk_outbox_message_endpoint_id_webhook_endpoint",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_outbox_message_due", "outbox_message", ["state", "next_attempt_at"])
    op.create_index("ix_outbox_message_endpoint", "outbox_message", ["endpoint_id", "created_at"])
    op.create_table(
        "delivery_attempt",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_attempt"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["outbox_message.id"],
            name="fk_delivery_attempt_message_id_outbox_message",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_delivery_attempt_message_id", "delivery_attempt", ["message_id"])
    for table in ("app_user", "service_state"):
        with op.batch_alter_table(table) as alter:
            alter.add_column(sa.Column("email", EMAIL, nullable=True))
            alter.add_column(sa.Column("email_events", JSON, nullable=True))
    with op.batch_alter_table("batch") as alter:
        alter.add_column(sa.Column("notify_email", EMAIL, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batch") as alter:
        alter.drop_column("notify_email")
    for table in ("service_state", "app_user"):
        with op.batch_alter_table(table) as alter:
            alter.drop_column("email_events")
            alter.drop_column("email")
    op.drop_index("ix_delivery_attempt_message_id", "delivery_attempt")
    op.drop_table("delivery_attempt")
    op.drop_index("ix_outbox_message_endpoint", "outbox_message")
    op.drop_index("ix_outbox_message_due", "outbox_message")
    op.drop_table("outbox_message")
    op.drop_index("ix_webhook_endpoint_user_id", "webhook_endpoint")
    op.drop_table("webhook_endpoint")
