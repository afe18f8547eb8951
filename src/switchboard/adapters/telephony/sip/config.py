"""What the SIP engine is told at start; bootstrap maps the ``SWITCHBOARD_SIP_*`` settings here.

Timers follow RFC 3261 section 17 and derive from T1 unless overridden: tests run with
T1 = 50 ms so that 64*T1 (timers B, F, H, J) is 3.2 s instead of 32 s.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

TRANSPORTS = ("udp", "tcp", "tls")


@dataclass(frozen=True)
class SipConfig:
    # Where we listen: UDP and TCP on the same port (0 = any free port, for tests).
    bind_host: str = "127.0.0.1"
    bind_port: int = 5060
    # What we put in Via and Contact; defaults to the bound address (must be set when binding
    # a wildcard address, or behind NAT).
    advertised_host: str | None = None
    advertised_port: int | None = None
    listen_udp: bool = True
    listen_tcp: bool = True
    # TLS has a port of its own (RFC 3261: 5061), needs our certificate, and is what a trunk
    # sends its in-dialog requests to when our Contact is a ``sips:`` URI.
    listen_tls: bool = False
    tls_port: int = 5061  # 0 = any free port, for tests
    advertised_tls_port: int | None = None
    tls_ca_file: str | None = None  # None: the system's CAs
    tls_cert_file: str | None = None  # ours: served inbound, and offered as client certificate
    tls_key_file: str | None = None
    tls_verify_hostname: bool = True

    # RFC 3261 timers, in milliseconds.
    t1_ms: int = 500
    t2_ms: int = 4000
    t4_ms: int = 5000
    timer_b_ms: int | None = None  # INVITE transaction timeout; default 64*T1
    timer_f_ms: int | None = None  # non-INVITE transaction timeout; default 64*T1

    # How long start() waits for the agent's phone to ring or fail.
    start_window_ms: int = 2000
    # RFC 3725 flow I (agent offers, simpler, no re-INVITE) only when the destination's ring
    # timeout is at most this: in flow I the agent's unacknowledged 200 OK dies after 64*T1.
    flow_i_max_ring_s: float = 25.0
    # Flow I is for a machine known to answer at once (RFC 3725 section 5): only numbers listed
    # here get it (E.164; a trailing "*" makes a prefix). Everything else, and every agent's
    # phone, gets flow IV: a person's phone may not send BYE before its 200 is ACKed, so an
    # agent who hangs up while flow I holds that ACK could not end the call.
    flow_i_numbers: tuple[str, ...] = ()
    # The in-process timer that backs up a persisted no-answer deadline fires this much later.
    deadline_grace_s: float = 5.0
    # A connected call probes both parties with an in-dialog OPTIONS this often (0: never); a
    # party that does not answer (timeout, transport error, 408, 481) ends the call, and the
    # other party gets a BYE. A lost BYE then cannot leave a call active for ever.
    keepalive_s: float = 30.0
    # The longest a connected call may last (0: no limit); then both parties get a BYE.
    max_call_s: float = 4 * 3600.0
    # RFC 4028: the session interval every INVITE asks for (0: ask for none; a peer's own
    # timer is still honoured). Peers refuse less than 90 s (422); tests use a few seconds.
    session_expires_s: float = 1800.0

    # The name server RFC 3263 lookups (NAPTR, SRV, A) ask, as (host, port); None: the first
    # of /etc/resolv.conf.
    dns_server: tuple[str, int] | None = None

    # Bounds: how long a resolved name is trusted (getaddrinfo gives no TTL), how long a TCP
    # connection a peer opened may stay silent, how many such connections may be open (the
    # server derives it from its file-descriptor budget), and how long a TCP message may take
    # to arrive in full (0: no limit).
    dns_ttl_s: float = 60.0
    tcp_idle_s: float = 300.0
    max_inbound_tcp: int = 1024
    tcp_message_s: float = 10.0

    # The trunk: where telephone numbers (and tel: agent phones) are sent.
    trunk_host: str | None = None
    # No port: RFC 3263, the host's SRV records (_sips._tcp, _sip._tcp or _sip._udp), else the
    # host on 5060 (5061 over TLS).
    trunk_port: int | None = None
    # None: discovered (RFC 3263 section 4.1): NAPTR, then SRV, then UDP. TLS is only
    # discovered when we listen on TLS (the trunk's in-dialog requests need somewhere to go).
    trunk_transport: str | None = None
    # An outbound proxy for trunk calls, as a loose-routing SIP URI ("sip:sbc1.example;lr").
    trunk_proxy: str | None = None
    trunk_username: str | None = None
    trunk_password: str | None = None
    trunk_realm: str | None = None  # answer challenges of this realm only; None = any realm
    trunk_headers: dict[str, str] = field(default_factory=dict)  # added to trunk INVITEs
    p_asserted_identity: bool = False
    # The host part of From; defaults to the advertised host.
    from_domain: str | None = None
    user_agent: str = "Switchboard"
    contact_user: str = "switchboard"

    def __post_init__(self) -> None:
        for entry in self.flow_i_numbers:
            digits = entry.removeprefix("+").removesuffix("*")
            if not (digits.isascii() and digits.isdigit()):
                raise ValueError(f"flow_i_numbers: not an E.164 number or prefix: {entry!r}")
        if self.trunk_transport is not None and self.trunk_transport not in TRANSPORTS:
            raise ValueError(f"trunk_transport must be one of {TRANSPORTS} (or unset: discover)")
        if not (self.listen_udp or self.listen_tcp):
            raise ValueError("listen on UDP, TCP or both")
        if self.listen_tls and (self.tls_cert_file is None or self.tls_key_file is None):
            raise ValueError("listening on TLS needs tls_cert_file and tls_key_file")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.trunk_transport == "tls" and not self.listen_tls:
            # Our Contact on a TLS leg is a sips: URI on our TLS port: the trunk's BYE and
            # re-INVITEs come there. Without it they would have nowhere to go.
            raise ValueError(
                "a TLS trunk needs listen_tls (with tls_cert_file and tls_key_file): its "
                "in-dialog requests come to our sips: Contact"
            )
        if self.t1_ms <= 0 or self.t2_ms < self.t1_ms:
            raise ValueError("T1 must be positive and T2 at least T1")
        if self.start_window_ms <= 0:
            raise ValueError("start_window_ms must be positive")
        if self.session_expires_s < 0:
            raise ValueError("session_expires_s must be 0 (off) or positive")
        if self.keepalive_s < 0 or self.max_call_s < 0:
            raise ValueError("keepalive_s and max_call_s must be 0 (off) or positive")
        if self.advertised_host is None and _is_wildcard(self.bind_host):
            raise ValueError("advertised_host is needed when binding a wildcard address")
        proxy = (self.trunk_proxy or "").lower()
        if (proxy.startswith("sips:") or "transport=tls" in proxy) and not self.listen_tls:
            raise ValueError("a TLS outbound proxy needs listen_tls, as a TLS trunk does")
        if (self.trunk_username is None) != (self.trunk_password is None):
            raise ValueError("trunk_username and trunk_password go together")

    @property
    def t1(self) -> float:
        return self.t1_ms / 1000

    @property
    def t2(self) -> float:
        return self.t2_ms / 1000

    @property
    def t4(self) -> float:
        return self.t4_ms / 1000

    @property
    def timer_b(self) -> float:
        return (self.timer_b_ms if self.timer_b_ms is not None else 64 * self.t1_ms) / 1000

    @property
    def timer_f(self) -> float:
        return (self.timer_f_ms if self.timer_f_ms is not None else 64 * self.t1_ms) / 1000


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def number_listed(number: str, entries: tuple[str, ...]) -> bool:
    """Whether an E.164 number is one of ``entries`` (a trailing ``*`` makes a prefix)."""
    digits = number.removeprefix("+")
    for entry in entries:
        wanted = entry.removeprefix("+")
        if wanted.endswith("*"):
            if digits.startswith(wanted[:-1]):
                return True
        elif digits == wanted:
            return True
    return False
