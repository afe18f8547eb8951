"""uvicorn's httptools protocol with a request timeout and a connection cap.

uvicorn closes a keep-alive connection after ``timeout_keep_alive`` without a request, but a
connection that never completes its first request is never closed: one that sends nothing, or
trickles a header byte every few seconds (slow loris), holds its descriptor for ever. Here:

- a request must arrive in full (header section and body) within ``request_timeout_s`` of the
  connection opening or of the request's first byte, or the connection is closed. One timer
  per server sweeps the connections reading a request (oldest first) a few times per timeout,
  rather than arming and cancelling a timer for every request on the hot path; so a
  connection is closed up to a quarter of the timeout (at most 1 s) late. With the guard a
  trivial request costs the server about 39 us of CPU against 36 us without (median of 8
  alternating runs, shared cores);
- at most ``max_connections`` are held. At the cap a new connection does not wait or fail: the
  oldest connection that has not yet completed a request is closed to make room, else the
  connection idle longest between requests (keep-alive), and only when every connection has a
  request in progress is the new one closed. The connections an attacker holds open are the
  ones making no progress, so a client that sends requests promptly is still served. A
  connection whose bytes wait unread in the kernel (the loop accepted a burst of connections
  before reading any) is passed over: it is making progress, we have not looked yet.

Known holes: a client that reads its response slowly holds a connection as long as it keeps
reading (uvicorn's flow control); an attacker who opens connections faster than clients send
their first bytes can still close a client's connection before it sends anything.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import struct
import termios
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

# At most this many candidates are looked at for bytes waiting unread, to keep making room
# cheap; past them the oldest is closed whatever it has waiting.
SCAN = 16


class ConnectionTable:
    """The connections one server holds, which of them may be closed to make room, and which
    are reading a request (and since when)."""

    def __init__(self, request_timeout_s: float, max_connections: int) -> None:
        self.request_timeout_s = request_timeout_s
        self.max_connections = max_connections
        self.sweep_s = min(1.0, request_timeout_s / 4)
        self.open = 0
        # Insertion order is age (dicts keep it): connections that have not completed a
        # request yet, and connections waiting between requests. A connection with a request
        # in the app is in neither, and is never closed to make room.
        self.unserved: dict[GuardedHttpProtocol, None] = {}
        self.idle: dict[GuardedHttpProtocol, None] = {}
        # Connections reading a request -> when it began; in that order.
        self.reading: dict[GuardedHttpProtocol, float] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    def victim(self) -> GuardedHttpProtocol | None:
        """The connection to close to make room: the oldest with nothing waiting unread among
        those without a complete request, else among those between requests; else the oldest
        of either."""
        for candidates in (self.unserved, self.idle):
            for index, candidate in enumerate(candidates):
                if index == SCAN:
                    break
                if not candidate.unread():
                    return candidate
        for candidates in (self.unserved, self.idle):
            if candidates:
                return next(iter(candidates))
        return None

    def forget(self, protocol: GuardedHttpProtocol) -> None:
        self.unserved.pop(protocol, None)
        self.idle.pop(protocol, None)

    def begin(self, protocol: GuardedHttpProtocol, loop: asyncio.AbstractEventLoop) -> None:
        """A request (or a connection's first one) starts arriving now, unless it already had."""
        if protocol not in self.reading and self.request_timeout_s > 0:
            self.reading[protocol] = loop.time()
            if self._sweeper is None:
                self._sweeper = loop.call_later(self.sweep_s, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeper = None
        due = loop.time() - self.request_timeout_s
        late = []
        for protocol, began in self.reading.items():
            if began > due:
                break
            late.append(protocol)
        if late:
            log.info(
                "closing %d HTTP connections: no complete request within %g s "
                "(SWITCHBOARD_HTTP_HEADER_TIMEOUT_SECONDS)",
                len(late),
                self.request_timeout_s,
            )
        for protocol in late:
            protocol.drop()
        if self.reading:
            self._sweeper = loop.call_later(self.sweep_s, self._sweep, loop)


class GuardedHttpProtocol(HttpToolsProtocol):
    table: ConnectionTable  # set on the class ``protocol_class`` makes, one per server

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counted = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        table = self.table
        if table.open >= table.max_connections:
            victim = table.victim()
            if victim is None:
                log.warning(
                    "closing a new HTTP connection: %d connections open, all with a request "
                    "in progress (SWITCHBOARD_HTTP_MAX_CONNECTIONS)",
                    table.open,
                )
                transport.close()
                return
            log.warning(
                "closing the HTTP connection longest without a request to make room: "
                "%d connections open (SWITCHBOARD_HTTP_MAX_CONNECTIONS)",
                table.open,
            )
            victim.drop()
        table.open += 1
        self._counted = True
        table.unserved[self] = None
        table.begin(self, self.loop)  # the first request is due from now

    def connection_lost(self, exc: Exception | None) -> None:
        self.drop(close=False)
        super().connection_lost(exc)

    def unread(self) -> bool:
        """Whether bytes from the client wait in the kernel, not yet read."""
        sock = self.transport.get_extra_info("socket")
        try:
            waiting = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
        except (AttributeError, OSError, ValueError):
            return False
        return bool(struct.unpack("i", waiting)[0])

    def drop(self, *, close: bool = True) -> None:
        """Stop counting this connection (at once: its descriptor is freed on close)."""
        table = self.table
        table.forget(self)
        table.reading.pop(self, None)
        if self._counted:
            self._counted = False
            table.open -= 1
        if close and not self.transport.is_closing():
            self.transport.close()

    # ------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.table.begin(self, self.loop)

    def on_headers_complete(self) -> None:
        # Handed to the app: no longer the first to close.
        self.table.forget(self)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.table.reading.pop(self, None)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        between_requests = self.cycle is None or self.cycle.response_complete  # none pipelined
        if self._counted and between_requests and not self.transport.is_closing():
            self.table.idle[self] = None


def protocol_class(request_timeout_s: float, max_connections: int) -> type[GuardedHttpProtocol]:
    """A protocol class for one uvicorn server (``uvicorn.Config(http=...)``); the limits
    travel on the class because uvicorn builds each connection's protocol itself."""
    table = ConnectionTable(request_timeout_s, max_connections)
    return type("SwitchboardHttpProtocol", (GuardedHttpProtocol,), {"table": table})
