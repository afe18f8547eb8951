"""A real HTTP webhook receiver on 127.0.0.1 (Starlette on uvicorn, in the test's loop) that
verifies every request exactly as a receiver of VCC's webhooks does: the ``Vonage-Signature``
header is the JWT itself; decode the Base64 key, verify HS256 (and ``exp``), and compare the
``payload_hash`` claim with the SHA-256 of the body bytes received.

It can answer with an error a number of times, answer slowly, and be stopped and started
again on the same port (a receiver that is down and comes back).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson
import uvicorn
from starlette.requests import Request
from starlette.responses import Response


def verify(secret_b64: str, signature: str, body: bytes) -> dict[str, Any]:
    """What a VCC webhook receiver does; raises on anything wrong."""
    key = base64.b64decode(secret_b64)
    claims: dict[str, Any] = jwt.decode(
        signature, key, algorithms=["HS256"], options={"require": ["iat", "exp"]}
    )
    if claims.get("payload_hash") != hashlib.sha256(body).hexdigest():
        raise ValueError("payload_hash does not match the body")
    return claims


@dataclass
class Received:
    event: dict[str, Any]
    claims: dict[str, Any]
    at: float  # time.monotonic() when it arrived
    answered: int


@dataclass
class Receiver:
    secret: str = field(default_factory=lambda: base64.b64encode(b"k" * 32).decode())
    # Answer ``fail_status`` to this many requests before answering 204 again.
    failures_left: int = 0
    fail_status: int = 500
    # Seconds before answering (a slow receiver).
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    # Every request that did not verify: the tests expect none.
    rejected: list[str] = field(default_factory=list)
    # Monotonic times of every request, answered well or not.
    requests: list[float] = field(default_factory=list)
    port: int = 0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        body = await request.body()
        arrived = time.monotonic()
        self.requests.append(arrived)
        self._arrived.set()
        try:
            if request.headers.get("content-type") != "application/cloudevents+json":
                raise ValueError(f"content type {request.headers.get('content-type')!r}")
            claims = verify(self.secret, request.headers["vonage-signature"], body)
        except Exception as exc:
            self.rejected.append(repr(exc))
            await Response(status_code=401)(scope, receive, send)
            return
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status = 204
        if self.failures_left > 0:
            self.failures_left -= 1
            status = self.fail_status
        if 200 <= status < 300:
            self.received.append(Received(orjson.loads(body), claims, arrived, status))
        await Response(status_code=status)(scope, receive, send)

    async def start(self) -> Receiver:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self, log_level="error", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:  # noqa: ASYNC110 - uvicorn sets a flag, no event
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        self._server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = self._task = None

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        """Until ``count`` events were received well (2xx), else an assertion error."""
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{len(self.received)} of {count} received; {self.rejected}"
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.05))
        return self.received

    def types(self) -> list[str]:
        return [r.event["type"].removeprefix("com.switchboard.") for r in self.received]


class ReceiverThread:
    """The receiver in a thread of its own with its own loop, for tests that drive real
    server processes synchronously."""

    def __init__(self, receiver: Receiver | None = None) -> None:
        self.receiver = receiver or Receiver()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(15)

    def start(self) -> None:
        self._call(self.receiver.start())

    def stop(self) -> None:
        self._call(self.receiver.stop())

    def __enter__(self) -> Receiver:
        self._thread.start()
        self.start()
        return self.receiver

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()


def wait_received(receiver: Receiver, ids: list[str], within_s: float) -> None:
    """Until every one of ``ids`` was received (2xx), polling from another thread."""
    deadline = time.monotonic() + within_s
    while not set(ids) <= {r.event["id"] for r in receiver.received}:
        got = len({r.event["id"] for r in receiver.received} & set(ids))
        assert time.monotonic() < deadline, f"{got} of {len(ids)} received; {receiver.rejected}"
        time.sleep(0.05)
