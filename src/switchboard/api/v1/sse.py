"""The Server-Sent Events loop of one client, on the ASGI ``send`` itself.

It reads the outbox after the client's cursor, sends what it finds, and waits: woken by a
commit of this process (``EventHub``), or after the poll interval for other processes'
commits; a comment line keeps the connection alive through proxies when nothing happens. It
ends when the client goes (``http.disconnect``), when the process stops (``EventHub.close``,
so that a stream never holds the server open) or when storage fails (the client reconnects
with ``Last-Event-ID`` and misses nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from starlette.types import Message

from switchboard.api.v1.request import V1Request
from switchboard.domain.errors import SwitchboardError
from switchboard.service import event_log
from switchboard.service.cloudevents import cloud_event

log = logging.getLogger(__name__)

BATCH = 100
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    # nginx and the like buffer responses unless told not to.
    (b"x-accel-buffering", b"no"),
]


def frame(position: int, payload: dict[str, object]) -> bytes:
    """One event: ``id`` is the cursor to resume after, ``event`` the CloudEvents type."""
    kind = str(payload["type"]).encode()
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (position, kind, orjson.dumps(payload))


async def serve_stream(req: V1Request, after: int) -> None:
    ctx, key, send = req.ctx, req.account_key, req.send
    loop = asyncio.get_running_loop()
    gone = loop.create_task(_disconnected(req))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        # The reconnection delay, and a first line so that the client sees the stream open.
        await _body(send, b"retry: 2000\n: stream of %s after %d\n\n" % (key.encode(), after))
        last_sent = loop.time()
        position = after
        while not gone.done() and not ctx.hub.closing:
            try:
                found = await event_log.account_events(ctx, key, position, BATCH)
            except SwitchboardError as exc:
                log.warning("event stream of %s ended: %s", key, exc)
                break
            if found:
                chunk = b"".join(frame(e.position, cloud_event(e.event)) for e in found)
                await _body(send, chunk)
                position = found[-1].position
                last_sent = loop.time()
                if len(found) == BATCH:
                    continue
            quiet = loop.time() - last_sent
            if quiet >= ctx.stream_keepalive_s:
                await _body(send, b": keep-alive\n\n")
                last_sent = loop.time()
                continue
            wait_s = min(ctx.stream_poll_s, ctx.stream_keepalive_s - quiet)
            woken = loop.create_task(ctx.hub.wait(key, wait_s))
            await asyncio.wait({woken, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not woken.done():
                woken.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await woken
        if not gone.done():
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:  # the connection went while writing
        log.debug("event stream of %s: the client went away", key)
    finally:
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone


async def _body(send: object, chunk: bytes) -> None:
    await send({"type": "http.response.body", "body": chunk, "more_body": True})  # type: ignore[operator]


async def _disconnected(req: V1Request) -> None:
    while True:
        message: Message = await req.receive()
        if message["type"] == "http.disconnect":
            return
