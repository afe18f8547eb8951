"""Builds every adapter from ``Settings`` and hands the bundle out. Nothing is built at
import time; the caller owns the ``Runtime`` and must ``close`` it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from switchboard.adapters.clock import SystemClock
from switchboard.adapters.doorbell import UdpDoorbell
from switchboard.adapters.events import RecentEvents
from switchboard.adapters.faults import KillAtFault
from switchboard.adapters.media.tones import ToneAudio
from switchboard.adapters.numbering import LibPhoneNumberPlan
from switchboard.adapters.recordings import FileRecordingStore
from switchboard.adapters.signing_keys import (
    ConfiguredKey,
    KeyFile,
    KeyFileError,
    default_key_file,
)
from switchboard.adapters.storage.database import (
    SCHEMA_HEAD,
    Database,
    SqliteDatabase,
    open_database,
)
from switchboard.adapters.storage.uow import SqlUnitOfWorkFactory
from switchboard.adapters.storage.urls import parse_database_url
from switchboard.adapters.telephony.simulator import SimulatorEngine
from switchboard.adapters.tokens import JwtAccessTokens, Sha256SecretHasher
from switchboard.config import ConfigError, Settings, host_port
from switchboard.domain.webhooks import RetryPolicy
from switchboard.service.content_limit import ContentRateLimit
from switchboard.service.context import Context
from switchboard.service.guessing import GuessingLimit, GuessingPolicy
from switchboard.service.ports import Clock, TelephonyEngine
from switchboard.service.progress import CallProgress
from switchboard.service.rate_limits import RateLimiter
from switchboard.service.webhook_delivery import WebhookDispatcher

if TYPE_CHECKING:
    from switchboard.adapters.media.anchor import MediaAnchor
    from switchboard.api.app import SwitchboardApp

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    ctx: Context
    database: Database
    events: RecentEvents
    doorbell: UdpDoorbell
    # Built for serving processes (``open_engine``); ``serve`` runs it.
    webhooks: WebhookDispatcher | None = None

    def app(self) -> SwitchboardApp:
        # Imported here: one-shot commands never serve HTTP.
        from switchboard.api.app import ApiConfig, create_app

        return create_app(
            self.ctx,
            ApiConfig(
                public_base_url=self.settings.public_base_url,
                trust_forwarded=self.settings.trust_forwarded_headers,
            ),
        )

    async def close(self) -> None:
        self.ctx.hub.close()  # event streams end
        try:
            try:
                # Placements under way first: they may still start calls on the engine.
                await self.ctx.detached.close()
            finally:
                await self.ctx.engine.close()
        finally:
            self.doorbell.close()
            if self.webhooks is not None:
                await self.webhooks.sender.close()
            await self.database.close()


def check_telephony(settings: Settings) -> None:
    """What a process that places calls needs beyond valid settings."""
    # Numbers can only go to a trunk: without one every call to a number would fail.
    no_trunk = settings.sip_trunk_host is None and not settings.sip_agents_only
    if settings.telephony == "sip" and no_trunk:
        raise ConfigError(
            "SWITCHBOARD_SIP_TRUNK_HOST is required with SWITCHBOARD_TELEPHONY=sip "
            "(or set SWITCHBOARD_SIP_AGENTS_ONLY=true to place agent-to-agent calls only)"
        )


def rate_limiter(settings: Settings) -> RateLimiter | None:
    if settings.rate_limit_per_second == 0:
        return None
    return RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)


def build_engine(
    settings: Settings, clock: Clock, sip_max_inbound_tcp: int | None = None
) -> TelephonyEngine:
    if settings.telephony == "simulator":
        return SimulatorEngine(
            clock.now,
            answer_ms=int(settings.simulator_answer_ms),
            talk_seconds=settings.simulator_talk_seconds,
        )
    # Imported here so that the simulator never loads the SIP stack.
    from switchboard.adapters.telephony.sip.config import SipConfig
    from switchboard.adapters.telephony.sip.engine import SipEngine

    try:
        config = SipConfig(
            bind_host=settings.sip_bind_host,
            bind_port=settings.sip_bind_port,
            advertised_host=settings.sip_advertised_host,
            advertised_port=settings.sip_advertised_port,
            listen_udp=settings.sip_listen_udp,
            listen_tcp=settings.sip_listen_tcp,
            listen_tls=settings.sip_listen_tls,
            tls_port=settings.sip_tls_port,
            advertised_tls_port=settings.sip_advertised_tls_port,
            tls_ca_file=settings.sip_tls_ca_file,
            tls_cert_file=settings.sip_tls_cert_file,
            tls_key_file=settings.sip_tls_key_file,
            tls_verify_hostname=settings.sip_tls_verify_hostname,
            dns_server=host_port(settings.sip_dns_server, 53) if settings.sip_dns_server else None,
            t1_ms=int(settings.sip_t1_ms),
            t2_ms=int(settings.sip_t2_ms),
            start_window_ms=int(settings.start_window_ms),
            flow_i_max_ring_s=settings.sip_flow1_max_ring_seconds,
            flow_i_numbers=tuple(settings.sip_flow1_numbers),
            keepalive_s=settings.sip_keepalive_seconds,
            max_call_s=settings.sip_max_call_seconds,
            session_expires_s=settings.sip_session_expires_seconds,
            dns_ttl_s=settings.sip_dns_ttl_seconds,
            tcp_idle_s=settings.sip_tcp_idle_seconds,
            # The server passes its share of the open-file budget; one-shot use, the default.
            max_inbound_tcp=settings.sip_max_inbound_tcp or sip_max_inbound_tcp or 1024,
            tcp_message_s=settings.sip_tcp_message_timeout_seconds,
            trunk_host=settings.sip_trunk_host,
            trunk_port=settings.sip_trunk_port,
            trunk_transport=settings.sip_trunk_transport,
            trunk_proxy=settings.sip_trunk_proxy,
            trunk_username=settings.sip_trunk_username,
            trunk_password=settings.sip_trunk_password,
            trunk_realm=settings.sip_trunk_realm,
            trunk_headers=dict(settings.sip_trunk_headers),
            p_asserted_identity=settings.sip_p_asserted_identity,
            from_domain=settings.sip_from_domain,
            user_agent=settings.sip_user_agent,
        )
        engine = SipEngine(config, clock.now, media=build_media(settings, clock))
    except ValueError as exc:  # TlsConfigError too: a certificate or key that will not load
        raise ConfigError(f"SWITCHBOARD_SIP_*: {exc}") from exc
    return engine


def build_recordings(settings: Settings) -> FileRecordingStore:
    return FileRecordingStore(recording_directory(settings))


def build_media(settings: Settings, clock: Clock) -> MediaAnchor | None:
    """rtpengine between the parties when SWITCHBOARD_RTPENGINE_NG names it."""
    if settings.rtpengine_ng is None:
        return None
    from switchboard.adapters.media.anchor import MediaAnchor
    from switchboard.adapters.media.ng import NgClient

    host, port = host_port(settings.rtpengine_ng, 0)
    store = build_recordings(settings)
    try:
        store.prepare()
    except OSError as exc:
        raise ConfigError(f"SWITCHBOARD_RECORDING_DIR: {exc}") from exc
    pcaps = settings.rtpengine_recording_dir
    if pcaps is None:
        log.warning(
            "SWITCHBOARD_RTPENGINE_RECORDING_DIR is not set: media passes rtpengine, but no "
            "call can be recorded (recordingStatus stays Stopped)"
        )
    client = NgClient(
        host,
        port,
        timeout_s=settings.rtpengine_timeout_ms / 1000,
        retries=settings.rtpengine_retries,
    )
    return MediaAnchor(client, clock.now, Path(pcaps) if pcaps else None, store)


def tls_files(settings: Settings) -> tuple[str, str] | None:
    """The certificate and key to serve HTTPS with (both or neither), checked now so that a
    bad file stops the start with the setting's name rather than a traceback from uvicorn."""
    import ssl

    certificate, key = settings.tls_certificate_file, settings.tls_key_file
    if certificate is None and key is None:
        return None
    if certificate is None or key is None:
        missing = "CERTIFICATE" if certificate is None else "KEY"
        given = "KEY" if certificate is None else "CERTIFICATE"
        raise ConfigError(
            f"SWITCHBOARD_TLS_{missing}_FILE: required with SWITCHBOARD_TLS_{given}_FILE"
        )
    for name, path in (("CERTIFICATE", certificate), ("KEY", key)):
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ConfigError(f"SWITCHBOARD_TLS_{name}_FILE: {path}: {exc.strerror}") from exc
    try:
        ssl.create_default_context().load_verify_locations(cafile=certificate)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"SWITCHBOARD_TLS_CERTIFICATE_FILE: {certificate}: not a PEM certificate ({exc})"
        ) from exc
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(certificate, key)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"SWITCHBOARD_TLS_KEY_FILE: {key}: not the private key of the certificate ({exc})"
        ) from exc
    return certificate, key


def recording_directory(settings: Settings) -> Path:
    if settings.recording_dir is not None:
        return Path(settings.recording_dir)
    dialect, target = parse_database_url(settings.database_url)
    if dialect == "sqlite":
        return Path(target).parent / "recordings"
    return Path("recordings")


def signing_keys(settings: Settings) -> ConfiguredKey | KeyFile:
    """The configured key, else the key file (not read yet: ``KeyFile.load_or_create``)."""
    if settings.secret_key is not None:
        if settings.secret_key_file is not None:
            raise ConfigError(
                "SWITCHBOARD_SECRET_KEY_FILE: set either it or SWITCHBOARD_SECRET_KEY, not both"
            )
        return ConfiguredKey(settings.secret_key)
    path = settings.secret_key_file
    if path is None:
        path = default_key_file(*parse_database_url(settings.database_url))
    return KeyFile(path, settings.token_ttl_seconds)


def _key_out_of_database(
    keys: ConfiguredKey | KeyFile, clock: Clock, moved: list[str]
) -> Callable[[str], None]:
    """Where migration 0003 puts the signing key an older version kept in the database."""

    def take(secret: str) -> None:
        moved.append(secret)
        if isinstance(keys, KeyFile):
            keys.adopt(secret, clock.now())
            log.warning("the signing key moved from the database to %s", keys.path)
        else:  # tokens were signed with the configured key: the stored one served nothing
            log.warning("the unused signing key stored in the database was deleted")

    return take


async def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    open_engine: bool = True,
    sip_max_inbound_tcp: int | None = None,
) -> Runtime:
    """Connect, migrate, and wire the service. ``open_engine`` is false for one-shot CLI
    commands, which never listen for SIP; ``sip_max_inbound_tcp`` is the server's share of its
    open-file budget for SIP over TCP."""
    if open_engine:
        check_telephony(settings)
    clock = clock or SystemClock()
    try:
        database = open_database(
            settings.database_url,
            server_settings={
                # In milliseconds; a session idle in a transaction this long is ended by the
                # server, its locks released (docs/operations.md, "Several nodes").
                "idle_in_transaction_session_timeout": str(
                    round(settings.idle_in_transaction_seconds * 1000)
                ),
            },
        )
    except ValueError as exc:
        raise ConfigError(f"SWITCHBOARD_DATABASE_URL: {exc}") from exc
    doorbell = UdpDoorbell()
    try:
        keys = signing_keys(settings)
        if isinstance(database, SqliteDatabase):
            database.make_private()
        if await database.schema_version() != SCHEMA_HEAD:
            # Imported here: SQLAlchemy and Alembic cost a quarter of a second to load.
            from switchboard.adapters.storage.migrate import migrate

            moved: list[str] = []
            await migrate(settings.database_url, key_out=_key_out_of_database(keys, clock, moved))
            if moved and isinstance(database, SqliteDatabase):
                database.empty_wal()
        uow = SqlUnitOfWorkFactory(database)
        if isinstance(keys, KeyFile) and keys.load_or_create(clock.now()):
            async with uow(write=False) as tx:
                provisioned = bool(await tx.accounts.list())
            if provisioned:
                # A second machine on a shared database, or a key file lost: either way the
                # tokens other processes sign are refused here, and the other way round.
                log.warning(
                    "made a new signing key file %s for a database that already has "
                    "accounts: access tokens signed with another key file are refused here; "
                    "give every process of this database the same key file or "
                    "SWITCHBOARD_SECRET_KEY (docs/operations.md)",
                    keys.path,
                )
        events = RecentEvents()
        engine = build_engine(settings, clock, sip_max_inbound_tcp)
        ctx = Context(
            uow=uow,
            clock=clock,
            engine=engine,
            numbers=LibPhoneNumberPlan(),
            tokens=JwtAccessTokens(keys, int(settings.token_ttl_seconds)),
            hasher=Sha256SecretHasher(),
            publisher=events,
            node_id=settings.node_id,
            retention_s=settings.call_retention_seconds,
            event_retention_s=settings.event_retention_seconds,
            admin_token=settings.admin_token,
            stream_poll_s=settings.event_stream_poll_seconds,
            stream_keepalive_s=settings.event_stream_keepalive_seconds,
            recordings=build_recordings(settings),
            recording_retention_s=settings.recording_retention_seconds,
            # The simulator's calls get a tone per party (SIP calls: rtpengine's audio).
            synthetic_audio=(
                ToneAudio(recording_directory(settings))
                if settings.telephony == "simulator"
                else None
            ),
            content_limit=ContentRateLimit(settings.content_rate_limit),
            engine_running=open_engine,
            doorbell=doorbell,
            keys=keys,
            guessing=GuessingLimit(
                GuessingPolicy(
                    failures_allowed=settings.token_failures_allowed,
                    window_s=settings.token_failure_window_seconds,
                    lockout_max_s=settings.token_lockout_max_seconds,
                )
            ),
            deadline_lease_s=settings.deadline_lease_seconds,
            idempotency_ttl_s=settings.idempotency_ttl_seconds,
            limiter=rate_limiter(settings),
        )
        if settings.fault_point is not None:
            ctx.faults = KillAtFault(settings.fault_point)
        engine.bind(CallProgress(ctx))
        if open_engine:
            await engine.open()
    except KeyFileError as exc:
        await database.close()
        raise ConfigError(f"SWITCHBOARD_SECRET_KEY_FILE: {exc}") from exc
    except BaseException:
        await database.close()
        raise
    runtime = Runtime(settings, ctx, database, events, doorbell)
    if open_engine:
        runtime.webhooks = build_webhooks(settings, ctx)
    return runtime


def build_webhooks(settings: Settings, ctx: Context) -> WebhookDispatcher:
    # Imported here: one-shot commands never send webhooks, and httpx takes a while to load.
    from switchboard.adapters.webhooks import HttpWebhookSender, ReceiverNetworks

    sender = HttpWebhookSender(
        networks=ReceiverNetworks(settings.webhook_deny_networks, settings.webhook_allow_networks),
        timeout_s=settings.webhook_timeout_seconds,
        concurrency=settings.webhook_concurrency,
    )
    return WebhookDispatcher(
        ctx,
        sender,
        RetryPolicy(
            max_attempts=settings.webhook_max_attempts,
            base_s=settings.webhook_retry_base_seconds,
            max_s=settings.webhook_retry_max_seconds,
        ),
        lease_s=settings.webhook_lease_seconds,
        poll_s=settings.webhook_poll_seconds,
        concurrency=settings.webhook_concurrency,
    )
