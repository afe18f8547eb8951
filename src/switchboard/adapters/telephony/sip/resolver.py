"""Finding a trunk by DNS SRV (RFC 3263 section 4.2, RFC 2782): the resolver port, a small
DNS client for it, and the ordering of what it finds.

A trunk named by host without a port is looked up as ``_sip._udp.<host>`` (``_sip._tcp`` over
TCP). The records give the targets in order (lowest priority first; within a priority, the
heavier first: RFC 2782 picks at random by weight, we keep it deterministic), and a leg tries
the next one on 503 or a timeout or transport error (RFC 3263 section 4.3). No records (or a
failed lookup): the host itself on 5060, resolved by the transport's A lookup.

``DnsResolver`` asks the first ``nameserver`` of ``/etc/resolv.conf`` over UDP, twice, waiting
``timeout_s`` each time. Answers are kept ``ttl_s`` (at most ``MAX_NAMES`` names).

Known holes: no NAPTR (the transport is configured, not discovered), no TCP retry of a
truncated answer, no AAAA, no SIPS (``_sips._tcp``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from switchboard.adapters.telephony.sip.clock import Clock

log = logging.getLogger(__name__)

SRV = 33
MAX_NAMES = 1024
MAX_POINTERS = 32  # a compressed name that jumps more than this is a loop


@dataclass(frozen=True)
class SrvRecord:
    priority: int
    weight: int
    port: int
    target: str


class Resolver(Protocol):
    async def srv(self, name: str) -> list[SrvRecord]:
        """The SRV records of ``name``; [] when there are none or the lookup failed."""
        ...


def ordered(records: list[SrvRecord]) -> list[SrvRecord]:
    """The order to try them in; "." as target means the service is not offered there."""
    usable = [record for record in records if record.target not in ("", ".")]
    return sorted(usable, key=lambda record: (record.priority, -record.weight))


def srv_name(host: str, transport: str) -> str:
    return f"_sip._{transport}.{host.rstrip('.')}"


# ----------------------------------------------------------------- the wire format (RFC 1035)


def query(name: str, ident: int) -> bytes:
    header = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)  # recursion desired
    labels = b"".join(
        bytes([len(label)]) + label for label in (p.encode("ascii") for p in name.split(".") if p)
    )
    return header + labels + b"\0" + struct.pack("!HH", SRV, 1)


class DnsFormatError(ValueError):
    """A DNS answer we cannot read."""


def _name(data: bytes, offset: int) -> tuple[str, int]:
    labels: list[str] = []
    end = -1
    for _ in range(MAX_POINTERS):
        if offset >= len(data):
            raise DnsFormatError("name runs past the message")
        length = data[offset]
        if length == 0:
            return ".".join(labels), (end if end >= 0 else offset + 1)
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise DnsFormatError("truncated pointer")
            if end < 0:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        labels.append(data[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    raise DnsFormatError("compression loop")


def parse_answer(data: bytes, ident: int) -> list[SrvRecord]:
    if len(data) < 12:
        raise DnsFormatError("shorter than a header")
    got, flags, questions, answers, _, _ = struct.unpack("!HHHHHH", data[:12])
    if got != ident:
        raise DnsFormatError("not the answer to our query")
    rcode = flags & 0x000F
    if rcode == 3:  # NXDOMAIN
        return []
    if rcode != 0:
        raise DnsFormatError(f"server answered rcode {rcode}")
    offset = 12
    for _ in range(questions):
        _, offset = _name(data, offset)
        offset += 4
    records: list[SrvRecord] = []
    for _ in range(answers):
        _, offset = _name(data, offset)
        if offset + 10 > len(data):
            raise DnsFormatError("truncated record")
        kind, _, _, length = struct.unpack("!HHIH", data[offset : offset + 10])
        offset += 10
        if kind == SRV:
            if length < 7 or offset + 6 > len(data):
                raise DnsFormatError("short SRV record")
            priority, weight, port = struct.unpack("!HHH", data[offset : offset + 6])
            target, _ = _name(data, offset + 6)
            records.append(SrvRecord(priority, weight, port, target))
        offset += length
    return records


# ----------------------------------------------------------------- the client


def system_nameserver(path: Path = Path("/etc/resolv.conf")) -> tuple[str, int]:
    try:
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "nameserver":
                return fields[1], 53
    except OSError:
        pass
    return "127.0.0.1", 53


class _Answer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if not self.received.done():
            self.received.set_result(data)


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
        self._nameserver = nameserver
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._cache: dict[str, tuple[list[SrvRecord], float]] = {}

    async def srv(self, name: str) -> list[SrvRecord]:
        cached = self._cache.get(name)
        if cached is not None and cached[1] > self._clock.time():
            return cached[0]
        try:
            records = await self._ask(name)
        except (OSError, TimeoutError, DnsFormatError) as exc:
            log.info("SRV lookup of %s failed: %s", name, exc)
            records = []
        if len(self._cache) >= MAX_NAMES:
            self._cache.pop(next(iter(self._cache)))
        self._cache[name] = (records, self._clock.time() + self._ttl_s)
        return records

    async def _ask(self, name: str) -> list[SrvRecord]:
        server = self._nameserver or system_nameserver()
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(_Answer, remote_addr=server)
        try:
            ident = secrets.randbelow(65536)
            for attempt in range(2):
                transport.sendto(query(name, ident))
                try:
                    data = await asyncio.wait_for(
                        asyncio.shield(protocol.received), self._timeout_s
                    )
                except TimeoutError:
                    if attempt == 1:
                        raise
                    continue
                return parse_answer(data, ident)
            return []
        finally:
            transport.close()
