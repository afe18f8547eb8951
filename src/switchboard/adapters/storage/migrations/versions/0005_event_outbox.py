"""The event outbox: every domain event, written in the transaction of the change it tells.

``events`` keeps each event with its ``position`` (the cursor of the replayable log and the
stream: growing, and within an account in commit order) and its call's ``sequence``. An event
costs three B-trees and no more (the hot path writes two per placement): the table (on SQLite
keyed by the rowid, which ``position`` is), an account's events in order, a call's events.

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
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("account_key", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("call_id", sa.String()),
        sa.Column("sequence", sa.Integer()),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_events"),
        sa.ForeignKeyConstraint(
            ["account_key"],
            ["accounts.key"],
            name="fk_events_account_key_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_events_account_key_position", "events", ["account_key", "position"])
    op.create_index("ix_events_call_id_sequence", "events", ["call_id", "sequence"])


def downgrade() -> None:
    op.drop_index("ix_events_call_id_sequence", table_name="events")
    op.drop_index("ix_events_account_key_position", table_name="events")
    op.drop_table("events")
