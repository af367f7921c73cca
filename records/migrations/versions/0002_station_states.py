"""station states: no level without a current forecast; run configuration and state counts

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

A station whose data is stale at the issue date, whose forecast is a baseline fallback, which has no usable
threshold or whose forecast failed has no level (null) but a `state` with its reason (forecasting.risk.STATES).
Existing rows are backfilled from their status and message.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("station_levels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state", sa.String(length=16), nullable=False, server_default="ok"))
        batch_op.add_column(sa.Column("model_level", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("data_age_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("model_name", sa.String(length=32), nullable=True))
        batch_op.alter_column("level", existing_type=sa.SmallInteger(), nullable=True)
    with op.batch_alter_table("basin_levels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("n_no_level", sa.Integer(), nullable=False, server_default="0"))
        batch_op.alter_column("level", existing_type=sa.SmallInteger(), nullable=True)
    with op.batch_alter_table("forecast_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state_counts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("run_config", sa.JSON(), nullable=True))
    # backfill: what the old rows say of their state
    op.execute("UPDATE station_levels SET model_level = level")
    op.execute("UPDATE station_levels SET state = 'failed' WHERE status = 'failed'")
    op.execute("UPDATE station_levels SET state = 'stale' WHERE state = 'ok' AND stale")
    op.execute(
        "UPDATE station_levels SET state = 'climatology' WHERE state = 'ok' AND status = 'fallback' "
        "AND message LIKE '%climatology forecast%'"
    )
    op.execute("UPDATE station_levels SET state = 'fallback' WHERE state = 'ok' AND status = 'fallback'")
    op.execute(
        "UPDATE station_levels SET state = 'no_thresholds' WHERE state = 'ok' AND message LIKE '%no thresholds%'"
    )
    op.execute("UPDATE station_levels SET level = NULL, level_label = state WHERE state <> 'ok'")


def downgrade() -> None:
    op.execute("UPDATE station_levels SET level = COALESCE(model_level, 0) WHERE level IS NULL")
    op.execute("UPDATE basin_levels SET level = 0 WHERE level IS NULL")
    with op.batch_alter_table("forecast_runs", schema=None) as batch_op:
        batch_op.drop_column("run_config")
        batch_op.drop_column("state_counts")
    with op.batch_alter_table("basin_levels", schema=None) as batch_op:
        batch_op.alter_column("level", existing_type=sa.SmallInteger(), nullable=False)
        batch_op.drop_column("n_no_level")
    with op.batch_alter_table("station_levels", schema=None) as batch_op:
        batch_op.alter_column("level", existing_type=sa.SmallInteger(), nullable=False)
        batch_op.drop_column("model_name")
        batch_op.drop_column("data_age_days")
        batch_op.drop_column("model_level")
        batch_op.drop_column("state")
