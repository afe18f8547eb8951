"""Webhook requests over HTTP (httpx), signed as VCC signs its webhooks.

``Vonage-Signature`` carries a JWT, nothing before it: HS256 with the subscription's key (the
bytes its Base64 decodes to), claims ``payload_hash`` (hex SHA-256 of the exact body bytes),
``iat`` and ``exp``. A receiver written for VCC's webhooks verifies these unchanged. The body
is a CloudEvent in structured JSON mode (``application/cloudevents+json``).

One ``httpx.AsyncClient`` per process (connections kept alive per receiver), a timeout on
every request, redirects not followed (a receiver that moved must be re-subscribed), and at
most ``concurrency`` requests in flight.

A receiver's URL comes from an account, so the addresses it may reach are bounded
(``ReceiverNetworks``): the check is made where the connection is made (``GuardedBackend``,
httpcore's network backend), on each address the name resolved to, and the connection goes
to the address checked. A name that resolves to a public address when a subscription is
made and to 127.0.0.1 when the event is sent (DNS rebinding) is refused all the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import socket
import time
from collections.abc import Iterable

import httpcore
import httpx
import jwt

from switchboard.service.cloudevents import MEDIA_TYPE
from switchboard.service.ports import SendResult

SIGNATURE_HEADER = "Vonage-Signature"
USER_AGENT = "Switchboard-Webhooks/1"


def sign(body: bytes, key: bytes, now: float, ttl_s: float) -> str:
    claims = {
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "iat": int(now),
        "exp": int(now + ttl_s),
    }
    return jwt.encode(claims, key, algorithm="HS256")


class ReceiverNetworks:
    """The addresses webhooks may go to: any not in a denied network, or in an allowed one."""

    def __init__(self, deny: Iterable[str], allow: Iterable[str] = ()) -> None:
        self._deny = [ipaddress.ip_network(n, strict=False) for n in deny]
        self._allow = [ipaddress.ip_network(n, strict=False) for n in allow]

    def refusal(self, address: str) -> str | None:
        """Why ``address`` (an IP address as text) is refused; ``None`` when it is not."""
        ip = ipaddress.ip_address(address.partition("%")[0])  # an IPv6 zone is not the address
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if any(ip.version == n.version and ip in n for n in self._allow):
            return None
        for network in self._deny:
            if ip.version == network.version and ip in network:
                return (
                    f"{ip} is in {network}, where webhooks are not delivered "
                    "(SWITCHBOARD_WEBHOOK_DENY_NETWORKS, SWITCHBOARD_WEBHOOK_ALLOW_NETWORKS)"
                )
        return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses ``networks`` permits: the name
    is resolved here, each address checked, and the connection made to an address checked."""

    def __init__(self, networks: ReceiverNetworks) -> None:
        self._networks = networks
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            found = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
            )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"{host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        refusals = [why for a in addresses if (why := self._networks.refusal(a)) is not None]
        permitted = [a for a in addresses if self._networks.refusal(a) is None]
        if not permitted:
            raise httpcore.ConnectError(f"refused: {refusals[0] if refusals else host}")
        failed: httpcore.ConnectError | None = None
        for address in permitted:  # in the resolver's order, as a client would try them
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failed = exc
        assert failed is not None
        raise failed

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are not sent over Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _guarded_transport(
    networks: ReceiverNetworks, limits: httpx.Limits
) -> httpx.AsyncHTTPTransport:
    """httpx's transport, its connection pool made again with ``GuardedBackend`` (httpx has no
    argument for a network backend; ``tests/api/test_webhook_receivers.py`` fails if this
    stops taking effect)."""
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(networks),
    )
    return transport


class HttpWebhookSender:
    def __init__(
        self,
        *,
        networks: ReceiverNetworks,
        timeout_s: float = 10.0,
        concurrency: int = 16,
        signature_ttl_s: float = 300.0,
    ) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._client = httpx.AsyncClient(
            timeout=timeout_s,
            follow_redirects=False,
            limits=limits,
            transport=_guarded_transport(networks, limits),
            trust_env=False,
        )
        self._slots = asyncio.Semaphore(concurrency)
        self._ttl_s = signature_ttl_s

    async def send(self, url: str, body: bytes, key: bytes) -> SendResult:
        headers = {
            "Content-Type": MEDIA_TYPE,
            # Wall-clock time: the receiver checks ``exp`` against its own.
            SIGNATURE_HEADER: sign(body, key, time.time(), self._ttl_s),
            "User-Agent": USER_AGENT,
        }
        async with self._slots:
            try:
                response = await self._client.post(url, content=body, headers=headers)
            except httpx.TimeoutException:
                return SendResult(None, "timed out")
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                return SendResult(None, f"{type(exc).__name__}: {exc}"[:500])
        # The body is not kept: receivers' answers are theirs.
        await response.aclose()
        return SendResult(response.status_code)

    async def close(self) -> None:
        await self._client.aclose()
