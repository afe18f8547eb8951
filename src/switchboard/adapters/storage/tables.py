"""The schema, as SQLAlchemy Core tables. Migrations (``migrations/versions``) must match it;
the contract suite compares them.

Enums are stored as their VCC labels in plain string columns (no database enum types, so a new
value needs no migration). Lists of strings are JSON text. Every instant is UTC
(``UtcDateTime``). Strings have no length limits: the service validates lengths, and SQLite
would not enforce them anyway, so both backends accept the same values.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    text,
)

from switchboard.adapters.storage.coltypes import StringList, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

accounts = Table(
    "accounts",
    metadata,
    Column("key", String, primary_key=True),
    Column("region", String, nullable=False),
    Column("country", String, nullable=False),
    Column("ccxml", Boolean, nullable=False),
    Column("record_calls", Boolean, nullable=False),
    Column("agent_timeout_s", Float, nullable=False),
    Column("destination_timeout_s", Float, nullable=False),
    Column("wrapup_seconds", Float, nullable=False),
    Column("post_call_state", String, nullable=False),
    Column("enforce_dispositions", Boolean, nullable=False),
    Column("outbound_in_wrapup", Boolean, nullable=False),
    Column("allow_premium", Boolean, nullable=False),
    Column("deny_prefixes", StringList, nullable=False),
    Column("api_token_hash", String, nullable=False),
    Column("token_generation", Integer, nullable=False),
)

callback_numbers = Table(
    "callback_numbers",
    metadata,
    Column("account_key", String, nullable=False),
    Column("position", Integer, nullable=False),
    Column("number", String, nullable=False),
    Column("e164", String, nullable=False),
    Column("is_default", Boolean, nullable=False),
    PrimaryKeyConstraint("account_key", "position"),
    ForeignKeyConstraint(["account_key"], ["accounts.key"], ondelete="CASCADE"),
)

agents = Table(
    "agents",
    metadata,
    Column("account_key", String, nullable=False),
    Column("agent_id", String, nullable=False),
    Column("name", String, nullable=False),
    Column("phone", String, nullable=False),
    Column("state", String, nullable=False),
    Column("settled_state", String, nullable=False),
    Column("state_before_call", String),
    Column("current_call_id", String),
    Column("idle_since", UtcDateTime),
    Column("wrapup_until", UtcDateTime),
    Column("awaiting_disposition", String),
    Column("callback_number", String),
    Column("allowed_numbers", StringList, nullable=False),
    PrimaryKeyConstraint("account_key", "agent_id"),
    ForeignKeyConstraint(["account_key"], ["accounts.key"], ondelete="CASCADE"),
    Index("ix_agents_state_wrapup_until", "state", "wrapup_until"),
)

groups = Table(
    "groups",
    metadata,
    Column("account_key", String, nullable=False),
    Column("group_id", String, nullable=False),
    PrimaryKeyConstraint("account_key", "group_id"),
    ForeignKeyConstraint(["account_key"], ["accounts.key"], ondelete="CASCADE"),
)

# The surrogate ``id`` keeps insertion order, even for members added concurrently.
group_members = Table(
    "group_members",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_key", String, nullable=False),
    Column("group_id", String, nullable=False),
    Column("agent_id", String, nullable=False),
    # The agent's standing for a group call (migration 0002 says what each means).
    Column("free", Integer, nullable=False, server_default=text("2")),
    Column("called", Integer, nullable=False, server_default=text("0")),
    Column("idle_since", UtcDateTime),
    Column("agent_number", BigInteger, nullable=False, server_default=text("0")),
    UniqueConstraint("account_key", "group_id", "agent_id"),
    ForeignKeyConstraint(
        ["account_key", "group_id"], ["groups.account_key", "groups.group_id"], ondelete="CASCADE"
    ),
    ForeignKeyConstraint(
        ["account_key", "agent_id"], ["agents.account_key", "agents.agent_id"], ondelete="CASCADE"
    ),
    Index(
        "ix_group_members_choice",
        "account_key",
        "group_id",
        "free",
        "called",
        "idle_since",
        "agent_number",
        "agent_id",
    ),
    Index("ix_group_members_account_key_agent_id", "account_key", "agent_id"),
)

calls = Table(
    "calls",
    metadata,
    Column("id", String, primary_key=True),
    Column("account_key", String, nullable=False),
    Column("caller_agent_id", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("agent_phone", String, nullable=False),
    Column("destination_number", String),
    Column("destination_e164", String),
    Column("destination_agent_id", String),
    Column("destination_phone", String),
    Column("presented_clid", String),
    Column("presented_clid_e164", String),
    Column("from_telephone_number", String),
    Column("from_consent", String),
    Column("to_consent", String),
    Column("reference", String),
    Column("application", String),
    Column("phase", String, nullable=False),
    Column("recording_status", String, nullable=False),
    Column("recording_set_by_client", Boolean, nullable=False),
    Column("disposition_code", String),
    Column("result_code", String),
    Column("result_party", String),
    Column("result_reason", String),
    Column("agent_answered_at", UtcDateTime),
    Column("connected_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("agent_timeout_s", Float, nullable=False),
    Column("destination_timeout_s", Float, nullable=False),
    Column("deadline_at", UtcDateTime),
    Column("deadline_tag", String),
    Column("engine", String, nullable=False),
    Column("node_id", String, nullable=False),
    ForeignKeyConstraint(["account_key"], ["accounts.key"], ondelete="CASCADE"),
    Index("ix_calls_account_key_created_at", "account_key", "created_at"),
    Index("ix_calls_account_key_caller_agent_id", "account_key", "caller_agent_id"),
    Index("ix_calls_account_key_destination_agent_id", "account_key", "destination_agent_id"),
    Index("ix_calls_account_key_reference_created_at", "account_key", "reference", "created_at"),
    Index(
        "ix_calls_account_key_destination_e164_created_at",
        "account_key",
        "destination_e164",
        "created_at",
    ),
    Index("ix_calls_account_key_phase_created_at", "account_key", "phase", "created_at"),
    Index("ix_calls_phase_ended_at", "phase", "ended_at"),
    Index("ix_calls_node_id_phase", "node_id", "phase"),
    Index("ix_calls_node_id_deadline_at", "node_id", "deadline_at"),
)

nodes = Table(
    "nodes",
    metadata,
    Column("node_id", String, primary_key=True),
    Column("doorbell", String, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    # The node's lease: renewed by its heartbeat; a survivor takes a silent node over.
    Column("seen_at", UtcDateTime),
    Column("taken_by", String),
    Column("taken_at", UtcDateTime),
)

settings = Table(
    "settings",
    metadata,
    Column("name", String, primary_key=True),
    Column("value", String, nullable=False),
)

# The outbox (migration 0005): every event, written in the transaction of its change.
# ``position`` is the cursor: it grows with each event, and within one account in commit
# order (on PostgreSQL, a transaction-level advisory lock per account is taken before it is
# drawn, and held to the commit; SQLite has one writer at a time anyway). On SQLite it is the
# rowid, so an event costs the table and two indexes. ``sequence`` numbers a call's events.
# ``data``: the event's own fields, as JSON.
events = Table(
    "events",
    metadata,
    Column(
        "position",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("account_key", String, nullable=False),
    Column("id", String, nullable=False),
    Column("type", String, nullable=False),
    Column("call_id", String),
    Column("sequence", Integer),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("data", String, nullable=False),
    ForeignKeyConstraint(["account_key"], ["accounts.key"], ondelete="CASCADE"),
    Index("ix_events_account_key_position", "account_key", "position"),
    Index("ix_events_call_id_sequence", "call_id", "sequence"),
)

# Migration 0010: how far each account's events were purged (the highest position deleted).
event_purges = Table(
    "event_purges",
    metadata,
    Column("account_key", String, primary_key=True),
    Column("purged_through", BigInteger, nullable=False),
    ForeignKeyConstraint(["account_key"], ["accounts.key"], ondelete="CASCADE"),
)

# Migration 0008: requests sent with an ``Idempotency-Key`` (``status`` NULL while in flight)
# and each account's token bucket (``updated_at``: seconds since the epoch).
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_key", String, nullable=False),
    Column("key", String, nullable=False),
    Column("fingerprint", String, nullable=False),
    Column("call_id", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("status", Integer),
    Column("headers", String),
    Column("body", LargeBinary),
    PrimaryKeyConstraint("account_key", "key"),
    ForeignKeyConstraint(["account_key"], ["accounts.key"], ondelete="CASCADE"),
    Index("ix_idempotency_keys_expires_at", "expires_at"),
)

rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("account_key", String, primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    ForeignKeyConstraint(["account_key"], ["accounts.key"], ondelete="CASCADE"),
)

# Webhooks (migration 0009): a subscription's ``cursor`` is the position of the last event of
# its account it is done with; ``attempts``/``retry_at`` the retry state of the next one;
# ``lease_owner``/``lease_until`` the node delivering it. ``event_types``: JSON list.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String, primary_key=True),
    Column("account_key", String, nullable=False),
    Column("url", String, nullable=False),
    Column("event_types", String, nullable=False),
    Column("secret", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("cursor", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("retry_at", UtcDateTime),
    Column("lease_owner", String),
    Column("lease_until", UtcDateTime),
    ForeignKeyConstraint(["account_key"], ["accounts.key"], ondelete="CASCADE"),
    Index("ix_webhooks_account_key", "account_key"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("subscription_id", String, nullable=False),
    Column("event_id", String, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("status", String, nullable=False),
    Column("response_code", Integer),
    Column("error", String),
    Column("redelivery", Boolean, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("subscription_id", "event_id", "attempt"),
    ForeignKeyConstraint(["subscription_id"], ["webhooks.id"], ondelete="CASCADE"),
    Index("ix_webhook_deliveries_subscription_id_started_at", "subscription_id", "started_at"),
    Index("ix_webhook_deliveries_started_at", "started_at"),
)

webhook_redeliveries = Table(
    "webhook_redeliveries",
    metadata,
    Column("subscription_id", String, nullable=False),
    Column("event_id", String, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("retry_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("subscription_id", "event_id"),
    ForeignKeyConstraint(["subscription_id"], ["webhooks.id"], ondelete="CASCADE"),
)
