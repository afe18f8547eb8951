"""A stub name server on 127.0.0.1 for RFC 3263 tests: answers NAPTR, SRV and A questions over
UDP from a table, written with dnspython's message API (the engine's resolver is dnspython too,
but this side only builds and parses messages: nothing here resolves).

``zone`` maps (name, type) to records in zone-file text, e.g.
``("_sips._tcp.trunk.test", "SRV"): ["10 0 5061 sbc1.trunk.test."]``. A name with no entry of
any type is NXDOMAIN; a known name without the asked type is an empty NOERROR answer. Every
question is logged in ``asked`` as (name, type), and ``silent`` makes it drop questions.

Starts nothing on import.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

log = logging.getLogger(__name__)


class StubDns(asyncio.DatagramProtocol):
    def __init__(self, zone: dict[tuple[str, str], list[str]], ttl: int = 300) -> None:
        self.zone = zone
        self.ttl = ttl
        self.asked: list[tuple[str, str]] = []
        self.silent = False
        self._transport: asyncio.DatagramTransport | None = None
        self.address: tuple[str, int] = ("127.0.0.1", 0)

    async def start(self) -> StubDns:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0)
        )
        self._transport = transport
        self.address = transport.get_extra_info("sockname")[:2]
        return self

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def asked_for(self, kind: str) -> list[str]:
        return [name for name, asked_kind in self.asked if asked_kind == kind]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except Exception:
            log.warning("stub DNS: unreadable question from %s", addr)
            return
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        kind = dns.rdatatype.to_text(question.rdtype)
        self.asked.append((name, kind))
        if self.silent or self._transport is None:
            return
        response = dns.message.make_response(query)
        records = self.zone.get((name, kind))
        if records:
            response.answer.append(
                dns.rrset.from_text(question.name, self.ttl, dns.rdataclass.IN, kind, *records)
            )
        elif not any(known == name for known, _ in self.zone):
            response.set_rcode(dns.rcode.NXDOMAIN)
        self._transport.sendto(response.to_wire(), addr)
