"""Indexes for listing an account's calls over ``/api/v1`` by CRM reference or destination.

The order and the cursor (``created_at``, ``id``) and the time range are served by
``ix_calls_account_key_created_at``; an agent's calls by the two agent indexes already there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_account_key_reference", "calls", ["account_key", "reference"])
    op.create_index(
        "ix_calls_account_key_destination_e164", "calls", ["account_key", "destination_e164"]
    )


def downgrade() -> None:
    op.drop_index("ix_calls_account_key_destination_e164", table_name="calls")
    op.drop_index("ix_calls_account_key_reference", table_name="calls")
