"""Webhooks on the hot path: placements per second with one subscription receiving every
event, beside none, and the delivery latency from commit to the receiver's 2xx.

Each run provisions a fresh SQLite database (one account, wrap-up 0, 20,000 agents in one
group whose phones answer after 200 ms and talk 500 ms), starts `switchboard serve`
(simulator) and a receiver in a process of its own (Starlette on uvicorn, verifying every
signature as a VCC receiver does, answering 204), then drives `wrk -c32` with group calls for
--seconds. With a subscription, the receiver notes when each event's 2xx goes out; the
latency is that minus the event's `time` (set by the use-case just before its commit, so it
slightly overstates). After the load it waits until the receiver has every event of the log.

    flock /work/wt/.bench.lock python bench/webhooks.py --runs 3 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from hot_path import hey, parse_hey, parse_wrk, percentile, start_server, wrk  # noqa: E402

KEY = "bench"
AGENTS = 20_000
SECRET = base64.b64encode(b"bench-signing-key-of-32-bytes!!!").decode()
WRK_GROUP = """
wrk.method = "POST"
wrk.body = '{"from":{"groups":["g"]},"to":{"telephoneNumber":"02072068888"}}'
"""


# --------------------------------------------------------------------------- the receiver


def receive(port: int, out: Path) -> None:
    """The receiver process: verify, note the time, answer 204; write what it saw on SIGTERM."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import Response
    from tests.support.webhook_receiver import verify

    seen: list[tuple[str, str, float]] = []
    rejected = 0

    async def app(scope: Any, receive_: Any, send: Any) -> None:
        nonlocal rejected
        request = Request(scope, receive_)
        if request.url.path == "/count":
            await Response(str(len(seen)))(scope, receive_, send)
            return
        body = await request.body()
        try:
            verify(SECRET, request.headers["vonage-signature"], body)
        except Exception:
            rejected += 1
            await Response(status_code=401)(scope, receive_, send)
            return
        event = json.loads(body)
        seen.append((event["id"], event["time"], time.time()))
        await Response(status_code=204)(scope, receive_, send)

    def dump(*_: object) -> None:
        out.write_text(json.dumps({"seen": seen, "rejected": rejected}))
        os._exit(0)

    signal.signal(signal.SIGTERM, dump)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- a run


async def provision(db: str) -> str:
    from switchboard.bootstrap import build
    from switchboard.config import load_settings
    from switchboard.domain.agents import Agent
    from switchboard.service import provisioning
    from switchboard.service.provisioning import AccountOptions

    runtime = await build(load_settings(database_url=db), open_engine=False)
    try:
        ctx = runtime.ctx
        token = await provisioning.create_account(ctx, KEY, AccountOptions(wrapup_seconds=0))
        ids = [str(100_000 + i) for i in range(AGENTS)]
        async with ctx.uow() as uow:
            for agent_id in ids:
                await uow.agents.add(Agent(KEY, agent_id, phone="sim:answer?after=200&talk=500"))
            await uow.groups.add_members(KEY, "g", ids)
            await uow.commit()
        return token
    finally:
        await runtime.close()


def one_run(with_subscription: bool, seconds: int, rate: int = 0) -> dict[str, float]:
    """Closed loop (``rate`` 0: wrk -c32), or ``rate`` placements a second (hey)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.db'}"
        api_token = asyncio.run(provision(db))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        env.update(
            SWITCHBOARD_DATABASE_URL=db,
            SWITCHBOARD_LOG_LEVEL="warning",
            # The load is one account's: its rate limit would measure itself.
            SWITCHBOARD_RATE_LIMIT_PER_SECOND="0",
            SWITCHBOARD_RATE_LIMIT_BURST="0",
            SWITCHBOARD_WEBHOOK_ALLOW_NETWORKS='["127.0.0.1/32"]',  # the receiver's address
        )
        server = start_server([sys.executable, "-m", "switchboard", "serve", "--port", "0"], env)
        port, out = free_port(), Path(tmp) / "received.json"
        receiver = subprocess.Popen(
            [sys.executable, __file__, "--receive", str(port), str(out)], cwd=ROOT
        )
        try:
            time.sleep(1.0)  # the receiver's start
            token = httpx.post(
                f"{server.base}/v0/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(KEY, api_token),
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            if with_subscription:
                r = httpx.post(
                    f"{server.base}/api/v1/accounts/{KEY}/webhooks",
                    json={"url": f"http://127.0.0.1:{port}/hooks", "secret": SECRET},
                    headers=auth,
                )
                r.raise_for_status()
            script = Path(tmp) / "group.lua"
            script.write_text(WRK_GROUP)
            headers = [f"Authorization: Bearer {token}", "Content-Type: application/json"]
            url = f"{server.base}/v0/{KEY}/calls/"
            loaded = time.monotonic()
            if rate:
                body = '{"from":{"groups":["g"]},"to":{"telephoneNumber":"02072068888"}}'
                figures = parse_hey(
                    hey(url, headers, body, "-q", str(rate // 4), "-c", "4", "-z", f"{seconds}s")
                )
                result = {"placements_s": figures["rate"], "post_p50_ms": figures["p50"]}
            else:
                figures = parse_wrk(wrk(url, seconds, headers, script, []))
                result = {
                    "placements_s": figures["rate"],
                    "post_p50_ms": figures["p50"],
                    "post_p99_ms": figures["p99"],
                    "non2xx": figures["non2xx"],
                }
            if with_subscription:
                result.update(drain(server.base, auth, port, receiver, out))
                result["delivered_s"] = result["events"] / (time.monotonic() - loaded)
            return result
        finally:
            if receiver.poll() is None:
                receiver.send_signal(signal.SIGTERM)
                receiver.wait(10)
            server.proc.send_signal(signal.SIGTERM)
            try:
                server.proc.wait(30)
            except subprocess.TimeoutExpired:
                server.proc.kill()


def drain(
    base: str, auth: dict[str, str], port: int, receiver: subprocess.Popen[bytes], out: Path
) -> dict[str, float]:
    """Wait (up to 120 s) until the receiver has as many events as the log; the latencies."""
    ids: set[str] = set()
    after = "0"
    time.sleep(3)  # the calls under way end (700 ms each) and commit their last events
    with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
        while True:
            page = client.get(
                f"/api/v1/accounts/{KEY}/events", params={"after": after, "limit": 1000}
            ).json()
            ids.update(e["id"] for e in page["events"])
            if page["next"] == after:
                break
            after = page["next"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if int(httpx.get(f"http://127.0.0.1:{port}/count").text) >= len(ids):
            break
        time.sleep(0.5)
    receiver.send_signal(signal.SIGTERM)
    receiver.wait(10)
    data = json.loads(out.read_text())
    got = {s[0] for s in data["seen"]}
    latencies = [
        seen_at - datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        for _, at, seen_at in data["seen"]
    ]
    return {
        "events": float(len(ids)),
        "missing": float(len(ids - got)),
        "rejected": float(data["rejected"]),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=20, help="the fixed rate's placements/s")
    parser.add_argument("--receive", nargs=2, metavar=("PORT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receive:
        receive(int(args.receive[0]), Path(args.receive[1]))
        return
    modes = {
        "closed loop (wrk -c32), no subscription": (False, 0),
        "closed loop (wrk -c32), one subscription": (True, 0),
        f"{args.rate} placements/s (hey), one subscription": (True, args.rate),
    }
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in modes}
    for n in range(args.runs):
        for label, (with_subscription, rate) in modes.items():  # interleaved: drift hits all
            found = one_run(with_subscription, args.seconds, rate)
            runs[label].append(found)
            print(f"run {n + 1}, {label}: {found}", flush=True)
    print(f"\nmedians of {args.runs} runs of {args.seconds} s, SQLite:")
    for label in modes:
        found = runs[label]
        keys = found[0].keys()
        medians = {k: statistics.median(r[k] for r in found) for k in keys}
        print(f"  {label}: " + ", ".join(f"{k} {v:.1f}" for k, v in medians.items()))


if __name__ == "__main__":
    main()
