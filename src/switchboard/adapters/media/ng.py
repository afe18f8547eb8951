"""Our client for rtpengine's NG control protocol (``docs/ng_control_protocol.md`` in
sipwise/rtpengine, the text that matches 10.5).

One UDP socket; each request is ``COOKIE SPACE bencoded-dict`` and its reply starts with the same
cookie. A request with no reply is sent again with the same cookie: rtpengine keeps the replies
it sent by cookie, so a retry never runs a command twice. A cookie must never be reused for
another request (rtpengine would answer with the old reply): ours are a random prefix per client
and a counter.

Errors are ours: ``MediaUnreachable`` (no reply after the retries, or the socket failed),
``MediaRefused`` (``result: error``, with rtpengine's reason), ``MediaBadReply`` (not bencode,
not a dictionary). 10.5 has no ``pause recording``: a pause is ``stop recording`` and a resume
is ``start recording``, each a new pcap segment.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from switchboard.adapters.media import bencode

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65535


class MediaError(Exception):
    """Anything that went wrong speaking to the media relay."""


class MediaUnreachable(MediaError):
    """No reply after every retry, or the socket failed."""


class MediaRefused(MediaError):
    """rtpengine answered ``result: error``; ``reason`` is its text."""

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"{command}: {reason}")
        self.command = command
        self.reason = reason


class MediaBadReply(MediaError):
    """A reply that is not a bencoded dictionary."""


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, client: NgClient) -> None:
        self._client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._client._received(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable: nothing listens. The waiting requests time out and retry.
        log.debug("rtpengine NG socket: %s", exc)


class NgClient:
    def __init__(self, host: str, port: int, *, timeout_s: float = 0.5, retries: int = 2) -> None:
        self.address = (host, port)
        self.timeout_s = timeout_s
        self.retries = retries
        self._transport: asyncio.DatagramTransport | None = None
        self._waiting: dict[bytes, asyncio.Future[bytes]] = {}
        self._prefix = os.urandom(6).hex()
        self._counter = 0

    @property
    def target(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    async def open(self) -> None:
        if self._transport is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self), remote_addr=self.address
            )
        except OSError as exc:
            raise MediaUnreachable(f"rtpengine at {self.target}: {exc}") from exc
        self._transport = transport

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()

    # ----------------------------------------------------------------- commands

    async def ping(self) -> None:
        reply = await self.request("ping")
        if reply.get("result") != "pong":
            raise MediaBadReply(f"ping answered {reply.get('result')!r}")

    async def offer(
        self, call_id: str, from_tag: str, sdp: bytes, *, to_tag: str | None = None, **more: Any
    ) -> bytes:
        """The SDP to give the other party: ``sdp`` rewritten to rtpengine's address."""
        params: dict[str, Any] = {"call-id": call_id, "from-tag": from_tag, "sdp": sdp, **more}
        if to_tag is not None:
            params["to-tag"] = to_tag
        return _sdp(await self.request("offer", **params))

    async def answer(
        self, call_id: str, from_tag: str, to_tag: str, sdp: bytes, **more: Any
    ) -> bytes:
        """The SDP to give the offerer (``from_tag``): the answer ``to_tag`` gave, rewritten."""
        params = {"call-id": call_id, "from-tag": from_tag, "to-tag": to_tag, "sdp": sdp, **more}
        return _sdp(await self.request("answer", **params))

    async def delete(self, call_id: str) -> None:
        """Unknown calls are not an error here (rtpengine answers ok with a warning)."""
        await self.request("delete", **{"call-id": call_id})

    async def start_recording(self, call_id: str, metadata: str | None = None) -> None:
        params: dict[str, Any] = {"call-id": call_id}
        if metadata is not None:
            params["metadata"] = metadata
        await self.request("start recording", **params)

    async def stop_recording(self, call_id: str) -> None:
        await self.request("stop recording", **{"call-id": call_id})

    async def query(self, call_id: str) -> dict[str, Any]:
        return await self.request("query", **{"call-id": call_id})

    # ----------------------------------------------------------------- the exchange

    async def request(self, command: str, **params: Any) -> dict[str, Any]:
        """Send one command; its decoded reply (keys as text). Raises ``MediaError``."""
        await self.open()
        self._counter += 1
        cookie = f"{self._prefix}{self._counter}".encode()
        message = cookie + b" " + bencode.encode({"command": command, **params})
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._waiting[cookie] = future
        try:
            for attempt in range(self.retries + 1):
                transport = self._transport
                if transport is None:
                    raise MediaUnreachable(f"rtpengine at {self.target}: client closed")
                transport.sendto(message)
                try:
                    data = await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
                    break
                except TimeoutError:
                    log.debug(
                        "rtpengine %s: no reply to %s (try %d)", self.target, command, attempt
                    )
            else:
                raise MediaUnreachable(
                    f"rtpengine at {self.target}: no reply to {command!r} after "
                    f"{self.retries + 1} tries of {self.timeout_s} s"
                )
        finally:
            self._waiting.pop(cookie, None)
            if not future.done():
                future.cancel()
        reply = _parse(command, data)
        if reply.get("result") == "error":
            raise MediaRefused(command, str(reply.get("error-reason", "no reason given")))
        return reply

    def _received(self, data: bytes) -> None:
        cookie, _, body = data.partition(b" ")
        future = self._waiting.get(cookie)
        if future is not None and not future.done():
            future.set_result(body)


def _parse(command: str, body: bytes) -> dict[str, Any]:
    try:
        value = bencode.decode(body)
    except bencode.BencodeError as exc:
        raise MediaBadReply(f"{command}: {exc}") from exc
    if not isinstance(value, dict):
        raise MediaBadReply(f"{command}: the reply is not a dictionary")
    text: dict[str, Any] = _text(value)
    return text


def _text(value: Any) -> Any:
    """Byte strings as text (SDP is ASCII; anything else survives as surrogates)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, list):
        return [_text(item) for item in value]
    if isinstance(value, dict):
        return {_text(key): _text(item) for key, item in value.items()}
    return value


def _sdp(reply: dict[str, Any]) -> bytes:
    sdp = reply.get("sdp")
    if not isinstance(sdp, str):
        raise MediaBadReply("the reply has no SDP")
    return sdp.encode("utf-8", "surrogateescape")
