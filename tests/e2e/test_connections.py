"""Slow, idle and too many connections against the real server process, started with a low
limit on open files: silent and trickling connections are closed, thousands of them on HTTP and
on SIP over TCP neither exhaust the process's descriptors nor flood its log, and a client that
behaves is still served promptly."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from multiprocessing.queues import Queue
from pathlib import Path

import httpx
import pytest

from tests.support.sipp import free_port

KEY = "a1b2c3d4e5"
HEADER_TIMEOUT = 3.0
ATTACKERS = 2000  # on HTTP (half silent, half trickling) and again on SIP over TCP
ATTACK_SECONDS = 12.0
REQUESTS = 60


class LimitedServer:
    """``switchboard serve --demo`` with the SIP engine listening on TCP, its trunk an unused
    port, and ``files`` as its limit on open files (soft and hard: it cannot raise it)."""

    def __init__(self, tmp_path: Path, files: int) -> None:
        self.files = files
        self.log = tmp_path / "server.log"
        self.sip_port = free_port()
        env = {
            **os.environ,
            "SWITCHBOARD_TELEPHONY": "sip",
            "SWITCHBOARD_SIP_BIND_PORT": str(self.sip_port),
            "SWITCHBOARD_SIP_TRUNK_HOST": "127.0.0.1",
            "SWITCHBOARD_SIP_TRUNK_PORT": str(free_port()),
            "SWITCHBOARD_SIP_TRUNK_TRANSPORT": "tcp",
            "SWITCHBOARD_HTTP_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            "SWITCHBOARD_SIP_TCP_MESSAGE_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        }

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

        self._log_file = self.log.open("wb")
        database = f"sqlite:///{tmp_path / 'limits.db'}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "switchboard",
                "serve",
                "--port",
                "0",
                "--demo",
                "--database",
                database,
            ],
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
            env=env,
            preexec_fn=limit,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        assert first.startswith("Listening on http://"), (first, self.log.read_text())
        self.host, port = first.removeprefix("Listening on http://").rsplit(":", 1)
        self.port = int(port)
        self.lines: dict[str, str] = {}
        while "Try" not in self.lines:
            label, _, value = self.proc.stdout.readline().strip().partition(": ")
            self.lines[label] = value

    def log_lines(self) -> int:
        return len(self.log.read_bytes().splitlines())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._log_file.close()


@pytest.fixture(autouse=True)
def enough_files_here() -> None:
    """This process holds both sides' worth of attacking connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 3 * ATTACKERS + 512
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"needs {wanted} open files in the test process (hard limit {hard})")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> float | None:
    """Seconds until the server closed the connection, or None if it did not in time."""
    start = time.monotonic()
    try:
        while await asyncio.wait_for(reader.read(1024), seconds - (time.monotonic() - start)):
            pass
    except TimeoutError:
        return None
    except ConnectionError:
        pass
    return time.monotonic() - start


async def attacker(host: str, port: int, trickle: bytes | None, until: float) -> int:
    """Holds a connection open until ``until``, sending nothing or a byte of ``trickle`` every
    second, and opens another when the server closes it; returns how often it was closed."""
    closed = 0
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        try:
            sent = 0
            while time.monotonic() < until and not reader.at_eof():
                if trickle is not None:
                    writer.write(trickle[sent % len(trickle) : sent % len(trickle) + 1])
                    sent += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(1024), 1.0)
            if reader.at_eof():
                closed += 1
                await asyncio.sleep(0.5)  # then back, as an attacker would
        except OSError:
            closed += 1
        finally:
            writer.close()
    return closed


async def attack(host: str, port: int, sip_port: int, seconds: float) -> int:
    until = time.monotonic() + seconds
    trickle = b"GET /v0/ HTTP/1.1\r\nHost: x\r\nX-Slow: "
    closures = await asyncio.gather(
        *(attacker(host, port, None, until) for _ in range(ATTACKERS // 2)),
        *(attacker(host, port, trickle, until) for _ in range(ATTACKERS // 2)),
        *(attacker("127.0.0.1", sip_port, None, until) for _ in range(ATTACKERS)),
    )
    return sum(closures)


def run_attack(host: str, port: int, sip_port: int, seconds: float, out: Queue[int]) -> None:
    """In a process of its own, as attackers are: the good client's timings are the
    server's, not this loop's."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 3 * ATTACKERS + 512), hard))
    out.put(asyncio.run(attack(host, port, sip_port, seconds)))


async def good_client(server: LimitedServer, count: int) -> list[tuple[float, int]]:
    """``count`` requests a second apart-ish, half on a kept-alive connection and half on a
    new connection each: (seconds, status) for each."""
    base = f"http://{server.host}:{server.port}"
    headers = {"Authorization": f"Bearer {server.lines['Bearer token']}"}
    results: list[tuple[float, int]] = []
    # One client keeps its connection; the other opens a new one for every request (and is
    # made once: making an httpx client costs milliseconds of the client's own time).
    new_each_time = httpx.Limits(max_keepalive_connections=0)
    async with (
        httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as kept,
        httpx.AsyncClient(
            base_url=base, headers=headers, timeout=10, limits=new_each_time
        ) as fresh,
    ):
        for index in range(count):
            start = time.monotonic()
            try:
                response = await (kept if index % 2 else fresh).get(f"/v0/{KEY}/agents/1234")
                status = response.status_code
            except httpx.HTTPError as exc:
                print("good client:", index, repr(exc))
                status = 0
            results.append((time.monotonic() - start, status))
            await asyncio.sleep(ATTACK_SECONDS / count / 2)
    return results


@pytest.fixture(params=[1024, 8192], ids=lambda files: f"{files}-files")
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LimitedServer]:
    started = LimitedServer(tmp_path, request.param)
    try:
        yield started
    finally:
        started.stop()


async def test_silent_and_trickling_connections_are_closed(server: LimitedServer) -> None:
    host = server.host
    silent, silent_writer = await asyncio.open_connection(host, server.port)
    trickling, trickle_writer = await asyncio.open_connection(host, server.port)
    sip_silent, sip_writer = await asyncio.open_connection("127.0.0.1", server.sip_port)

    async def trickle() -> None:
        for byte in b"GET /v0/ HTTP/1.1\r\nHost: x\r\n":
            trickle_writer.write(bytes([byte]))
            await asyncio.sleep(0.5)

    feeding = asyncio.create_task(trickle())
    waits = await asyncio.gather(
        closed_within(silent, 4 * HEADER_TIMEOUT),
        closed_within(trickling, 4 * HEADER_TIMEOUT),
        closed_within(sip_silent, 4 * HEADER_TIMEOUT),
    )
    feeding.cancel()
    for writer in (silent_writer, trickle_writer, sip_writer):
        writer.close()
    for waited in waits:
        assert waited is not None, (waits, server.log.read_text())
        assert HEADER_TIMEOUT - 0.5 <= waited <= 2 * HEADER_TIMEOUT, (waits, server.log.read_text())


async def test_a_good_client_is_served_promptly_among_thousands_of_bad_connections(
    server: LimitedServer,
) -> None:
    quiet = statistics.median(elapsed for elapsed, _ in await good_client(server, 10))
    before = server.log_lines()
    spawn = multiprocessing.get_context("spawn")
    out: Queue[int] = spawn.Queue()
    attackers = spawn.Process(
        target=run_attack, args=(server.host, server.port, server.sip_port, ATTACK_SECONDS, out)
    )
    attackers.start()
    try:
        await asyncio.sleep(3)  # all of them connected (and the server at its caps)
        results = await good_client(server, REQUESTS)
        closed = await asyncio.to_thread(out.get, timeout=ATTACK_SECONDS + 30)
    finally:
        attackers.join(timeout=30)
        if attackers.is_alive():
            attackers.kill()
            attackers.join()
        out.close()

    seconds = [elapsed for elapsed, _ in results]
    median = statistics.median(seconds)
    print(
        f"\n{server.files} open files: good client median {median * 1000:.1f} ms "
        f"(kept connection {statistics.median(seconds[1::2]) * 1000:.1f}, "
        f"new ones {statistics.median(seconds[::2]) * 1000:.1f}; "
        f"{quiet * 1000:.1f} before the attack), "
        f"max {max(seconds) * 1000:.1f} ms over {len(seconds)} requests; "
        f"{closed} attacking connections closed by the server; "
        f"{server.log_lines() - before} log lines"
    )
    assert [status for _, status in results] == [200] * REQUESTS
    assert median < 0.1
    # The server closed the bad connections (caps and timeouts), and it is still up.
    assert closed >= ATTACKERS
    assert server.proc.poll() is None
    # Tens of thousands of lines without the repeat filter and the caps; a handful with.
    assert server.log_lines() - before < 100


def test_a_cap_beyond_the_open_file_limit_stops_the_start_by_name(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'cap.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "switchboard", "serve", "--port", "0", "--database", database],
        env={**os.environ, "SWITCHBOARD_HTTP_MAX_CONNECTIONS": "5000"},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: SWITCHBOARD_HTTP_MAX_CONNECTIONS: 5000 HTTP"), done.stderr
    assert "Traceback" not in done.stderr
