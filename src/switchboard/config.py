"""Settings: the only reader of the environment.

Sources, in rising precedence: an optional TOML file (keys are the variable names without
the prefix, lower case, top level), ``SWITCHBOARD_*`` environment variables, command-line
options. Validated once at start; a bad value or an unknown key stops start-up with one line
naming the setting.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PREFIX = "SWITCHBOARD_"
# Variables under this prefix belong to the test suite, not to the service.
IGNORED_PREFIXES = ("SWITCHBOARD_TEST_",)


class ConfigError(Exception):
    """One line naming the setting and the problem."""


# Loopback, "this network", link-local (169.254.169.254 is many clouds' metadata service),
# multicast and IPv4's reserved block with its broadcast address.
WEBHOOK_DENIED_BY_DEFAULT = (
    "127.0.0.0/8",
    "::1/128",
    "0.0.0.0/8",
    "::/128",
    "169.254.0.0/16",
    "fe80::/10",
    "224.0.0.0/4",
    "ff00::/8",
    "240.0.0.0/4",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid", frozen=True)

    database_url: str = "sqlite:///switchboard.db"
    telephony: Literal["simulator", "sip"] = "simulator"
    public_base_url: str | None = None
    trust_forwarded_headers: bool = False
    secret_key: str | None = Field(None, min_length=32)
    # Default: the SQLite database's path + ".key", or ./switchboard.key for PostgreSQL.
    secret_key_file: str | None = Field(None, min_length=1)
    token_ttl_seconds: float = Field(3600, gt=0)
    # Guessing on the token endpoint: failures allowed per account and per client address
    # within the window, then refusals (429) for a time that doubles up to the maximum.
    token_failures_allowed: int = Field(10, ge=1)
    token_failure_window_seconds: float = Field(900, gt=0)
    token_lockout_max_seconds: float = Field(300, ge=1)
    # HTTPS served directly (both or neither); see docs/operations.md.
    tls_certificate_file: str | None = Field(None, min_length=1)
    tls_key_file: str | None = Field(None, min_length=1)
    call_retention_seconds: float = Field(86400, ge=0)
    # Events (docs/events.md): how long the outbox keeps them, how often a stream looks for
    # other processes' commits, and how long it stays silent before a keep-alive comment.
    event_retention_seconds: float = Field(86400, ge=0)
    # The provisioning API's administrator bearer (docs/api-v1.md); unset: that API is off.
    admin_token: str | None = Field(None, min_length=32)
    event_stream_poll_seconds: float = Field(1.0, gt=0, le=60)
    event_stream_keepalive_seconds: float = Field(15, gt=0, le=300)
    # Idempotent retries and rate limits (README, "Rate limits and retries"): how long an
    # Idempotency-Key and its answer are kept; each account's token bucket (0: no limit).
    idempotency_ttl_seconds: float = Field(86400, gt=0)
    rate_limit_per_second: float = Field(100, ge=0)
    rate_limit_burst: int = Field(200, ge=0)
    # Webhooks (docs/events.md, "Webhooks"): attempts per event before it is dead-lettered,
    # each request's timeout, requests in flight per process, the backoff between attempts
    # (exponential from the base, capped, with jitter), how often other processes' commits
    # and due retries are looked for, and how long a node keeps a subscription it delivers.
    webhook_max_attempts: int = Field(8, ge=1, le=100)
    webhook_timeout_seconds: float = Field(10, gt=0, le=300)
    webhook_concurrency: int = Field(16, ge=1, le=1000)
    webhook_retry_base_seconds: float = Field(1.0, gt=0, le=3600)
    webhook_retry_max_seconds: float = Field(300, gt=0, le=86400)
    webhook_poll_seconds: float = Field(1.0, gt=0, le=60)
    webhook_lease_seconds: float = Field(60, gt=0, le=3600)
    # Where a webhook is never delivered (docs/events.md, "Receivers Switchboard will not
    # call"): networks (JSON lists of CIDRs) a receiver's address may not be in, unless it is
    # in one allowed. The default keeps deliveries off this machine and off link-local
    # addresses (a cloud's metadata service), which no account's receiver should be.
    webhook_deny_networks: list[str] = Field(
        default_factory=lambda: list(WEBHOOK_DENIED_BY_DEFAULT)
    )
    webhook_allow_networks: list[str] = Field(default_factory=list)
    start_window_ms: float = Field(2000, gt=0)
    simulator_answer_ms: float = Field(1000, ge=0)
    simulator_talk_seconds: float = Field(60, gt=0)
    node_id: str = Field("node-1", min_length=1)
    # Where this process's doorbell listens (other processes wake its deadline loop there).
    doorbell_host: str = "127.0.0.1"
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    # The same log line is written at most once per this many seconds, with a count (0: all).
    log_repeat_seconds: float = Field(10, ge=0)
    # Connections (docs/operations.md): a request must arrive in full this soon; a keep-alive
    # connection is closed after this long between requests; at most this many are held
    # (none: derived from the limit on open files).
    http_header_timeout_seconds: float = Field(10, gt=0)
    http_idle_timeout_seconds: float = Field(5, gt=0)
    http_max_connections: int | None = Field(None, ge=1)
    # A claimed deadline not completed by then (its claimer died) falls due again.
    deadline_lease_seconds: float = Field(30, gt=0)
    # Each node renews its lease this often; a node silent this long is taken over.
    node_heartbeat_seconds: float = Field(5, gt=0)
    node_takeover_seconds: float = Field(15, gt=0)
    # PostgreSQL ends a session left idle inside a transaction this long (releasing its
    # locks), so that a node paused or cut off mid-transaction cannot hold up its successor's
    # takeover; none: a third of the takeover time; 0: never.
    database_idle_in_transaction_seconds: float | None = Field(None, ge=0)
    # Tests only: the process kills itself (SIGKILL) on reaching this point.
    fault_point: Literal["deadline_claimed", "webhook.sent"] | None = None

    # Media and recording (docs/recording.md): rtpengine's NG address (host:port) puts it
    # between the parties of SIP calls; where it writes its pcaps (its --recording-dir); where
    # the WAVs and their metadata are kept, and for how long after the call ended.
    rtpengine_ng: str | None = None
    rtpengine_recording_dir: str | None = Field(None, min_length=1)
    rtpengine_timeout_ms: float = Field(500, gt=0)
    rtpengine_retries: int = Field(2, ge=0, le=10)
    # Default: ``recordings`` beside a SQLite database, ./recordings for PostgreSQL.
    recording_dir: str | None = Field(None, min_length=1)
    recording_retention_seconds: float = Field(86400, ge=0)
    # The Interaction Content API's limit per account: requests in any rolling 60 s.
    content_rate_limit: int = Field(320, ge=1)

    # SIP engine (SWITCHBOARD_TELEPHONY=sip); see docs/sip.md
    sip_bind_host: str = "127.0.0.1"
    sip_bind_port: int = Field(5060, ge=0, le=65535)
    sip_advertised_host: str | None = None
    sip_advertised_port: int | None = Field(None, ge=1, le=65535)
    sip_listen_udp: bool = True
    sip_listen_tcp: bool = True
    # TLS (inbound: the trunk's in-dialog requests to our sips: Contact); needs cert and key.
    sip_listen_tls: bool = False
    sip_tls_port: int = Field(5061, ge=0, le=65535)
    sip_advertised_tls_port: int | None = Field(None, ge=1, le=65535)
    sip_tls_ca_file: str | None = None  # none: the system's CAs
    sip_tls_cert_file: str | None = None
    sip_tls_key_file: str | None = None
    sip_tls_verify_hostname: bool = True
    # host[:port] of the name server for RFC 3263 lookups; none: /etc/resolv.conf's first.
    sip_dns_server: str | None = None
    sip_t1_ms: float = Field(500, gt=0)
    sip_t2_ms: float = Field(4000, gt=0)
    sip_flow1_max_ring_seconds: float = Field(25, ge=0)
    sip_flow1_numbers: list[str] = Field(default_factory=list)
    sip_keepalive_seconds: float = Field(30, ge=0)
    sip_max_call_seconds: float = Field(4 * 3600, ge=0)
    sip_session_expires_seconds: float = Field(1800, ge=0)
    sip_dns_ttl_seconds: float = Field(60, ge=0)
    sip_tcp_idle_seconds: float = Field(300, ge=0)
    sip_max_inbound_tcp: int | None = Field(None, ge=1)  # none: from the open-file budget
    sip_tcp_message_timeout_seconds: float = Field(10, ge=0)
    sip_trunk_host: str | None = None
    # Without a trunk only agent-to-agent calls can be placed: say so, or the start fails.
    sip_agents_only: bool = False
    sip_trunk_port: int | None = Field(None, ge=1, le=65535)  # none: SRV (RFC 3263), else default
    # None: discovered by RFC 3263 (NAPTR, then SRV, then UDP).
    sip_trunk_transport: Literal["udp", "tcp", "tls"] | None = None
    sip_trunk_proxy: str | None = None
    sip_trunk_username: str | None = None
    sip_trunk_password: str | None = None
    sip_trunk_realm: str | None = None
    sip_trunk_headers: dict[str, str] = Field(default_factory=dict)
    sip_p_asserted_identity: bool = False
    sip_from_domain: str | None = None
    sip_user_agent: str = "Switchboard"

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("sip_dns_server")
    @classmethod
    def _dns_server(cls, value: str | None) -> str | None:
        if value is not None:
            host_port(value, 53)  # raises ValueError with the reason
        return value

    @field_validator("rtpengine_ng")
    @classmethod
    def _rtpengine_ng(cls, value: str | None) -> str | None:
        if value is not None:
            _host, port = host_port(value, 0)
            if port == 0:
                raise ValueError(f"expected host:port, got {value!r}")
        return value

    @field_validator("webhook_deny_networks", "webhook_allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"not a network (CIDR, e.g. 10.0.0.0/8): {network!r}") from exc
        return value

    @field_validator("sip_tls_ca_file", "sip_tls_cert_file", "sip_tls_key_file")
    @classmethod
    def _readable_file(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _takeover_after_heartbeats(self) -> Settings:
        if self.node_takeover_seconds <= 2 * self.node_heartbeat_seconds:
            raise ValueError(
                "SWITCHBOARD_NODE_TAKEOVER_SECONDS must be more than twice "
                "SWITCHBOARD_NODE_HEARTBEAT_SECONDS (a node missing one heartbeat is alive)"
            )
        return self

    @property
    def idle_in_transaction_seconds(self) -> float:
        """What PostgreSQL is told (``idle_in_transaction_session_timeout``); 0: no limit."""
        if self.database_idle_in_transaction_seconds is not None:
            return self.database_idle_in_transaction_seconds
        return self.node_takeover_seconds / 3

    @model_validator(mode="after")
    def _rate_limit_both_or_neither(self) -> Settings:
        if (self.rate_limit_per_second == 0) != (self.rate_limit_burst == 0):
            raise ValueError(
                "SWITCHBOARD_RATE_LIMIT_PER_SECOND and SWITCHBOARD_RATE_LIMIT_BURST: both 0 "
                "(no limit) or both positive"
            )
        return self

    @model_validator(mode="after")
    def _webhook_lease_past_timeout(self) -> Settings:
        if self.webhook_lease_seconds <= 2 * self.webhook_timeout_seconds:
            raise ValueError(
                "SWITCHBOARD_WEBHOOK_LEASE_SECONDS must be more than twice "
                "SWITCHBOARD_WEBHOOK_TIMEOUT_SECONDS (a node keeps a subscription while it waits "
                "for a receiver)"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(
            ("sqlite:", "sqlite+aiosqlite:", "postgresql:", "postgresql+asyncpg:", "postgres:")
        ):
            raise ValueError("expected sqlite:///FILE or postgresql://...")
        return value


def host_port(text: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` as (host, port)."""
    host, port = text.strip(), default_port
    if host.startswith("["):
        inside, _, rest = host[1:].partition("]")
        host = inside
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"expected host[:port], got {text!r}")
            port = _port(rest[1:], text)
    elif host.count(":") == 1:
        host, _, digits = host.partition(":")
        port = _port(digits, text)
    if not host:
        raise ValueError(f"expected host[:port], got {text!r}")
    return host, port


def _port(digits: str, text: str) -> int:
    if not (digits.isascii() and digits.isdigit()) or not 1 <= int(digits) <= 65535:
        raise ValueError(f"bad port in {text!r}")
    return int(digits)


def _read_toml(path: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from exc
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting '{unknown[0]}'")
    return data


def _check_environment() -> None:
    known = {PREFIX + name.upper() for name in Settings.model_fields}
    for name in os.environ:
        upper = name.upper()
        if (
            upper.startswith(PREFIX)
            and upper not in known
            and not upper.startswith(IGNORED_PREFIXES)
        ):
            raise ConfigError(f"{name}: unknown setting")


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    """Build the settings from the file, the environment and ``overrides`` (None = unset)."""
    file_values = _read_toml(config_file) if config_file else {}
    _check_environment()

    class _Layered(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, InitSettingsSource(settings_cls, file_values))

    try:
        layered = _Layered(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:  # a rule across settings names them in its message
            raise ConfigError(message) from None
        raise ConfigError(f"{PREFIX}{name.upper()}: {message}") from None
    return Settings.model_validate(layered.model_dump())
