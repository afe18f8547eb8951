"""Idempotency keys and rate buckets.

``idempotency_keys``: a request sent with an ``Idempotency-Key`` (per account), reserved with
the placement it makes, and its answer once given (``status`` NULL while in flight), kept until
``expires_at``. ``rate_buckets``: each account's token bucket, shared by every process.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("account_key", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer()),
        sa.Column("headers", sa.String()),
        sa.Column("body", sa.LargeBinary()),
        sa.PrimaryKeyConstraint("account_key", "key", name="pk_idempotency_keys"),
        sa.ForeignKeyConstraint(
            ["account_key"],
            ["accounts.key"],
            name="fk_idempotency_keys_account_key_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
    op.create_table(
        "rate_buckets",
        sa.Column("account_key", sa.String(), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account_key", name="pk_rate_buckets"),
        sa.ForeignKeyConstraint(
            ["account_key"],
            ["accounts.key"],
            name="fk_rate_buckets_account_key_accounts",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
