"""Calls placed through the whole service, V0 API to SIP peers: what a deployment gets.

    python bench/service_sip_load.py --calls 300 --rate 50 [--runs 3] [--database postgresql]

Each run starts two SIPp UAS peers that answer at volume (agents' phones and the trunk, RFC
3725 flow IV, which every call to an agent's phone uses: held first offer, then the trunk's
offer relayed by re-INVITE; no ring time, every call held until our BYE), a fresh
`switchboard serve` with the SIP engine on a fresh database, provisions one agent per call
(all on the SIPp agent peer), then POSTs the calls at --rate per second (one agent each) with
an httpx client on the same machine. A call is set up when the service recorded it connected.
Then the server is stopped with SIGTERM, which hangs every call up with BYE.

Reported per run and as medians: POSTs answered 201 per second, POST latency p50/p95, set-ups
per second (first POST to last connection, from the service's own timestamps), set-up
latency p50/p95 (created → connected), and the server's CPU seconds per 1000 calls.
Compare with bench/sip_load.py (the engine alone) to see what the service costs.
Loopback only; every wait is bounded; the script stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.sip.sip_harness import RECEIVE_BYE, SCENARIOS  # noqa: E402
from tests.support.harness import PostgresDatabase  # noqa: E402
from tests.support.sipp import SippPeer, free_port, sipp_available  # noqa: E402

KEY = "a1b2c3d4e5"


async def provision(db: str, calls: int, agent_port: int) -> None:
    from switchboard.bootstrap import build
    from switchboard.config import load_settings
    from switchboard.service import provisioning
    from switchboard.service.provisioning import AccountOptions, AgentOptions

    runtime = await build(load_settings(database_url=db), open_engine=False)
    try:
        await provisioning.update_account(
            runtime.ctx, KEY, AccountOptions(destination_timeout_s=20)
        )
        for i in range(calls):
            phone = f"sip:a{i}@127.0.0.1:{agent_port}"
            await provisioning.add_agent(
                runtime.ctx, KEY, str(100000 + i), AgentOptions(phone=phone)
            )
    finally:
        await runtime.close()


async def connected_times(db: str) -> list[float]:
    """Seconds from placement to connection, per connected call, and the last connection."""
    from switchboard.bootstrap import build
    from switchboard.config import load_settings
    from switchboard.service import calls

    runtime = await build(load_settings(database_url=db), open_engine=False)
    try:
        found = await calls.list_calls(runtime.ctx, KEY)
    finally:
        await runtime.close()
    return [
        (c.created_at.timestamp(), c.connected_at.timestamp())  # type: ignore[misc]
        for c in found
        if c.connected_at is not None
    ]


async def count_connected(db: str) -> int:
    return len(await connected_times(db))


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_run(calls: int, rate: float, db: str, workdir: Path) -> dict[str, float]:
    limit = calls / rate * 3 + 120
    agent = SippPeer(
        SCENARIOS / "agent_flow4.xml",
        workdir,
        values={"ACK_RE": "o=trunk", "HANGUP": RECEIVE_BYE},
        calls=calls,
        timeout_s=limit,
        trace=False,
    )
    trunk = SippPeer(
        SCENARIOS / "trunk_flow4.xml",
        workdir,
        values={"OFFER_RE": "o=agent", "FROM_RE": ".*", "ORIGIN": "trunk", "HANGUP": RECEIVE_BYE},
        calls=calls,
        timeout_s=limit,
        trace=False,
    )
    await agent.start()
    await trunk.start()
    env = {
        **os.environ,
        "SWITCHBOARD_TELEPHONY": "sip",
        "SWITCHBOARD_SIP_BIND_PORT": str(free_port()),
        "SWITCHBOARD_SIP_TRUNK_HOST": "127.0.0.1",
        "SWITCHBOARD_SIP_TRUNK_PORT": str(trunk.port),
        # The engine's capacity is measured, not the per-account rate limit.
        "SWITCHBOARD_RATE_LIMIT_PER_SECOND": "0",
        "SWITCHBOARD_RATE_LIMIT_BURST": "0",
    }
    log = (workdir / "server.log").open("ab")
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard",
        "serve",
        "--port",
        "0",
        "--demo",
        "--database",
        db,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
        env=env,
    )
    try:
        assert server.stdout is not None
        base = (await server.stdout.readline()).decode().strip().removeprefix("Listening on ")
        lines: dict[str, str] = {}
        while "Try" not in lines:
            label, _, value = (await server.stdout.readline()).decode().strip().partition(": ")
            lines[label] = value
        await provision(db, calls, agent.port)
        headers = {"Authorization": f"Bearer {lines['Bearer token']}"}
        cpu_before = cpu_of(server.pid)
        post_latency: list[float] = []
        statuses: dict[int, int] = {}
        async with httpx.AsyncClient(
            base_url=base, headers=headers, timeout=30, limits=httpx.Limits(max_connections=100)
        ) as client:

            async def place(i: int) -> None:
                body = {
                    "from": {"agentId": str(100000 + i)},
                    "to": {"telephoneNumber": "02072068888"},
                }
                t0 = time.perf_counter()
                response = await client.post(f"/v0/{KEY}/calls/", json=body)
                post_latency.append(time.perf_counter() - t0)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

            first = time.perf_counter()
            tasks = []
            for i in range(calls):
                delay = first + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.ensure_future(place(i)))
            await asyncio.gather(*tasks)
            post_window = time.perf_counter() - first
        give_up = time.monotonic() + 60
        # Polling another process's database: there is no event to wait on.
        while await count_connected(db) < statuses.get(201, 0) and time.monotonic() < give_up:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        cpu_used = cpu_of(server.pid) - cpu_before
        times = await connected_times(db)
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 60)
        log.close()
        await agent.wait(limit)
        await trunk.wait(limit)
    setups = sorted(done - placed for placed, done in times) or [0.0]
    window = (max(d for _, d in times) - min(p for p, _ in times)) if times else 1.0
    return {
        "posts_201": statuses.get(201, 0),
        "other_statuses": sum(n for s, n in statuses.items() if s != 201),
        "posts_per_s": statuses.get(201, 0) / post_window,
        "post_p50_ms": 1000 * statistics.median(post_latency),
        "post_p95_ms": 1000 * statistics.quantiles(post_latency, n=20)[18],
        "connected": len(times),
        "setups_per_s": len(times) / window,
        "setup_p50_ms": 1000 * statistics.median(setups),
        "setup_p95_ms": 1000 * setups[int(0.95 * (len(setups) - 1))],
        "server_cpu_s_per_1000": cpu_used / calls * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    if not sipp_available():
        print("sipp is not installed (Debian sip-tester)")
        return 2
    print(
        f"calls={args.calls} rate={args.rate}/s runs={args.runs} "
        f"database={args.database} cpus={os.cpu_count()}"
    )
    results = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            if args.database == "sqlite":
                figures = asyncio.run(
                    one_run(args.calls, args.rate, f"sqlite:///{tmp}/bench.db", Path(tmp))
                )
            else:
                server = os.environ.get("SWITCHBOARD_TEST_POSTGRES_URL")
                if not server:
                    print("postgresql: set SWITCHBOARD_TEST_POSTGRES_URL")
                    return 2
                database = PostgresDatabase(server)
                url = asyncio.run(database.create())
                try:
                    figures = asyncio.run(one_run(args.calls, args.rate, url, Path(tmp)))
                finally:
                    asyncio.run(database.drop())
        results.append(figures)
        print(f"run {run + 1}: " + ", ".join(f"{k}={v:.1f}" for k, v in figures.items()))
    medians = {k: statistics.median(r[k] for r in results) for k in results[0]}
    print("MEDIAN: " + ", ".join(f"{k}={v:.1f}" for k, v in medians.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
