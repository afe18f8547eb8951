"""The initial schema: accounts, callback numbers, agents, groups, calls, settings.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("country", sa.String(), nullable=False),
        sa.Column("ccxml", sa.Boolean(), nullable=False),
        sa.Column("record_calls", sa.Boolean(), nullable=False),
        sa.Column("agent_timeout_s", sa.Float(), nullable=False),
        sa.Column("destination_timeout_s", sa.Float(), nullable=False),
        sa.Column("wrapup_seconds", sa.Float(), nullable=False),
        sa.Column("post_call_state", sa.String(), nullable=False),
        sa.Column("enforce_dispositions", sa.Boolean(), nullable=False),
        sa.Column("outbound_in_wrapup", sa.Boolean(), nullable=False),
        sa.Column("allow_premium", sa.Boolean(), nullable=False),
        sa.Column("deny_prefixes", sa.Text(), nullable=False),
        sa.Column("api_token_hash", sa.String(), nullable=False),
        sa.Column("token_generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_accounts"),
    )
    op.create_table(
        "callback_numbers",
        sa.Column("account_key", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(), nullable=False),
        sa.Column("e164", sa.String(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("account_key", "position", name="pk_callback_numbers"),
        sa.ForeignKeyConstraint(
            ["account_key"],
            ["accounts.key"],
            name="fk_callback_numbers_account_key_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "agents",
        sa.Column("account_key", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("phone", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("settled_state", sa.String(), nullable=False),
        sa.Column("state_before_call", sa.String(), nullable=True),
        sa.Column("current_call_id", sa.String(), nullable=True),
        sa.Column("idle_since", _TIME, nullable=True),
        sa.Column("wrapup_until", _TIME, nullable=True),
        sa.Column("awaiting_disposition", sa.String(), nullable=True),
        sa.Column("callback_number", sa.String(), nullable=True),
        sa.Column("allowed_numbers", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("account_key", "agent_id", name="pk_agents"),
        sa.ForeignKeyConstraint(
            ["account_key"],
            ["accounts.key"],
            name="fk_agents_account_key_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_agents_state_wrapup_until", "agents", ["state", "wrapup_until"])
    op.create_table(
        "groups",
        sa.Column("account_key", sa.String(), nullable=False),
        sa.Column("group_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("account_key", "group_id", name="pk_groups"),
        sa.ForeignKeyConstraint(
            ["account_key"],
            ["accounts.key"],
            name="fk_groups_account_key_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "group_members",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_key", sa.String(), nullable=False),
        sa.Column("group_id", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_group_members"),
        sa.UniqueConstraint(
            "account_key",
            "group_id",
            "agent_id",
            name="uq_group_members_account_key_group_id_agent_id",
        ),
        sa.ForeignKeyConstraint(
            ["account_key", "group_id"],
            ["groups.account_key", "groups.group_id"],
            name="fk_group_members_account_key_group_id_groups",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_key", "agent_id"],
            ["agents.account_key", "agents.agent_id"],
            name="fk_group_members_account_key_agent_id_agents",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("account_key", sa.String(), nullable=False),
        sa.Column("caller_agent_id", sa.String(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("agent_phone", sa.String(), nullable=False),
        sa.Column("destination_number", sa.String(), nullable=True),
        sa.Column("destination_e164", sa.String(), nullable=True),
        sa.Column("destination_agent_id", sa.String(), nullable=True),
        sa.Column("destination_phone", sa.String(), nullable=True),
        sa.Column("presented_clid", sa.String(), nullable=True),
        sa.Column("presented_clid_e164", sa.String(), nullable=True),
        sa.Column("from_telephone_number", sa.String(), nullable=True),
        sa.Column("from_consent", sa.String(), nullable=True),
        sa.Column("to_consent", sa.String(), nullable=True),
        sa.Column("reference", sa.String(), nullable=True),
        sa.Column("application", sa.String(), nullable=True),
        sa.Column("phase", sa.String(), nullable=False),
        sa.Column("recording_status", sa.String(), nullable=False),
        sa.Column("recording_set_by_client", sa.Boolean(), nullable=False),
        sa.Column("disposition_code", sa.String(), nullable=True),
        sa.Column("result_code", sa.String(), nullable=True),
        sa.Column("result_party", sa.String(), nullable=True),
        sa.Column("result_reason", sa.String(), nullable=True),
        sa.Column("agent_answered_at", _TIME, nullable=True),
        sa.Column("connected_at", _TIME, nullable=True),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.Column("agent_timeout_s", sa.Float(), nullable=False),
        sa.Column("destination_timeout_s", sa.Float(), nullable=False),
        sa.Column("deadline_at", _TIME, nullable=True),
        sa.Column("deadline_tag", sa.String(), nullable=True),
        sa.Column("engine", sa.String(), nullable=False),
        sa.Column("node_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
        sa.ForeignKeyConstraint(
            ["account_key"],
            ["accounts.key"],
            name="fk_calls_account_key_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_calls_deadline_at", "calls", ["deadline_at"])
    op.create_index("ix_calls_account_key_created_at", "calls", ["account_key", "created_at"])
    op.create_index(
        "ix_calls_account_key_caller_agent_id", "calls", ["account_key", "caller_agent_id"]
    )
    op.create_index(
        "ix_calls_account_key_destination_agent_id",
        "calls",
        ["account_key", "destination_agent_id"],
    )
    op.create_index("ix_calls_phase_ended_at", "calls", ["phase", "ended_at"])
    op.create_index("ix_calls_node_id_phase", "calls", ["node_id", "phase"])
    op.create_table(
        "settings",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_settings"),
    )


def downgrade() -> None:
    for table in ("settings", "calls", "group_members", "groups", "agents", "callback_numbers"):
        op.drop_table(table)
    op.drop_table("accounts")
