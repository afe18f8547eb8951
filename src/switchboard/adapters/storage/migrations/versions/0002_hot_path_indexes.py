"""Indexes for the hot path: the free agent idle longest, and a node's next deadline.

``ix_agents_free_idle`` is a partial index over the agents on no call in a state that may call
out, in the order group calls choose them (never called first, then longest idle, then id as
a number, then as text): a group call walks it from the start instead of reading the group.
It is written in SQL per dialect because it indexes expressions, which SQLAlchemy's schema
objects (and Alembic's comparison) do not describe; ``tables.py`` says so where it would be.

``ix_calls_node_id_deadline_at`` serves each node's due deadlines and its next one, and
replaces ``ix_calls_deadline_at``.

``nodes``: where each serving process listens for wake-ups from other processes.

``groups.members``: how many members a group has (kept by whoever adds them), so that a group
call chooses between reading small groups whole and walking the index without counting.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_FREE_IDLE = (
    "CREATE INDEX ix_agents_free_idle ON agents "
    "(account_key, (idle_since IS NOT NULL), idle_since, CAST(agent_id AS {number}), agent_id) "
    "WHERE current_call_id IS NULL AND state IN ('Ready', 'ReadyOutbound', 'Wrapup')"
)


def upgrade() -> None:
    number = "INTEGER" if op.get_bind().dialect.name == "sqlite" else "BIGINT"
    op.execute(_FREE_IDLE.format(number=number))
    op.create_index("ix_calls_node_id_deadline_at", "calls", ["node_id", "deadline_at"])
    # Superseded by the node's index: one index fewer to keep up at every deadline change.
    op.drop_index("ix_calls_deadline_at", table_name="calls")
    with op.batch_alter_table("groups") as groups:
        groups.add_column(
            sa.Column("members", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
    op.execute(
        "UPDATE groups SET members = (SELECT count(*) FROM group_members AS m "
        "WHERE m.account_key = groups.account_key AND m.group_id = groups.group_id)"
    )
    op.create_table(
        "nodes",
        sa.Column("node_id", sa.String(), nullable=False),
        sa.Column("doorbell", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name="pk_nodes"),
    )


def downgrade() -> None:
    op.drop_table("nodes")
    with op.batch_alter_table("groups") as groups:
        groups.drop_column("members")
    op.create_index("ix_calls_deadline_at", "calls", ["deadline_at"])
    op.drop_index("ix_calls_node_id_deadline_at", table_name="calls")
    op.drop_index("ix_agents_free_idle", table_name="agents")
