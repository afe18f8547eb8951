"""Placing calls through the real server: throughput and latency of POST /calls/ and GET.

Starts `switchboard serve` on a fresh database (SQLite, and PostgreSQL when
SWITCHBOARD_TEST_POSTGRES_URL names a server), provisions agents, then for each of --runs
runs: places --calls calls with --concurrency requests in flight (each agent once), and reads
each call back. Prints per-run figures and the medians. Loopback only; bounded; stops itself.

    python bench/api_calls.py --calls 500 --concurrency 20 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

KEY = "a1b2c3d4e5"


async def provision(db: str, agents: int) -> None:
    from switchboard.bootstrap import build
    from switchboard.config import load_settings
    from switchboard.service import provisioning
    from switchboard.service.provisioning import AgentOptions

    runtime = await build(load_settings(database_url=db), open_engine=False)
    try:
        ids = [str(100000 + i) for i in range(agents)]
        for agent_id in ids:
            await provisioning.add_agent(
                runtime.ctx, KEY, agent_id, AgentOptions(phone="sim:noanswer")
            )
        await provisioning.add_group(runtime.ctx, KEY, "bench", ids)
    finally:
        await runtime.close()


def start_server(db: str) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "switchboard", "serve", "--port", "0", "--demo", "--database", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        # The benchmark measures the server's capacity, not the per-account rate limit.
        env={
            **os.environ,
            "SWITCHBOARD_RATE_LIMIT_PER_SECOND": "0",
            "SWITCHBOARD_RATE_LIMIT_BURST": "0",
        },
    )
    assert proc.stdout is not None
    base = proc.stdout.readline().strip().removeprefix("Listening on ")
    lines = {}
    while "Try" not in lines:
        label, _, value = proc.stdout.readline().strip().partition(": ")
        lines[label] = value
    return proc, base, lines["Bearer token"]


async def one_run(base: str, token: str, calls: int, concurrency: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; version=6"}
    body = {"from": {"groups": ["bench"]}, "to": {"telephoneNumber": "02072068888"}}
    limits = httpx.Limits(max_connections=concurrency)
    post_lat: list[float] = []
    get_lat: list[float] = []
    ids: list[str] = []
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=60
    ) as client:

        async def post() -> None:
            async with gate:
                t0 = time.perf_counter()
                r = await client.post(f"/v0/{KEY}/calls/", json=body)
                post_lat.append(time.perf_counter() - t0)
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])

        async def get(call_id: str) -> None:
            async with gate:
                t0 = time.perf_counter()
                r = await client.get(f"/v0/{KEY}/calls/{call_id}")
                get_lat.append(time.perf_counter() - t0)
                assert r.status_code == 200

        t0 = time.perf_counter()
        await asyncio.gather(*(post() for _ in range(calls)))
        post_wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        await asyncio.gather(*(get(i) for i in ids))
        get_wall = time.perf_counter() - t0
        for call_id in ids:  # free the agents for the next run
            await client.post(f"/v0/{KEY}/calls/{call_id}", json={"recordingStatus": "Paused"})
    return {
        "post_per_s": calls / post_wall,
        "post_p50_ms": statistics.median(post_lat) * 1000,
        "post_p95_ms": statistics.quantiles(post_lat, n=20)[18] * 1000,
        "get_per_s": calls / get_wall,
        "get_p50_ms": statistics.median(get_lat) * 1000,
    }


def end_calls(db: str) -> None:
    async def main() -> None:
        from switchboard.bootstrap import build
        from switchboard.config import load_settings
        from switchboard.domain.calls import CallResult, Party, Reason
        from switchboard.service import calls
        from switchboard.service.progress import CallProgress

        runtime = await build(load_settings(database_url=db), open_engine=False)
        try:
            progress = CallProgress(runtime.ctx)
            for call in await calls.list_calls(runtime.ctx, KEY):
                if call.is_active:
                    await progress.ended(
                        call.id, CallResult.failure(Party.ORIGINATOR, Reason.NORMAL)
                    )
        finally:
            await runtime.close()

    asyncio.run(main())


def bench(label: str, db: str, args: argparse.Namespace) -> None:
    proc, base, token = start_server(db)
    try:
        asyncio.run(provision(db, args.calls))
        results = []
        for run in range(args.runs):
            figures = asyncio.run(one_run(base, token, args.calls, args.concurrency))
            end_calls(db)
            results.append(figures)
            print(
                f"{label} run {run + 1}: " + ", ".join(f"{k}={v:.1f}" for k, v in figures.items())
            )
        medians = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print(f"{label} MEDIAN: " + ", ".join(f"{k}={v:.1f}" for k, v in medians.items()))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(
        f"calls={args.calls} concurrency={args.concurrency} runs={args.runs} cpus={os.cpu_count()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        bench("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", args)
    server = os.environ.get("SWITCHBOARD_TEST_POSTGRES_URL")
    if server:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.support.harness import PostgresDatabase

        database = PostgresDatabase(server)
        url = asyncio.run(database.create())
        try:
            bench("postgresql", url, args)
        finally:
            asyncio.run(database.drop())
    else:
        print("postgresql: skipped (SWITCHBOARD_TEST_POSTGRES_URL not set)")


if __name__ == "__main__":
    main()
