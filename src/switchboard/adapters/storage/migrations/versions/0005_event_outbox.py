"""The event outbox: every domain event, written in the transaction of the change it tells.

``events`` keeps each event with its account's ``position`` (the cursor of the replayable log
and the stream, from 1, gap-free) and its call's ``sequence``; ``event_positions`` holds each
account's last position, and its row lock orders one account's commits on PostgreSQL so that
positions come in commit order.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("account_key", sa.String(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("call_id", sa.String()),
        sa.Column("sequence", sa.Integer()),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("account_key", "position", name="pk_events"),
        sa.UniqueConstraint("id", name="uq_events_id"),
        sa.ForeignKeyConstraint(
            ["account_key"],
            ["accounts.key"],
            name="fk_events_account_key_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_events_call_id_sequence", "events", ["call_id", "sequence"])
    op.create_index("ix_events_occurred_at", "events", ["occurred_at"])
    op.create_table(
        "event_positions",
        sa.Column("account_key", sa.String(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_key", name="pk_event_positions"),
        sa.ForeignKeyConstraint(
            ["account_key"],
            ["accounts.key"],
            name="fk_event_positions_account_key_accounts",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("event_positions")
    op.drop_index("ix_events_occurred_at", table_name="events")
    op.drop_index("ix_events_call_id_sequence", table_name="events")
    op.drop_table("events")
