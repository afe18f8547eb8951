"""How far each account's events have been purged (retention): a reader whose cursor is
behind it has missed events and is told so rather than served what is left.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_purges",
        sa.Column("account_key", sa.String(), nullable=False),
        sa.Column("purged_through", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_key", name="pk_event_purges"),
        sa.ForeignKeyConstraint(
            ["account_key"],
            ["accounts.key"],
            name="fk_event_purges_account_key_accounts",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("event_purges")
