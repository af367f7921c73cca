"""notifications: subscriptions, what each was last told per basin, and the message log

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-12

- `subscriptions`: a user's or an API key's owner's subscription (basins, minimum level, language, channels, the
  HMAC secret of its webhooks).
- `notification_states`: per subscription and basin the level last announced and a fall being held (the rules
  against noise of records.notifications).
- `notification_messages`: one row per message (subscription, channel, basin event) with its delivery status,
  attempts, next attempt and last error; a unique key makes a second processing of an event a no-op.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner_type", sa.String(length=8), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("basins", sa.JSON(), nullable=True),
        sa.Column("min_level", sa.SmallInteger(), nullable=False, server_default="1"),
        sa.Column("lang", sa.String(length=2), nullable=False, server_default="ru"),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subscriptions_owner", "subscriptions", ["owner"])
    op.create_table(
        "notification_states",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("basin_id", sa.String(length=64), nullable=False),
        sa.Column("announced", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column("pending_dates", sa.JSON(), nullable=True),
        sa.Column("pending_level", sa.SmallInteger(), nullable=True),
        sa.Column("last_issue_date", sa.Date(), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("last_value", sa.SmallInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "basin_id", name="uq_notification_states_sub_basin"),
    )
    op.create_index("ix_notification_states_subscription_id", "notification_states", ["subscription_id"])
    op.create_table(
        "notification_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("owner", sa.String(length=140), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("channel_index", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("run_key", sa.String(length=64), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("basin_id", sa.String(length=64), nullable=False),
        sa.Column("basin_name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=True),
        sa.Column("previous", sa.SmallInteger(), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("first_date", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attempt_log", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["run_id"], ["forecast_runs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key", name="uq_notification_messages_dedupe_key"),
    )
    op.create_index("ix_notification_messages_subscription_id", "notification_messages", ["subscription_id"])
    op.create_index("ix_notification_messages_run_id", "notification_messages", ["run_id"])
    op.create_index("ix_notification_messages_issue_date", "notification_messages", ["issue_date"])
    op.create_index("ix_notification_messages_status", "notification_messages", ["status"])
    op.create_index("ix_notification_messages_next_attempt_at", "notification_messages", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_table("notification_messages")
    op.drop_table("notification_states")
    op.drop_table("subscriptions")
