"""UDP, TCP and TLS transports on asyncio: bytes in, parsed messages out; bytes out, never
blocking.

UDP and TCP listen on the same port, TLS (when configured) on its own. Sending is
fire-and-forget with an error callback, because the transaction layer above runs on timers and
callbacks and must not await a socket: a UDP datagram leaves at once; a TCP message goes on the
open connection to that address (ours or the peer's, so responses and in-dialog requests reuse
the connection a request came on) or waits for one being opened. TCP streams are framed by
Content-Length (RFC 3261 section 18.3); a TLS connection is a TCP one with asyncio's TLS layer
under it (``sip/tls.py`` builds the contexts), framed the same way. A TLS connection we open
checks the server's certificate against the target's ``server_name`` (the domain we meant to
reach), not the address DNS gave.

Input that does not parse is logged and dropped; an exception in the handler is logged and
dropped too, so no datagram can stop the engine.

Bounded: resolved names are cached for ``dns_ttl_s`` (getaddrinfo gives no TTL) in at most
``MAX_NAMES`` entries; TCP and TLS connections peers open are closed after ``tcp_idle_s``
without traffic, a message on them (and a peer's first one) must arrive in full within
``tcp_message_s`` of its first byte (of the connection opening) or the connection is closed
(slow loris), and at most ``max_inbound_tcp`` connections from peers are kept open: at the cap
the oldest one that has not yet delivered a message is closed to make room, so peers that talk
keep their connections and a new peer is not locked out by silent ones; when every connection
has delivered a message, the new one is closed.

Known holes: no SCTP/WebSocket, only IPv4 A lookups for names here (RFC 3263 NAPTR/SRV is the
engine's, in ``locate.py``), no connection aliasing (RFC 5923). Repeated log lines are held
back by the server's logging filter (switchboard.serving.logs), not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

from switchboard.adapters.telephony.sip.clock import Clock, LoopClock, Timer
from switchboard.adapters.telephony.sip.message import (
    MAX_HEADER_BYTES,
    Request,
    Response,
    SipParseError,
    parse_message,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_NAMES = 1024  # DNS cache entries
_CONTENT_LENGTH = re.compile(
    rb"^(?:content-length|l)[ \t]*:[ \t]*([0-9]+)[ \t]*$", re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True)
class Target:
    """Where a message goes, or where one came from."""

    transport: str  # "udp", "tcp" or "tls"
    host: str
    port: int
    # TLS: the name the server's certificate must carry (and SNI); None: ``host``.
    server_name: str | None = None

    def __str__(self) -> str:
        return f"{self.transport}:{self.host}:{self.port}"


class TransportError(Exception):
    """A message could not be sent (connection refused, unreachable, closed)."""


ConnectionKey = tuple[str, str, int]  # transport, peer host, peer port
MessageHandler = Callable[[Request | Response, Target], None]
ErrorCallback = Callable[[Exception], None]


@functools.lru_cache(maxsize=4096)
def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class Transports:
    def __init__(
        self,
        host: str,
        port: int,
        on_message: MessageHandler,
        *,
        udp: bool = True,
        tcp: bool = True,
        clock: Clock | None = None,
        dns_ttl_s: float = 60.0,
        tcp_idle_s: float = 300.0,
        max_inbound_tcp: int = 1024,
        tls_port: int | None = None,
        tls_server: ssl.SSLContext | None = None,
        tls_client: ssl.SSLContext | None = None,
        tcp_message_s: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._on_message = on_message
        self._want_udp = udp
        self._want_tcp = tcp
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._tls_server: asyncio.Server | None = None
        self._tls_port = tls_port
        self._tls_server_context = tls_server
        self._tls_client_context = tls_client
        # Stream connections by (transport, peer host, peer port), whoever opened them.
        self._connections: dict[ConnectionKey, _TcpConnection] = {}
        self._connecting: dict[ConnectionKey, list[tuple[bytes, ErrorCallback | None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # name -> (address, expiry on the clock); bounded, and entries expire so that a change
        # in DNS (a trunk moved, failover) is seen without a restart.
        self._names: dict[str, tuple[str, float]] = {}
        self.clock: Clock = clock or LoopClock()
        self._dns_ttl_s = dns_ttl_s
        self.tcp_idle_s = tcp_idle_s
        self._max_inbound_tcp = max_inbound_tcp
        self.tcp_message_s = tcp_message_s
        self.inbound_tcp = 0
        # Inbound connections that have not delivered a message yet, oldest first: the ones
        # closed to make room at the cap.
        self._silent: dict[_TcpConnection, None] = {}
        self.port = port
        self.tls_port = tls_port or 0

    # ----------------------------------------------------------------- life

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        attempts = 20 if self._port == 0 else 1
        for attempt in range(attempts):
            port = self._port
            try:
                if self._want_udp:
                    self._udp, _ = await loop.create_datagram_endpoint(
                        lambda: _UdpProtocol(self), local_addr=(self._host, port)
                    )
                    port = self._udp.get_extra_info("sockname")[1]
                if self._want_tcp:
                    self._server = await loop.create_server(
                        lambda: _TcpConnection(self, inbound=True),
                        self._host,
                        port,
                        reuse_address=True,
                    )
                    port = self._server.sockets[0].getsockname()[1]
            except OSError as exc:
                if self._udp is not None:
                    self._udp.close()
                    self._udp = None
                if exc.errno != errno.EADDRINUSE or attempt == attempts - 1:
                    raise
                continue
            self.port = port
            break
        if self._tls_server_context is not None and self._tls_port is not None:
            self._tls_server = await loop.create_server(
                lambda: _TcpConnection(self, inbound=True, transport="tls"),
                self._host,
                self._tls_port,
                reuse_address=True,
                ssl=self._tls_server_context,
                ssl_handshake_timeout=10.0,
            )
            self.tls_port = self._tls_server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for connection in list(self._connections.values()):
            connection.close()
        self._connections.clear()
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        for server in (self._server, self._tls_server):
            if server is not None:
                server.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 1.0)
        self._server = self._tls_server = None

    # ----------------------------------------------------------------- sending

    def send(self, data: bytes, target: Target, on_error: ErrorCallback | None = None) -> None:
        host = target.host.strip("[]")
        if not is_ip(host):
            cached = self._names.get(host)
            if cached is None or cached[1] <= self.clock.time():
                self._names.pop(host, None)
                self._spawn(self._resolve_then_send(data, target, on_error))
                return
            host = cached[0]
        try:
            if target.transport == "udp":
                self._send_udp(data, host, target.port)
            elif target.transport in ("tcp", "tls"):
                name = target.server_name or target.host
                self._send_stream(data, (target.transport, host, target.port), name, on_error)
            else:
                raise TransportError(f"unsupported transport {target.transport}")
        except (OSError, TransportError) as exc:
            log.debug("send to %s failed: %s", target, exc)
            if on_error is not None:
                on_error(exc)

    def _send_udp(self, data: bytes, host: str, port: int) -> None:
        if self._udp is None:
            raise TransportError("UDP is not open")
        self._udp.sendto(data, (host, port))

    def _send_stream(
        self, data: bytes, key: ConnectionKey, server_name: str, on_error: ErrorCallback | None
    ) -> None:
        connection = self._connections.get(key)
        if connection is not None and not connection.closing:
            connection.write(data)
            return
        waiting = self._connecting.get(key)
        if waiting is not None:
            waiting.append((data, on_error))
            return
        self._connecting[key] = [(data, on_error)]
        self._spawn(self._connect(key, server_name))

    async def _connect(self, key: ConnectionKey, server_name: str) -> None:
        loop = asyncio.get_running_loop()
        transport, host, port = key
        tls: dict[str, Any] = {}
        if transport == "tls":
            if self._tls_client_context is None:
                self._tls_client_context = ssl.create_default_context()
            tls = {
                "ssl": self._tls_client_context,
                "server_hostname": server_name.strip("[]"),
                "ssl_handshake_timeout": 10.0,
            }
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _TcpConnection(self, transport=transport), host, port, **tls
                ),
                10.0,
            )
        except (OSError, TimeoutError) as exc:
            # ssl.SSLError (a certificate that does not verify) is an OSError: the same
            # transport error as a refused connection, so the leg fails over or fails.
            waiting = self._connecting.pop(key, [])
            log.warning("%s connection to %s:%s failed: %s", transport.upper(), host, port, exc)
            error = TransportError(f"cannot connect to {host}:{port} over {transport}: {exc}")
            for _, on_error in waiting:
                if on_error is not None:
                    on_error(error)
            return
        for data, _ in self._connecting.pop(key, []):
            protocol.write(data)

    async def _resolve_then_send(
        self, data: bytes, target: Target, on_error: ErrorCallback | None
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(target.host, target.port, family=socket.AF_INET)
        except OSError as exc:
            if on_error is not None:
                on_error(TransportError(f"cannot resolve {target.host}: {exc}"))
            return
        if len(self._names) >= MAX_NAMES:
            self._names.pop(next(iter(self._names)))  # the oldest entry
        self._names[target.host] = (str(infos[0][4][0]), self.clock.time() + self._dns_ttl_s)
        address = self._names[target.host][0]
        # The name stays the one a TLS certificate is checked against.
        server_name = target.server_name or target.host
        self.send(data, Target(target.transport, address, target.port, server_name), on_error)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----------------------------------------------------------------- receiving

    def received(self, data: bytes, source: Target, *, stream: bool) -> None:
        if not data.strip(b"\r\n"):
            return  # keep-alive
        try:
            message = parse_message(data, stream=stream)
        except SipParseError as exc:
            log.warning("dropped malformed message from %s: %s", source, exc)
            return
        except Exception:
            # The parser promises SipParseError only; if it breaks that promise, the message
            # is still dropped here rather than closing a connection or reaching the loop.
            log.exception("parser failed on a message from %s; dropped", source)
            return
        try:
            self._on_message(message, source)
        except Exception:
            log.exception("error handling a message from %s; dropped", source)

    @property
    def cached_names(self) -> int:
        return len(self._names)

    def connection_up(self, key: ConnectionKey, connection: _TcpConnection) -> None:
        self._connections[key] = connection

    def admit(self, connection: _TcpConnection) -> bool:
        """Whether one more inbound TCP connection may stay (a cap, so that no peer can take
        every file descriptor): at the cap the oldest silent one is closed to make room."""
        if self.inbound_tcp >= self._max_inbound_tcp:
            if not self._silent:
                return False
            oldest = next(iter(self._silent))
            log.warning(
                "closing a silent %s connection from %s:%s to make room: %d open "
                "(SWITCHBOARD_SIP_MAX_INBOUND_TCP)",
                *oldest.key,
                self.inbound_tcp,
            )
            oldest.close()
        self.inbound_tcp += 1
        self._silent[connection] = None
        return True

    def released(self, connection: _TcpConnection) -> None:
        """An inbound connection closed (or closing): no longer counted."""
        self._silent.pop(connection, None)
        self.inbound_tcp -= 1

    def spoke(self, connection: _TcpConnection) -> None:
        self._silent.pop(connection, None)

    def connection_down(self, key: ConnectionKey, connection: _TcpConnection) -> None:
        if self._connections.get(key) is connection:
            del self._connections[key]


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: Transports) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._owner.received(data, Target("udp", addr[0], addr[1]), stream=False)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


class _TcpConnection(asyncio.Protocol):
    """One TCP (or TLS) connection, either way; splits the stream into messages."""

    def __init__(self, owner: Transports, *, inbound: bool = False, transport: str = "tcp") -> None:
        self._owner = owner
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self.kind = transport
        self._key: ConnectionKey = (transport, "", 0)
        self.closing = False
        self._inbound = inbound
        self._counted = False
        self._last_active = 0.0
        self._idle_timer: Timer | None = None
        self._message_timer: Timer | None = None

    @property
    def key(self) -> ConnectionKey:
        return self._key

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's TCP transport implements asyncio.Transport without
        # deriving from it.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._key = (self.kind, str(peer[0]), int(peer[1]))
        if self._inbound:
            if not self._owner.admit(self):
                log.warning(
                    "refusing a %s connection from %s:%s: %d open, all in use "
                    "(SWITCHBOARD_SIP_MAX_INBOUND_TCP)",
                    *self._key,
                    self._owner.inbound_tcp,
                )
                self.close()
                return
            self._counted = True
            # Only connections peers opened are closed when idle: ours carry our requests,
            # and a peer that wants a connection kept opens it again or sends CRLF keep-alives.
            self._last_active = self._owner.clock.time()
            self._arm_idle(self._owner.tcp_idle_s)
            self._arm_message()  # a peer that opens a connection sends on it
        self._owner.connection_up(self._key, self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._cancel_message()
        self._release()
        self._owner.connection_down(self._key, self)

    def _release(self) -> None:
        if self._counted:
            self._counted = False
            self._owner.released(self)

    def _arm_idle(self, delay: float) -> None:
        if self._owner.tcp_idle_s > 0:
            self._idle_timer = self._owner.clock.call_later(delay, self._check_idle)

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self.closing:
            return
        quiet = self._owner.clock.time() - self._last_active
        if quiet >= self._owner.tcp_idle_s:
            log.info("closing idle TCP connection from %s:%s", *self._key[1:])
            self.close()
        else:
            self._arm_idle(self._owner.tcp_idle_s - quiet)

    def _arm_message(self) -> None:
        if self._message_timer is None and self._owner.tcp_message_s > 0:
            self._message_timer = self._owner.clock.call_later(
                self._owner.tcp_message_s, self._message_timed_out
            )

    def _cancel_message(self) -> None:
        if self._message_timer is not None:
            self._message_timer.cancel()
            self._message_timer = None

    def _message_timed_out(self) -> None:
        self._message_timer = None
        if not self.closing:
            self._abort(
                f"no complete message within {self._owner.tcp_message_s:g} s "
                "(SWITCHBOARD_SIP_TCP_MESSAGE_TIMEOUT_SECONDS)"
            )

    def write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise TransportError("connection closed")
        self._last_active = self._owner.clock.time()
        self._transport.write(data)

    def close(self) -> None:
        self.closing = True
        # Uncounted at once: its descriptor is freed with the close, and the slot is free.
        self._release()
        self._cancel_message()
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        self._last_active = self._owner.clock.time()
        self._buffer.extend(data)
        delivered = self._frame()
        if self.closing:
            return
        if delivered:
            self._cancel_message()  # the next message gets its own time
            self._owner.spoke(self)
        if self._buffer:
            self._arm_message()  # part of a message: the rest is due in time

    def _frame(self) -> bool:
        """Hands every complete message in the buffer up; whether there was one."""
        delivered = False
        source = Target(*self._key)
        while self._buffer and not self.closing:
            start = 0
            while start < len(self._buffer) and self._buffer[start] in b"\r\n":
                start += 1
            if start:
                del self._buffer[:start]
                continue
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    self._abort("header section too large")
                return delivered
            match = _CONTENT_LENGTH.search(bytes(self._buffer[:end]))
            digits = match.group(1) if match else b"0"
            length = int(digits) if len(digits) <= 9 else MAX_BODY_BYTES + 1
            if length > MAX_BODY_BYTES:
                self._abort("body too large")
                return delivered
            total = end + 4 + length
            if len(self._buffer) < total:
                return delivered
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            delivered = True
            self._owner.received(frame, source, stream=True)
        return delivered

    def _abort(self, why: str) -> None:
        log.warning("closing %s connection from %s:%s: %s", *self._key, why)
        self._buffer.clear()
        self.close()
