"""Webhook subscriptions: each with its delivery cursor (a position in its account's event
log), its retry state and its lease (the node delivering it); the delivery log; the
redeliveries an operator asked for.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_TIME = sa.DateTime(timezone=True)

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("account_key", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("event_types", sa.String(), nullable=False),
        sa.Column("secret", sa.String(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("retry_at", _TIME),
        sa.Column("lease_owner", sa.String()),
        sa.Column("lease_until", _TIME),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        sa.ForeignKeyConstraint(
            ["account_key"],
            ["accounts.key"],
            name="fk_webhooks_account_key_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_webhooks_account_key", "webhooks", ["account_key"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("subscription_id", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("response_code", sa.Integer()),
        sa.Column("error", sa.String()),
        sa.Column("redelivery", sa.Boolean(), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint(
            "subscription_id", "event_id", "attempt", name="pk_webhook_deliveries"
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhooks.id"],
            name="fk_webhook_deliveries_subscription_id_webhooks",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_subscription_id_started_at",
        "webhook_deliveries",
        ["subscription_id", "started_at"],
    )
    op.create_index("ix_webhook_deliveries_started_at", "webhook_deliveries", ["started_at"])
    op.create_table(
        "webhook_redeliveries",
        sa.Column("subscription_id", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("retry_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", "event_id", name="pk_webhook_redeliveries"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhooks.id"],
            name="fk_webhook_redeliveries_subscription_id_webhooks",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("webhook_redeliveries")
    op.drop_index("ix_webhook_deliveries_started_at", table_name="webhook_deliveries")
    op.drop_index(
        "ix_webhook_deliveries_subscription_id_started_at", table_name="webhook_deliveries"
    )
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhooks_account_key", table_name="webhooks")
    op.drop_table("webhooks")
