"""RFC 3263 section 4: which transport, host and port a trunk's requests go to, and the
targets to fail over to.

- A numeric address: that address, on the given port or the transport's default.
- A port given: the host's A records on that port (UDP unless configured otherwise).
- A transport given: its SRV records (``_sips._tcp``, ``_sip._tcp``, ``_sip._udp``), else A.
- Neither: NAPTR first. Records with the ``s`` flag and a service we support are taken in
  order (lowest order, then preference): ``SIPS+D2T`` (TLS), ``SIP+D2T`` (TCP), ``SIP+D2U``
  (UDP); the first whose SRV replacement has targets wins. No usable NAPTR: the SRV names of
  the supported transports in that order of preference, the first with records wins. No SRV
  either: UDP (TLS is never assumed without DNS saying so) on 5060, by A.

Each SRV target (in priority, then weight order) becomes one target per A record. A leg tries
them in order and moves to the next on 503, a timeout or a transport error (section 4.3), over
the same transport: failing over from TLS to plain TCP would undo what ``sips:`` asked for.

TLS targets carry the configured domain as the name to check the certificate against (RFC 5922
section 4: DNS is not authenticated, so an SRV target name proves nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.adapters.telephony.sip.resolver import NaptrRecord, Resolver, SrvRecord, ordered
from switchboard.adapters.telephony.sip.transport import Target, is_ip

# NAPTR service -> our transport, in our order of preference.
SERVICES = {"SIPS+D2T": "tls", "SIP+D2T": "tcp", "SIP+D2U": "udp"}
SRV_PREFIXES = {"tls": "_sips._tcp", "tcp": "_sip._tcp", "udp": "_sip._udp"}
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}
MAX_TARGETS = 16


@dataclass(frozen=True)
class Located:
    transport: str
    targets: tuple[Target, ...]  # never empty


def needs_dns(host: str) -> bool:
    """Whether ``locate`` would ask anything: a numeric address needs no lookup."""
    return not is_ip(host.rstrip("."))


async def locate(
    resolver: Resolver,
    host: str,
    *,
    port: int | None,
    transport: str | None,
    supported: tuple[str, ...],
) -> Located:
    """Where to send a request for ``host``; ``supported`` in our order of preference."""
    name = host.rstrip(".")
    if is_ip(name):
        chosen = transport or "udp"
        return Located(chosen, (Target(chosen, name, port or DEFAULT_PORTS[chosen]),))
    if port is not None:
        chosen = transport or "udp"
        return Located(chosen, await _addresses(resolver, chosen, name, port, name))
    if transport is not None:
        records = await resolver.srv(f"{SRV_PREFIXES[transport]}.{name}")
        return await _from_srv(resolver, transport, records, name)
    for service_transport, replacement in _services(await resolver.naptr(name), supported):
        records = await resolver.srv(replacement)
        if ordered(records):
            return await _from_srv(resolver, service_transport, records, name)
    for candidate in supported:
        records = await resolver.srv(f"{SRV_PREFIXES[candidate]}.{name}")
        if ordered(records):
            return await _from_srv(resolver, candidate, records, name)
    fallback = "udp" if "udp" in supported else supported[0]
    return Located(fallback, await _addresses(resolver, fallback, name, 5060, name))


def _services(records: list[NaptrRecord], supported: tuple[str, ...]) -> list[tuple[str, str]]:
    """The NAPTR records we can use, best first, as (transport, SRV name)."""
    usable = [
        record
        for record in records
        if SERVICES.get(record.service.upper()) in supported
        and record.flags.lower() == "s"
        and record.replacement not in ("", ".")
    ]
    usable.sort(key=lambda record: (record.order, record.preference))
    return [(SERVICES[record.service.upper()], record.replacement) for record in usable]


async def _from_srv(
    resolver: Resolver, transport: str, records: list[SrvRecord], domain: str
) -> Located:
    targets: list[Target] = []
    for record in ordered(records):
        targets += await _addresses(resolver, transport, record.target, record.port, domain)
        if len(targets) >= MAX_TARGETS:
            break
    if not targets:  # no SRV records: the domain itself (section 4.2)
        port = DEFAULT_PORTS[transport]
        targets = list(await _addresses(resolver, transport, domain, port, domain))
    return Located(transport, tuple(targets[:MAX_TARGETS]))


async def _addresses(
    resolver: Resolver, transport: str, host: str, port: int, domain: str
) -> tuple[Target, ...]:
    """One target per A record; none found: the name itself, which the transport resolves
    by the system's resolver (so ``/etc/hosts`` still works)."""
    server_name = domain if transport == "tls" else None
    if is_ip(host):
        return (Target(transport, host, port, server_name),)
    found = await resolver.addresses(host)
    if not found:
        return (Target(transport, host, port, server_name),)
    return tuple(Target(transport, address, port, server_name) for address in found)
