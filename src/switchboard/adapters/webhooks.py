"""Webhook requests over HTTP (httpx), signed as VCC signs its webhooks.

``Vonage-Signature`` carries a JWT, nothing before it: HS256 with the subscription's key (the
bytes its Base64 decodes to), claims ``payload_hash`` (hex SHA-256 of the exact body bytes),
``iat`` and ``exp``. A receiver written for VCC's webhooks verifies these unchanged. The body
is a CloudEvent in structured JSON mode (``application/cloudevents+json``).

One ``httpx.AsyncClient`` per process (connections kept alive per receiver), a timeout on
every request, redirects not followed (a receiver that moved must be re-subscribed), and at
most ``concurrency`` requests in flight.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

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


class HttpWebhookSender:
    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        concurrency: int = 16,
        signature_ttl_s: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            timeout=timeout_s,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            transport=transport,
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
