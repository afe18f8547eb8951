"""Load benchmark of the SIP engine against SIPp peers on loopback.

    python bench/sip_load.py --calls 1000 --rate 200 [--runs 3] [--transport udp|tcp] [--flow I|IV]
                             [--proxy none|kamailio] [--tracemalloc]

Each run starts two SIPp UAS peers that answer at volume (the agent's phone and the trunk, by
RFC 3725 flow I, or flow IV: held first offer, ACK, trunk INVITE without SDP, re-INVITE of the
agent with the trunk's offer; ``-m`` = calls, no ring time, both hold every call until our
BYE), and drives a
fresh ``SipEngine`` in a fresh process with a signal sink instead of the service. Calls are
started at ``--rate`` per second; a call is set up when ``destination_answered`` arrives. All
calls are held until every one is set up (so the number held at once is the concurrency
figure), then hung up at the same rate. With ``--proxy kamailio`` a kamailio process
(``tests/support/kamailio.py``: record-routing, no database) stands between the engine and the
trunk: every INVITE goes to it as the outbound proxy, and the trunk copies its Record-Route, so
the ACKs and BYEs to the trunk go through it too.

Reported per run, and as the median over the runs:
- set-ups/s: completed set-ups divided by the time from the first start to the last set-up;
- set-up latency (start to destination_answered), median and 95th percentile;
- the most established calls held at once;
- CPU seconds (user + system, this process only; SIPp's is not counted) per 1000 calls,
  covering set-up and hang-up;
- peak RSS (VmHWM) of the engine's process, and its growth over the baseline per 1000 calls;
- memory held by the established calls, per 1000: RSS (VmRSS) and the interpreter's allocated
  blocks (``sys.getallocatedblocks``; with ``--tracemalloc``, traced bytes too, which slows the
  run), each after a full collection, against the same taken before the first call;
- after the last call ended: how long until every map of the engine (calls, signal chains,
  client and server transactions, accepted 2xx, dialog usages) is empty again (transactions
  linger up to 64*T1 by RFC 3261), those maps, and RSS and allocated blocks then against the
  baseline. A run whose maps do not empty fails.

Loopback only (127.0.0.1), bounded: every wait has a limit and the script stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.sip.sip_harness import RECEIVE_BYE, SCENARIOS  # noqa: E402
from tests.support.kamailio import KamailioProxy, kamailio_available  # noqa: E402
from tests.support.sipp import SippPeer, sipp_available  # noqa: E402

from switchboard.adapters.telephony.sip import SipConfig, SipEngine  # noqa: E402
from switchboard.domain.calls import CallResult, Party  # noqa: E402
from switchboard.service.ports import CallSetup, StartOutcome  # noqa: E402


class Sink:
    """Counts signals; stands in for the service."""

    def __init__(self) -> None:
        self.started_at: dict[str, float] = {}
        self.setup_latency: list[float] = []
        self.last_setup = 0.0
        self.connected = 0
        self.finished = 0
        self.held = 0
        self.max_held = 0
        self.last_end = 0.0
        self.failures: dict[str, int] = {}
        self.changed = asyncio.Event()

    async def schedule(self, call_id: str, due_at: datetime, tag: str) -> None:
        return None

    async def agent_answered(self, call_id: str) -> None:
        return None

    async def destination_answered(self, call_id: str) -> None:
        at = time.perf_counter()
        self.setup_latency.append(at - self.started_at[call_id])
        self.last_setup = at
        self.connected += 1
        self.held += 1
        self.max_held = max(self.max_held, self.held)
        self.changed.set()

    async def ended(self, call_id: str, result: CallResult) -> None:
        self.finished += 1
        self.last_end = time.perf_counter()
        if result.code == "Success":
            self.held -= 1
        else:
            key = f"{result.party.value}/{result.reason.value}"
            self.failures[key] = self.failures.get(key, 0) + 1
        self.changed.set()

    async def wait(self, predicate: Callable[[], bool], limit_s: float) -> bool:
        deadline = time.monotonic() + limit_s
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
            except TimeoutError:
                pass
        return True


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def memory() -> dict[str, int]:
    """RSS and the interpreter's allocations, after a full collection."""
    gc.collect()
    found = {"rss_kib": vm_kib("VmRSS"), "blocks": sys.getallocatedblocks()}
    if tracemalloc.is_tracing():
        found["traced_bytes"] = tracemalloc.get_traced_memory()[0]
    return found


def per_1000(before: dict[str, int], after: dict[str, int], calls: int) -> dict[str, float]:
    scale = 1000 / calls
    found = {
        "rss_mib_per_1000_held": round((after["rss_kib"] - before["rss_kib"]) / 1024 * scale, 1),
        "blocks_per_1000_held": round((after["blocks"] - before["blocks"]) * scale),
    }
    if "traced_bytes" in after:
        found["traced_mib_per_1000_held"] = round(
            (after["traced_bytes"] - before["traced_bytes"]) / 2**20 * scale, 1
        )
    return found


def against(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    """After the calls against before them: RSS as a ratio, blocks as a change in %."""
    found = {
        "rss_after_vs_baseline": round(after["rss_kib"] / before["rss_kib"], 2),
        "blocks_after_vs_baseline_pct": round(
            100 * (after["blocks"] - before["blocks"]) / before["blocks"], 1
        ),
    }
    if "traced_bytes" in after:
        # Tracing starts just before the engine opens, so its baseline is tiny: a difference.
        found["traced_after_minus_baseline_kib"] = round(
            (after["traced_bytes"] - before["traced_bytes"]) / 1024, 1
        )
    return found


async def drained(engine: SipEngine, limit_s: float) -> tuple[bool, dict[str, int]]:
    """Wait until every map of the engine is empty; whether it was, and the maps last seen."""
    deadline = time.monotonic() + limit_s
    while True:
        sizes = engine.sizes()
        if not any(sizes.values()) or time.monotonic() >= deadline:
            return not any(sizes.values()), sizes
        await asyncio.sleep(0.25)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def paced(count: int, rate: float, action: Callable[[int], Awaitable[None]]) -> None:
    """Call ``action(i)`` for i in range(count) at ``rate`` per second, without drift."""
    begin = time.perf_counter()
    tasks = []
    for index in range(count):
        due = begin + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(action(index)))
    await asyncio.gather(*tasks)


async def one_run(
    calls: int, rate: float, transport: str, flow: str, proxy_name: str, workdir: Path
) -> dict[str, object]:
    logging.basicConfig(level=logging.WARNING)
    flow_i = flow == "I"
    proxy = KamailioProxy(workdir, shm_mb=64) if proxy_name == "kamailio" else None
    try:
        return await _measured(calls, rate, transport, flow_i, proxy, workdir)
    finally:
        if proxy is not None:
            await proxy.stop()


async def _measured(
    calls: int,
    rate: float,
    transport: str,
    flow_i: bool,
    proxy: KamailioProxy | None,
    workdir: Path,
) -> dict[str, object]:
    flow = "I" if flow_i else "IV"
    agent = SippPeer(
        SCENARIOS / ("agent_flow1.xml" if flow_i else "agent_flow4.xml"),
        workdir,
        transport=transport,
        values={"ACK_RE": "o=trunk", "HANGUP": RECEIVE_BYE},
        calls=calls,
        timeout_s=calls / rate * 3 + 120,
        trace=False,
    )
    trunk = SippPeer(
        SCENARIOS / ("trunk_flow1.xml" if flow_i else "trunk_flow4.xml"),
        workdir,
        transport=transport,
        values={"OFFER_RE": "o=agent", "FROM_RE": ".*", "ORIGIN": "trunk", "HANGUP": RECEIVE_BYE},
        calls=calls,
        timeout_s=calls / rate * 3 + 120,
        trace=False,
    )
    await agent.start()
    await trunk.start()
    if proxy is not None:
        await proxy.start()
    sink = Sink()
    config = SipConfig(
        bind_host="127.0.0.1",
        bind_port=0,
        trunk_host="127.0.0.1",
        trunk_port=trunk.port,
        trunk_transport=transport,
        trunk_proxy=proxy.uri(transport) if proxy is not None else None,
        # Flow I only for a number listed as answering at once; flow IV for the rest.
        flow_i_numbers=("+441632960123",),
    )
    engine = SipEngine(config, lambda: datetime.now(UTC))
    engine.bind(sink)
    await engine.open()
    baseline = memory()
    baseline_kib = vm_kib("VmRSS")
    cpu_before = cpu_seconds()
    setups = [
        CallSetup(
            call_id=f"bench-{i}",
            agent_phone=agent.uri(),
            destination_e164="+441632960123" if flow_i else "+441632960124",
            destination_phone=None,
            presented_clid_e164="+441632960001",
            agent_timeout_s=30.0,
            destination_timeout_s=20.0,
        )
        for i in range(calls)
    ]
    outcomes: dict[str, int] = {}
    first_start = time.perf_counter()

    async def start(index: int) -> None:
        setup = setups[index]
        sink.started_at[setup.call_id] = time.perf_counter()
        outcome = await engine.start(setup)
        outcomes[outcome.value] = outcomes.get(outcome.value, 0) + 1
        if outcome is not StartOutcome.RINGING:
            sink.finished += 1

    await paced(calls, rate, start)
    await sink.wait(lambda: sink.connected + sink.finished >= calls, 60.0)
    setup_window = max(sink.last_setup - first_start, 1e-9)
    held_at_peak = sink.held
    # The collection and counting below are the benchmark's, not the engine's: not charged.
    pause_cpu = cpu_seconds()
    held = memory()
    pause_cpu = cpu_seconds() - pause_cpu

    async def hang_up(index: int) -> None:
        await engine.hangup(setups[index], Party.ORIGINATOR)

    await paced(calls, rate * 2, hang_up)
    await sink.wait(lambda: sink.finished >= calls, 60.0)
    cpu_used = cpu_seconds() - cpu_before - pause_cpu
    peak_kib = vm_kib("VmHWM")
    latencies = sorted(sink.setup_latency) or [0.0]
    p50, p95 = statistics.median(latencies), latencies[int(0.95 * (len(latencies) - 1))]
    # The benchmark's own per-call records go before memory is compared with the baseline.
    del latencies
    setups.clear()
    sink.started_at.clear()
    sink.setup_latency.clear()
    # RFC 3261 keeps a transaction up to 64*T1 after its last message (Timers K, J, M), and a
    # dialog answers retransmissions 64*T1 after it ended; a BYE nobody answers first waits
    # 64*T1 itself (Timer F): 2 * 64*T1 at most.
    empty, sizes = await drained(engine, 2 * 64 * config.t1_ms / 1000 + 30)
    empty_after_s = time.perf_counter() - sink.last_end
    after = memory()
    await engine.close()
    agent_status, trunk_status = await agent.wait(60), await trunk.wait(60)
    relayed = (
        {method: proxy.relayed(method) for method in ("INVITE", "ACK", "BYE")}
        if proxy is not None
        else None
    )
    return {
        "calls": calls,
        "rate": rate,
        "transport": transport,
        "flow": flow,
        "proxy": "kamailio" if proxy is not None else None,
        "proxy_relayed": relayed,
        "start_outcomes": outcomes,
        "set_up": sink.connected,
        "failures": sink.failures,
        "setups_per_s": round(sink.connected / setup_window, 1),
        "setup_latency_ms_p50": round(1000 * p50, 1),
        "setup_latency_ms_p95": round(1000 * p95, 1),
        "max_held": max(sink.max_held, held_at_peak),
        "cpu_s_per_1000_calls": round(cpu_used / calls * 1000, 2),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "rss_growth_mib_per_1000_calls": round((peak_kib - baseline_kib) / 1024 / calls * 1000, 1),
        "baseline": baseline,
        **per_1000(baseline, held, calls),
        "maps_empty": empty,
        "maps_after": sizes,
        "maps_empty_after_last_end_s": round(empty_after_s, 1),
        "after": after,
        **against(baseline, after),
        "sipp_exit": [agent_status, trunk_status],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    parser.add_argument("--flow", choices=("I", "IV"), default="I")
    parser.add_argument("--proxy", choices=("none", "kamailio"), default="none")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not sipp_available():
        print("sipp not found: install the Debian package sip-tester", file=sys.stderr)
        return 2
    if args.proxy == "kamailio" and not kamailio_available():
        print("kamailio not found: install the Debian package kamailio", file=sys.stderr)
        return 2
    if args.calls < 1 or args.rate <= 0 or not 1 <= args.runs <= 20:
        parser.error("calls >= 1, rate > 0 and 1 <= runs <= 20")
    if args.one_run:
        if args.tracemalloc:
            tracemalloc.start()
        with tempfile.TemporaryDirectory(prefix="sip-load-") as workdir:
            result = asyncio.run(
                one_run(args.calls, args.rate, args.transport, args.flow, args.proxy, Path(workdir))
            )
        print(json.dumps(result))
        return 0
    results = []
    for run in range(args.runs):
        # A fresh process per run: the peak RSS is a high-water mark of the process.
        completed = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one-run",
                "--calls",
                str(args.calls),
                "--rate",
                str(args.rate),
                "--transport",
                args.transport,
                "--flow",
                args.flow,
                "--proxy",
                args.proxy,
                *(["--tracemalloc"] if args.tracemalloc else []),
            ],
            capture_output=True,
            text=True,
            timeout=args.calls / args.rate * 4 + 400,
            check=False,
        )
        if completed.returncode != 0:
            print(completed.stdout, completed.stderr, file=sys.stderr)
            return 1
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        results.append(result)
        print(f"run {run + 1}: {json.dumps(result)}")
    keys = [
        "setups_per_s",
        "setup_latency_ms_p50",
        "setup_latency_ms_p95",
        "max_held",
        "cpu_s_per_1000_calls",
        "peak_rss_mib",
        "rss_growth_mib_per_1000_calls",
        "rss_mib_per_1000_held",
        "blocks_per_1000_held",
        "traced_mib_per_1000_held",
        "maps_empty_after_last_end_s",
        "rss_after_vs_baseline",
        "blocks_after_vs_baseline_pct",
        "traced_after_minus_baseline_kib",
    ]
    via = " via kamailio" if args.proxy == "kamailio" else ""
    print(
        f"median of {len(results)} runs ({args.calls} calls at {args.rate:g}/s, flow "
        f"{args.flow}, over {args.transport}{via}):"
    )
    for key in keys:
        if key in results[0]:
            print(f"  {key:32} {statistics.median(float(r[key]) for r in results):g}")
    failed = sum(int(r["calls"]) - int(r["set_up"]) for r in results)
    leaked = sum(1 for r in results if not r["maps_empty"])
    print(f"  {'calls not set up (all runs)':32} {failed}")
    print(f"  {'runs whose maps did not empty':32} {leaked}")
    return 0 if failed == 0 and leaked == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
