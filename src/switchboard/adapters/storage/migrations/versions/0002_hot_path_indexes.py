"""The hot path: choosing a group's agent by an index, a node's deadlines, the nodes table.

Each group membership carries its agent's standing for a group call, kept by the agents
repository in the transaction that changes the agent: ``free`` (0: on no call and ``Ready``
or ``ReadyOutbound``; 1: in ``Wrapup`` owing no disposition, on no call; 2: anything else),
``called`` (0 until the agent's first call has ended), ``idle_since`` and ``agent_number``
(the id as a number). ``ix_group_members_choice`` orders a group's members the way a group
call chooses them, so the free member idle longest is the first entry of a range, whatever
the size of the group. ``ix_group_members_account_key_agent_id`` finds an agent's memberships
when the agent changes.

``ix_calls_node_id_deadline_at`` serves each node's due deadlines and its next one, and
replaces ``ix_calls_deadline_at``.

``nodes``: where each serving process listens for wake-ups from other processes.

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

# The same standing the agents repository writes (``repositories._STANDING``).
_STANDING = (
    "UPDATE group_members SET (free, called, idle_since, agent_number) = ("
    "SELECT CASE WHEN a.current_call_id IS NOT NULL THEN 2 "
    "WHEN a.state IN ('Ready', 'ReadyOutbound') THEN 0 "
    "WHEN a.state = 'Wrapup' AND a.awaiting_disposition IS NULL THEN 1 ELSE 2 END, "
    "CASE WHEN a.idle_since IS NULL THEN 0 ELSE 1 END, a.idle_since, "
    "CAST(a.agent_id AS {number}) "
    "FROM agents AS a WHERE a.account_key = group_members.account_key "
    "AND a.agent_id = group_members.agent_id)"
)


def upgrade() -> None:
    number = "INTEGER" if op.get_bind().dialect.name == "sqlite" else "BIGINT"
    with op.batch_alter_table("group_members") as members:
        members.add_column(
            sa.Column("free", sa.Integer(), nullable=False, server_default=sa.text("2"))
        )
        members.add_column(
            sa.Column("called", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        members.add_column(sa.Column("idle_since", sa.DateTime(timezone=True)))
        members.add_column(
            sa.Column("agent_number", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.execute(_STANDING.format(number=number))
    op.create_index(
        "ix_group_members_choice",
        "group_members",
        ["account_key", "group_id", "free", "called", "idle_since", "agent_number", "agent_id"],
    )
    op.create_index(
        "ix_group_members_account_key_agent_id", "group_members", ["account_key", "agent_id"]
    )
    op.create_index("ix_calls_node_id_deadline_at", "calls", ["node_id", "deadline_at"])
    # Superseded by the node's index: one index fewer to keep up at every deadline change.
    op.drop_index("ix_calls_deadline_at", table_name="calls")
    op.create_table(
        "nodes",
        sa.Column("node_id", sa.String(), nullable=False),
        sa.Column("doorbell", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name="pk_nodes"),
    )


def downgrade() -> None:
    op.drop_table("nodes")
    op.create_index("ix_calls_deadline_at", "calls", ["deadline_at"])
    op.drop_index("ix_calls_node_id_deadline_at", table_name="calls")
    op.drop_index("ix_group_members_account_key_agent_id", table_name="group_members")
    op.drop_index("ix_group_members_choice", table_name="group_members")
    with op.batch_alter_table("group_members") as members:
        for column in ("agent_number", "idle_since", "called", "free"):
            members.drop_column(column)
