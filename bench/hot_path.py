"""The hot path, measured with real load generators against the real server.

For each database (SQLite; PostgreSQL too when SWITCHBOARD_TEST_POSTGRES_URL is set) it
provisions a fresh database (one account with wrap-up 0; 100,000 agents in group "big", 100 in
group "small", 100,000 in group "ring" whose phones never answer, and enough agents of their
own for the closed-loop runs), starts
`switchboard serve` (simulator, uvloop + httptools), and measures, --runs times, each time on
a fresh copy of the provisioned database with a fresh server (no run meets the calls and
timers of the one before):

- POST /calls/, closed loop: `wrk` with 32 connections for --seconds, each request from an
  agent of its own (a Lua script numbers them), phones that ring until the agent no-answer
  timeout (so the calls stay active: peak RSS per 1,000 active calls comes from this run);
- POST /calls/ alone at a fixed rate: 1,000 per second offered, group calls to "ring", with
  `hey -q 40 -c 25` and with `hey -q 10 -c 100` (hey's workers fire in step: the second is
  bursts of 100 requests every 100 ms);
- POST /calls/ at a fixed rate: `hey -q 40 -c 25` (1,000 requests per second offered) for
  --seconds, group calls to the 100,000-agent group, phones that answer after 200 ms, numbers
  that answer after 200 ms, 500 ms of talk: every call goes through its whole life while the
  load runs. Afterwards the timer lag of each deadline (agent answer, destination answer,
  hang-up) is read from the stored timestamps, and the server's CPU per whole call from
  /proc/PID/stat (all calls ended, agents back to Ready);
- group call cost: 90 calls one at a time (`hey -c 1`) to the 100-agent group, then to the
  100,000-agent group: median latency and server CPU per call;
- GET /calls/{id}: `wrk` with 32 connections;
- the same server stack with a bare Starlette endpoint (bench/bare_app.py), same run.

It prints the figures (medians of the runs) and, with --write, puts the tables into
docs/performance.md between the markers. Loopback only; every load is bounded in time.

    python bench/hot_path.py --runs 3 --seconds 10 --write
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

KEY = "bench"
BIG, SMALL = 100_000, 100
RING = 100_000  # phones that ring on: the fixed-rate POST run places this many calls at most
SOLO_BASE = 10_000_000  # agent ids of the closed-loop runs: each request its own agent
ROOT = Path(__file__).resolve().parent.parent
CALL_BODY = '{"from":{"agentId":"%s"},"to":{"telephoneNumber":"02072068888"}}'
GROUP_BODY = '{"from":{"groups":["%s"]},"to":{"telephoneNumber":"02072068888"}}'
CLK_TCK = os.sysconf("SC_CLK_TCK")

WRK_POST = """
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  stride = tonumber(args[1])
  first = tonumber(args[2]) + tid
  counter = 0
end
body = '{"from":{"agentId":"%d"},"to":{"telephoneNumber":"02072068888"}}'
request = function()
  local agent = first + counter * stride
  counter = counter + 1
  return wrk.format("POST", nil, nil, string.format(body, agent))
end
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def parse_wrk(out: str) -> dict[str, float]:
    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    if "Requests/sec" not in out:
        raise SystemExit(f"wrk failed:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rate": rate,
        "p50": p50,
        "p99": p99,
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "errors": 1.0 if errors else 0.0,
    }


def parse_hey(out: str) -> dict[str, float]:
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = float(re.search(r"50% in ([\d.]+) secs", out).group(1)) * 1000  # type: ignore[union-attr]
    found = re.search(r"99% in ([\d.]+) secs", out)  # absent from hey's report of few requests
    p99 = float(found.group(1)) * 1000 if found else float("nan")
    codes = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    return {"rate": rate, "p50": p50, "p99": p99, "201": float(codes.get("201", 0))}


@dataclass
class Server:
    proc: subprocess.Popen[str]
    base: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_server(argv: list[str], env: dict[str, str]) -> Server:
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("Listening on "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return Server(proc, line.removeprefix("Listening on "))


# The server's rate limit (``--rate-limit``): by default far above any load here, so the
# token bucket is paid for on every request and never refuses one.
FAR_ABOVE_ANY_LOAD = {
    "SWITCHBOARD_RATE_LIMIT_PER_SECOND": "1000000",
    "SWITCHBOARD_RATE_LIMIT_BURST": "2000000",
}
RATE_LIMIT: dict[str, str] = {}


def server_env(db: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(
        SWITCHBOARD_DATABASE_URL=db,
        SWITCHBOARD_SIMULATOR_ANSWER_MS="200",
        SWITCHBOARD_LOG_LEVEL="warning",
        **RATE_LIMIT,
    )
    return env


async def provision(db: str, solo: int) -> str:
    """The account, its agents and groups, in a few transactions; returns the API token."""
    from switchboard.bootstrap import build
    from switchboard.config import load_settings
    from switchboard.domain.agents import Agent
    from switchboard.service import provisioning
    from switchboard.service.provisioning import AccountOptions

    runtime = await build(load_settings(database_url=db), open_engine=False)
    try:
        ctx = runtime.ctx
        # Phones that never answer ring for the longest agent timeout (180 s): their calls stay
        # active through the runs, and their no-answer timers fall due after them.
        options = AccountOptions(wrapup_seconds=0, agent_timeout_s=180)
        token = await provisioning.create_account(ctx, KEY, options)
        lifecycle = "sim:answer?after=200&talk=500"
        batches = [
            ("big", [str(1_000_000 + i) for i in range(BIG)], lifecycle),
            ("small", [str(2_000_000 + i) for i in range(SMALL)], lifecycle),
            ("ring", [str(3_000_000 + i) for i in range(RING)], "sim:noanswer"),
            ("", [str(SOLO_BASE + i) for i in range(solo)], "sim:noanswer"),
        ]
        for group, ids, phone in batches:
            for start in range(0, len(ids), 20_000):
                async with ctx.uow() as uow:
                    for agent_id in ids[start : start + 20_000]:
                        await uow.agents.add(Agent(KEY, agent_id, phone=phone))
                    if group:
                        await uow.groups.add_members(KEY, group, ids[start : start + 20_000])
                    await uow.commit()
        return token
    finally:
        await runtime.close()


async def bearer(base: str, api_token: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        r = await client.post(
            "/v0/oauth2/token", data={"grant_type": "client_credentials"}, auth=(KEY, api_token)
        )
        r.raise_for_status()
        return str(r.json()["access_token"])


def wrk(url: str, seconds: int, headers: list[str], script: Path | None, args: list[str]) -> str:
    argv = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for header in headers:
        argv += ["-H", header]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    if args:
        argv += ["--", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout


def hey(url: str, headers: list[str], body: str, *args: str, timeout: int = 120) -> str:
    argv = ["hey", "-m", "POST", "-d", body, *args]
    for header in headers:
        argv += ["-H", header]
    argv.append(url)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout).stdout


async def stored_lag(db: str, since: float) -> tuple[list[float], int]:
    """Timer lag (ms) of each deadline of the group calls placed since ``since``."""
    from switchboard.adapters.storage import SqlUnitOfWorkFactory, open_database

    database = open_database(db)
    try:
        async with SqlUnitOfWorkFactory(database)(write=False) as uow:
            calls = await uow.calls.list(KEY, limit=1_000_000)
    finally:
        await database.close()
    lags, active = [], 0
    for call in calls:
        if call.created_at.timestamp() < since:
            continue
        if not 1_000_000 <= int(call.caller_agent_id) < 1_000_000 + BIG:
            continue
        if call.ended_at is None:
            active += 1
            continue
        if call.agent_answered_at and call.connected_at:
            lags.append((call.agent_answered_at - call.created_at).total_seconds() - 0.2)
            lags.append((call.connected_at - call.agent_answered_at).total_seconds() - 0.2)
            lags.append((call.ended_at - call.connected_at).total_seconds() - 0.5)
    return [lag * 1000 for lag in lags], active


@dataclass
class Figures:
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(value)

    def median(self, name: str) -> float:
        return statistics.median(self.values.get(name, [float("nan")]))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def bench_database(
    label: str,
    template: str,
    copy: Callable[[int], str],
    runs: int,
    seconds: int,
    post_only: bool = False,
) -> Figures:
    """Provision ``template`` once; each run gets a fresh copy of it (``copy(run)``) and a
    fresh server, so that no run meets the calls and timers of the one before."""
    # More agents than a closed loop can use up (one call each: past them its POSTs fail
    # fast and the rate means nothing); about 3,000 a second here.
    api_token = await provision(template, seconds * 6000)
    figures = Figures()
    for run in range(runs):
        db = copy(run)
        server = start_server(
            [sys.executable, "-m", "switchboard", "serve", "--port", "0"], server_env(db)
        )
        try:
            await one_run(label, run, db, server, api_token, seconds, figures, post_only)
        finally:
            server.stop()
    return figures


async def one_run(
    label: str,
    run: int,
    db: str,
    server: Server,
    api_token: str,
    seconds: int,
    figures: Figures,
    post_only: bool = False,
) -> None:
    token = await bearer(server.base, api_token)
    headers = [f"Authorization: Bearer {token}", "Content-Type: application/json; version=6"]
    calls_url = f"{server.base}/v0/{KEY}/calls/"
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_POST)
        next_solo = SOLO_BASE
        # Closed loop, each request from an agent of its own.
        rss0, cpu0 = rss_mib(server.pid), cpu_seconds(server.pid)
        out = wrk(calls_url, seconds, headers, script, ["2", str(next_solo)])
        post = parse_wrk(out)
        cpu1, rss1 = cpu_seconds(server.pid), rss_mib(server.pid)
        placed = post["rate"] * seconds
        next_solo += int(placed * 1.2) + 1000
        figures.add("post_rate", post["rate"])
        figures.add("post_p50", post["p50"])
        figures.add("post_p99", post["p99"])
        figures.add("post_non2xx", post["non2xx"])
        figures.add("post_cpu_ms", (cpu1 - cpu0) * 1000 / max(placed, 1))
        figures.add("rss_per_1000", (rss1 - rss0) * 1000 / max(placed, 1))
        print(f"{label} run {run + 1}: POST closed loop {post}", flush=True)
        if post_only:
            return

        # GET of a call, closed loop.
        async with httpx.AsyncClient(base_url=server.base) as client:
            body = CALL_BODY % str(next_solo)
            next_solo += 1
            r = await client.post(
                calls_url, content=body, headers=dict(h.split(": ", 1) for h in headers)
            )
            call_id = r.json()["id"]
        get = parse_wrk(wrk(f"{calls_url}{call_id}", seconds, headers[:1], None, []))
        figures.add("get_rate", get["rate"])
        figures.add("get_p50", get["p50"])
        figures.add("get_p99", get["p99"])
        print(f"{label} run {run + 1}: GET {get}", flush=True)

        # Group calls one at a time: 100 against 100,000 agents.
        for group in ("small", "big"):
            cpu0 = cpu_seconds(server.pid)
            out = hey(calls_url, headers, GROUP_BODY % group, "-n", "90", "-c", "1")
            one = parse_hey(out)
            cpu = (cpu_seconds(server.pid) - cpu0) * 1000 / 90
            figures.add(f"group_{group}_p50", one["p50"])
            figures.add(f"group_{group}_cpu_ms", cpu)
            print(f"{label} run {run + 1}: group {group} {one} cpu/call {cpu:.2f} ms")

        # Fixed arrival rate, POST alone: 1,000 group calls per second that ring on (no
        # timer of theirs falls due during the run). hey's workers keep their rate in
        # step, so its load comes in bursts of one request per worker: 100 workers at
        # 10/s, then 25 at 40/s (bursts of 100 every 100 ms, of 25 every 25 ms).
        for name, per_worker, workers in (("ring100", "10", "100"), ("ring", "40", "25")):
            out = hey(
                calls_url,
                headers,
                GROUP_BODY % "ring",
                "-z",
                f"{seconds}s",
                "-q",
                per_worker,
                "-c",
                workers,
                timeout=seconds + 60,
            )
            ring = parse_hey(out)
            figures.add(f"{name}_rate", ring["rate"])
            figures.add(f"{name}_p50", ring["p50"])
            figures.add(f"{name}_p99", ring["p99"])
            print(
                f"{label} run {run + 1}: 1000/s, POST alone, -c {workers}: {ring}",
                flush=True,
            )

        # Fixed arrival rate: 1,000 group calls per second, whole lifecycles.
        since = time.time()
        cpu0 = cpu_seconds(server.pid)
        out = hey(
            calls_url,
            headers,
            GROUP_BODY % "big",
            "-z",
            f"{seconds}s",
            "-q",
            "40",
            "-c",
            "25",
            timeout=seconds + 60,
        )
        fixed = parse_hey(out)
        await asyncio.sleep(2.5)  # the last calls' 900 ms of life, with margin
        cpu = cpu_seconds(server.pid) - cpu0
        lags, active = await stored_lag(db, since)
        figures.add("fixed_rate", fixed["rate"])
        figures.add("fixed_p50", fixed["p50"])
        figures.add("fixed_p99", fixed["p99"])
        figures.add("fixed_cpu_per_life_ms", cpu * 1000 / max(fixed["201"], 1))
        figures.add("lag_p50", percentile(lags, 0.5))
        figures.add("lag_p99", percentile(lags, 0.99))
        print(
            f"{label} run {run + 1}: fixed 1000/s {fixed}; whole life "
            f"{cpu * 1000 / max(fixed['201'], 1):.3f} CPU-ms; timer lag p50 "
            f"{percentile(lags, 0.5):.1f} ms p99 {percentile(lags, 0.99):.1f} ms over "
            f"{len(lags)} deadlines; still active {active}",
            flush=True,
        )


def bare_figures(runs: int, seconds: int) -> Figures:
    figures = Figures()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "bare_app.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    base = proc.stdout.readline().strip().removeprefix("Listening on ")
    try:
        for _ in range(runs):
            out = wrk(f"{base}/v0/x/calls/", seconds, ["Content-Type: application/json"], None, [])
            got = parse_wrk(out)
            figures.add("get_rate", got["rate"])
            figures.add("get_p50", got["p50"])
            print(f"bare endpoint: {got}", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)
    return figures


def table(results: dict[str, Figures], bare: Figures, runs: int, seconds: int) -> str:
    bare_rate = bare.median("get_rate")
    lines = [
        f"Medians of {runs} runs of {seconds} s each; bare Starlette endpoint on the same "
        f"server stack (uvicorn, uvloop, httptools), same run: **{bare_rate:,.0f} requests/s**.",
        "",
        "| measure | " + " | ".join(results) + " |",
        "| --- | " + " | ".join("---" for _ in results) + " |",
    ]
    rows = [
        ("POST /calls/ closed loop, 32 connections, own agent each (per s)", "post_rate", "{:,.0f}"),
        ("… p50 / p99 (ms)", ("post_p50", "post_p99"), "{:.1f} / {:.1f}"),
        ("… ratio to the bare endpoint", "post_ratio", "{:.2f}"),
        ("… server CPU per POST (ms)", "post_cpu_ms", "{:.3f}"),
        ("… RSS per 1,000 active calls (MiB)", "rss_per_1000", "{:.2f}"),
        ("POST alone at 1,000/s (`hey -q 40 -c 25`): achieved per s", "ring_rate", "{:,.0f}"),
        ("… p50 / p99 (ms)", ("ring_p50", "ring_p99"), "{:.1f} / {:.1f}"),
        ("… `hey -q 10 -c 100` (bursts of 100): p50 / p99 (ms)", ("ring100_p50", "ring100_p99"), "{:.1f} / {:.1f}"),
        ("POST at 1,000/s (`hey -q 40 -c 25`), whole lifecycles: achieved per s", "fixed_rate", "{:,.0f}"),
        ("… p50 / p99 (ms)", ("fixed_p50", "fixed_p99"), "{:.1f} / {:.1f}"),
        ("… server CPU per whole call life (ms)", "fixed_cpu_per_life_ms", "{:.3f}"),
        ("… timer lag p50 / p99 (ms), 3 deadlines a call", ("lag_p50", "lag_p99"), "{:.1f} / {:.1f}"),
        ("group call, one at a time, 100 agents: p50 (ms)", "group_small_p50", "{:.2f}"),
        ("… 100,000 agents: p50 (ms)", "group_big_p50", "{:.2f}"),
        ("… server CPU per call, 100 / 100,000 agents (ms)", ("group_small_cpu_ms", "group_big_cpu_ms"), "{:.3f} / {:.3f}"),
        ("GET /calls/{id}, 32 connections (per s)", "get_rate", "{:,.0f}"),
        ("… p50 / p99 (ms)", ("get_p50", "get_p99"), "{:.2f} / {:.2f}"),
        ("… ratio to the bare endpoint", "get_ratio", "{:.2f}"),
    ]  # fmt: skip
    for figures in results.values():
        figures.values["post_ratio"] = [figures.median("post_rate") / bare_rate]
        figures.values["get_ratio"] = [figures.median("get_rate") / bare_rate]
    for title, keys, fmt in rows:
        cells = []
        for figures in results.values():
            names = keys if isinstance(keys, tuple) else (keys,)
            cells.append(fmt.format(*(figures.median(n) for n in names)))
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fresh_postgres(url: str, name: str, template: str | None = None) -> str:
    """A new database ``name`` on the server of ``url`` (a copy of ``template`` if given)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = [
        "psql",
        "-h",
        parsed.host or "127.0.0.1",
        "-U",
        parsed.username or "postgres",
        "-d",
        parsed.database or "postgres",
        "-q",
        "-c",
    ]
    subprocess.run([*admin, f"DROP DATABASE IF EXISTS {name}"], check=True, capture_output=True)
    create = f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else "")
    subprocess.run([*admin, create], check=True, capture_output=True)
    return parsed.set(database=name).render_as_string(hide_password=False)


def _sqlite_copy(tmp: str, run: int) -> str:
    source = sqlite3.connect(f"{tmp}/template.db")
    target = sqlite3.connect(f"{tmp}/run{run}.db")
    with target:
        source.backup(target)
    source.close()
    target.close()
    return f"sqlite:///{tmp}/run{run}.db"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument(
        "--post-only", action="store_true", help="only POST /calls/ closed loop, SQLite"
    )
    parser.add_argument(
        "--rate-limit",
        default="1000000:2000000",
        help="PER_SECOND:BURST for the server (0:0 off; 'none': the server's own defaults)",
    )
    args = parser.parse_args()
    if args.rate_limit != "none":
        per_second, _, burst = args.rate_limit.partition(":")
        RATE_LIMIT.update(
            SWITCHBOARD_RATE_LIMIT_PER_SECOND=per_second, SWITCHBOARD_RATE_LIMIT_BURST=burst
        )
    if args.post_only:
        with tempfile.TemporaryDirectory() as tmp:
            figures = asyncio.run(
                bench_database(
                    "SQLite",
                    f"sqlite:///{tmp}/template.db",
                    lambda run: _sqlite_copy(tmp, run),
                    args.runs,
                    args.seconds,
                    post_only=True,
                )
            )
        print(
            f"POST closed loop, SQLite, medians of {args.runs}: "
            f"{figures.median('post_rate'):,.0f}/s, p50 {figures.median('post_p50'):.1f} ms, "
            f"p99 {figures.median('post_p99'):.1f} ms, "
            f"CPU {figures.median('post_cpu_ms'):.3f} ms/POST, "
            f"non-2xx {figures.median('post_non2xx'):.0f}"
        )
        return
    for tool in ("wrk", "hey"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (Debian package {tool})")
    bare = bare_figures(args.runs, args.seconds)
    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory() as tmp:

        def sqlite_copy(run: int) -> str:
            source = sqlite3.connect(f"{tmp}/template.db")
            target = sqlite3.connect(f"{tmp}/run{run}.db")
            with target:
                source.backup(target)
            source.close()
            target.close()
            return f"sqlite:///{tmp}/run{run}.db"

        results["SQLite"] = asyncio.run(
            bench_database(
                "SQLite", f"sqlite:///{tmp}/template.db", sqlite_copy, args.runs, args.seconds
            )
        )
    pg = os.environ.get("SWITCHBOARD_TEST_POSTGRES_URL")
    if pg and not args.sqlite_only:
        template = fresh_postgres(pg, "switchboard_bench")
        results["PostgreSQL"] = asyncio.run(
            bench_database(
                "PostgreSQL",
                template,
                lambda run: fresh_postgres(pg, f"switchboard_bench_{run}", "switchboard_bench"),
                args.runs,
                args.seconds,
            )
        )
    text = table(results, bare, args.runs, args.seconds)
    command = f"python bench/hot_path.py --runs {args.runs} --seconds {args.seconds}"
    print("\n" + text)
    if args.write:
        doc = ROOT / "docs" / "performance.md"
        body = doc.read_text()
        block = (
            f"<!-- hot_path:begin -->\n`{command}` on {time.strftime('%Y-%m-%d')}:\n\n"
            f"{text}\n<!-- hot_path:end -->"
        )
        body = re.sub(r"<!-- hot_path:begin -->.*<!-- hot_path:end -->", block, body, flags=re.S)
        doc.write_text(body)


if __name__ == "__main__":
    main()
