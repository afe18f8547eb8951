"""Node leases: each serving process renews ``seen_at`` (its heartbeat); a survivor that finds
a node silent past the takeover time records itself in ``taken_by`` / ``taken_at`` and takes
the node's calls in the same transaction. Rows already there count as seen at their start.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as nodes:
        nodes.add_column(sa.Column("seen_at", sa.DateTime(timezone=True)))
        nodes.add_column(sa.Column("taken_by", sa.String()))
        nodes.add_column(sa.Column("taken_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE nodes SET seen_at = started_at")


def downgrade() -> None:
    with op.batch_alter_table("nodes") as nodes:
        for column in ("taken_at", "taken_by", "seen_at"):
            nodes.drop_column(column)
