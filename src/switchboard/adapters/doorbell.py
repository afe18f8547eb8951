"""A process's doorbell: one UDP datagram wakes its deadline loop.

``serve`` opens it on a loopback port and registers ``host:port`` in storage under its node
id; another process (``calls end`` from the CLI, another node) that leaves a deadline for that
node reads the address and rings. The datagram carries nothing but a fixed word: a ring only
makes the loop read storage, which holds the truth, so a forged or lost ring does no harm
beyond one extra read or a wait for the loop's next deadline.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)

_RING = b"switchboard:wake"


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, on_ring: Callable[[], None]) -> None:
        self._on_ring = on_ring

    def datagram_received(self, data: bytes, addr: object) -> None:
        if data == _RING:
            self._on_ring()


class UdpDoorbell:
    def __init__(self) -> None:
        self._transport: asyncio.DatagramTransport | None = None

    async def open(self, host: str, on_ring: Callable[[], None]) -> str:
        """Listen on ``host`` (an ephemeral port); returns the address to register."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Listener(on_ring), local_addr=(host, 0)
        )
        self._transport = transport
        bound_host, port = transport.get_extra_info("sockname")[:2]
        return f"[{bound_host}]:{port}" if ":" in bound_host else f"{bound_host}:{port}"

    async def ring(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                sock.sendto(_RING, (host, int(port)))
        except (OSError, ValueError) as exc:  # the node is gone: its restart reads storage
            log.warning("could not ring the doorbell at %s: %s", address, exc)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
