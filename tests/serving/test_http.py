"""The guarded HTTP protocol in a real uvicorn server on a free port, with a small cap and a
short request timeout: which connection makes room at the cap, and what the timeout closes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from switchboard.serving.http import SCAN, ConnectionTable, protocol_class

TIMEOUT = 0.5
CAP = 3
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    if scope["path"] == "/slow":
        await asyncio.sleep(1.0)
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


@contextlib.asynccontextmanager
async def serving(request_timeout: float) -> AsyncIterator[int]:
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        http=protocol_class(request_timeout, CAP),
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(100)  # connections wait in the backlog until the server is up
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def port() -> AsyncIterator[int]:
    """A server whose request timeout stays out of the way."""
    async with serving(30.0) as port:
        yield port


@pytest.fixture
async def hasty() -> AsyncIterator[int]:
    """A server with a short request timeout."""
    async with serving(TIMEOUT) as port:
        yield port


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Client:
        client = cls(*await asyncio.open_connection("127.0.0.1", port))
        await asyncio.sleep(0.05)  # accepted, in order
        return client

    async def get(self, path: str = "/") -> bytes:
        self.writer.write(REQUEST.replace(b"/", path.encode(), 1))
        return await asyncio.wait_for(self.reader.readuntil(b"ok"), 5)

    async def closed(self, within: float = 1.0) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(1024), within) == b""
        except TimeoutError:
            return False
        except ConnectionError:
            return True

    def close(self) -> None:
        self.writer.close()


async def test_at_the_cap_a_silent_connection_makes_room_before_a_kept_alive_one(
    port: int,
) -> None:
    kept = await Client.open(port)
    assert (await kept.get()).startswith(b"HTTP/1.1 200")
    silent = [await Client.open(port) for _ in range(CAP - 1)]
    newcomer = await Client.open(port)
    assert await silent[0].closed()
    assert (await newcomer.get()).startswith(b"HTTP/1.1 200")
    assert (await kept.get()).startswith(b"HTTP/1.1 200")  # between requests, not closed
    assert not await silent[1].closed(within=0.1)
    for client in [kept, *silent, newcomer]:
        client.close()


async def test_at_the_cap_a_request_in_progress_is_never_closed(port: int) -> None:
    busy = [await Client.open(port) for _ in range(CAP)]
    answers = [asyncio.ensure_future(client.get("/slow")) for client in busy]
    await asyncio.sleep(0.2)
    refused = await Client.open(port)
    assert await refused.closed()
    assert all(answer.startswith(b"HTTP/1.1 200") for answer in await asyncio.gather(*answers))
    for client in [*busy, refused]:
        client.close()


async def test_a_request_must_arrive_in_full_in_time(hasty: int) -> None:
    silent = await Client.open(hasty)
    trickling = await Client.open(hasty)
    for byte in REQUEST[:10]:
        trickling.writer.write(bytes([byte]))
        await asyncio.sleep(TIMEOUT / 5)
    assert await silent.closed(within=0.1)
    assert await trickling.closed(within=TIMEOUT)
    prompt = await Client.open(hasty)
    for _ in range(3):  # prompt requests, each with its own time, on one connection
        assert (await prompt.get()).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(TIMEOUT * 0.8)
    prompt.writer.write(REQUEST[:5])  # a request begun and not finished
    assert await prompt.closed(within=TIMEOUT * 3)
    for client in (silent, trickling, prompt):
        with contextlib.suppress(Exception):
            client.close()


class Waiting:
    """A connection as the table sees it when making room: bytes waiting unread, or not."""

    def __init__(self, name: str, unread: bool) -> None:
        self.name = name
        self._unread = unread

    def unread(self) -> bool:
        return self._unread


def test_making_room_passes_over_connections_with_bytes_waiting_unread() -> None:
    table = ConnectionTable(10.0, 3)
    fresh = [Waiting("sent at once", True), Waiting("silent", False)]
    between = [Waiting("between requests", False)]
    table.unserved.update(dict.fromkeys(fresh))  # type: ignore[arg-type]
    table.idle.update(dict.fromkeys(between))  # type: ignore[arg-type]
    assert table.victim() is fresh[1]
    table.unserved.pop(fresh[1])  # type: ignore[call-overload]
    assert table.victim() is between[0]
    table.idle.clear()
    assert table.victim() is fresh[0]  # all have bytes waiting: the oldest


def test_making_room_looks_at_a_bounded_number_of_connections() -> None:
    table = ConnectionTable(10.0, 100)
    busy = [Waiting(str(n), True) for n in range(SCAN)]
    table.unserved.update(dict.fromkeys([*busy, Waiting("silent", False)]))  # type: ignore[arg-type]
    assert table.victim() is busy[0]
