"""The DNS that RFC 3263 needs (NAPTR, SRV, A): the resolver port and its dnspython adapter.

``locate.py`` decides what to ask; this module only asks. ``DnsResolver`` sends NAPTR and SRV
questions to the configured name server (the first ``nameserver`` of ``/etc/resolv.conf``
without one) through dnspython, which also retries a truncated answer over TCP and reads
hostile answers without crashing. Addresses come from that name server too when one is
configured; otherwise from the system's resolver (getaddrinfo), so that ``/etc/hosts`` and
nsswitch apply as they do to every other name the engine sends to.

Answers, empty ones and failures included, are kept for their TTL, at most ``ttl_s``, in at most
``MAX_NAMES`` entries: a change in DNS (a trunk moved, a failover) is seen without a restart,
and no stream of names can grow the cache without bound.

Known holes: no AAAA (IPv4 only, as the transports), no DNSSEC validation (RFC 5922: a TLS
certificate is checked against the configured domain, not against names DNS gave).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import dns.asyncresolver
import dns.exception
import dns.resolver

from switchboard.adapters.telephony.sip.clock import Clock

log = logging.getLogger(__name__)

MAX_NAMES = 1024
MAX_RECORDS = 16  # of one kind for one name: enough for any trunk, bounded for a hostile zone


@dataclass(frozen=True)
class SrvRecord:
    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True)
class NaptrRecord:
    order: int
    preference: int
    flags: str
    service: str
    replacement: str  # "" for none (a regexp rule, which SIP does not use)


class Resolver(Protocol):
    """Each method returns [] when there are no records or the lookup failed."""

    async def naptr(self, name: str) -> list[NaptrRecord]: ...

    async def srv(self, name: str) -> list[SrvRecord]: ...

    async def addresses(self, name: str) -> list[str]: ...


def ordered(records: list[SrvRecord]) -> list[SrvRecord]:
    """The order to try them in; "." as target means the service is not offered there.

    Lowest priority first; within a priority the heavier first (RFC 2782 picks at random by
    weight; we keep it deterministic, so a trunk's primary is always tried first)."""
    usable = [record for record in records if record.target not in ("", ".")]
    return sorted(usable, key=lambda record: (record.priority, -record.weight))


class DnsResolver:
    def __init__(
        self,
        clock: Clock,
        *,
        nameserver: tuple[str, int] | None = None,
        ttl_s: float = 60.0,
        timeout_s: float = 1.0,
    ) -> None:
        self._clock = clock
        self._system_addresses = nameserver is None
        self._ttl_s = ttl_s
        self._cache: dict[tuple[str, str], tuple[list[Any], float]] = {}
        self._dns = _make_resolver(nameserver)
        self._dns.timeout = timeout_s  # per server and try
        self._dns.lifetime = 2 * timeout_s  # the whole question: twice, as before
        self._dns.cache = None  # ours, bounded and on the injected clock

    async def naptr(self, name: str) -> list[NaptrRecord]:
        return await self._cached(name, "NAPTR", lambda: self._ask(name, "NAPTR", _naptr))

    async def srv(self, name: str) -> list[SrvRecord]:
        return await self._cached(name, "SRV", lambda: self._ask(name, "SRV", _srv))

    async def addresses(self, name: str) -> list[str]:
        if self._system_addresses:
            return await self._cached(name, "A", lambda: _system_addresses(name))
        return await self._cached(
            name, "A", lambda: self._ask(name, "A", lambda rdata: str(rdata.address))
        )

    @property
    def cached_names(self) -> int:
        return len(self._cache)

    async def _cached(self, name: str, kind: str, fetch: Fetch) -> list[Any]:
        key = (name.lower().rstrip("."), kind)
        cached = self._cache.get(key)
        now = self._clock.time()
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            records, ttl = await fetch()
        except dns.resolver.NXDOMAIN:
            records, ttl = [], None
        except (dns.exception.DNSException, OSError, ValueError) as exc:
            log.info("%s lookup of %s failed: %s", kind, name, exc or type(exc).__name__)
            records, ttl = [], None
        self._cache.pop(key, None)
        if len(self._cache) >= MAX_NAMES:
            self._cache.pop(next(iter(self._cache)))  # the oldest entry
        expiry = now + (self._ttl_s if ttl is None else min(ttl, self._ttl_s))
        self._cache[key] = (records, expiry)
        return records

    async def _ask(self, name: str, kind: str, convert: Callable[[Any], Any]) -> Answer:
        answer = await self._dns.resolve(
            name.rstrip(".") + ".", kind, search=False, raise_on_no_answer=False
        )
        records = [convert(rdata) for rdata in list(answer)[:MAX_RECORDS]]
        return records, (answer.rrset.ttl if answer.rrset is not None else None)


Answer = tuple[list[Any], float | None]  # the records and their TTL (None: unknown)
Fetch = Callable[[], Awaitable[Answer]]


async def _system_addresses(name: str) -> Answer:
    """The system's resolver (getaddrinfo): no TTL, so ``ttl_s`` applies."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        name, None, family=socket.AF_INET, type=socket.SOCK_STREAM
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))[:MAX_RECORDS], None


def _make_resolver(nameserver: tuple[str, int] | None) -> dns.asyncresolver.Resolver:
    if nameserver is None:
        try:
            return dns.asyncresolver.Resolver(configure=True)
        except dns.resolver.NoResolverConfiguration:
            nameserver = ("127.0.0.1", 53)
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [nameserver[0]]
    resolver.port = nameserver[1]
    return resolver


def _srv(rdata: Any) -> SrvRecord:
    return SrvRecord(int(rdata.priority), int(rdata.weight), int(rdata.port), _name(rdata.target))


def _naptr(rdata: Any) -> NaptrRecord:
    return NaptrRecord(
        int(rdata.order),
        int(rdata.preference),
        rdata.flags.decode("ascii", "replace"),
        rdata.service.decode("ascii", "replace"),
        _name(rdata.replacement),
    )


def _name(name: Any) -> str:
    """A domain name as text without the final dot; the root (".") stays "."."""
    text = str(name.to_text(omit_final_dot=True))
    return text if text != "@" and text else "."
