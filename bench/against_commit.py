"""The hot path of this tree against an earlier commit's, in one run, on the same machine.

Checks the earlier commit out into a temporary git worktree, and for each tree (the earlier
one first) provisions a fresh SQLite database with that tree's own code, starts its
`switchboard serve`, and measures with `wrk` and `hey`: closed-loop POST (each request from an
agent of its own), GET of a call, and group calls one at a time to groups of 100 and 4,000
agents (their latency and the server's CPU per call). Loopback only, bounded in time.

    python bench/against_commit.py 73dc075 --seconds 5
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hot_path as hp

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
import asyncio, json, os, sys
from pathlib import Path
sys.path.insert(0, {bench!r})
import against_commit as ac
print(json.dumps(asyncio.run(ac.measure({seconds}))))
"""


async def measure(seconds: int) -> dict[str, float]:
    """Run in a process whose ``switchboard`` is the tree under test (``PYTHONPATH``)."""
    hp.BIG, hp.RING = 4000, 0  # the group calls need no more; provisioning stays short
    from switchboard.config import Settings

    if "rate_limit_per_second" in Settings.model_fields:
        # A tree with per-account rate limits: set far above the load (its default, 100/s,
        # would refuse most of the closed loop); an older tree refuses the unknown setting.
        hp.RATE_LIMIT.update(hp.FAR_ABOVE_ANY_LOAD)
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/b.db"
        # More agents than the closed loop can use up (one call each): past them its POSTs
        # fail and the figures mean nothing (about 3,000 a second on this machine).
        solo = seconds * 6000
        api_token = await hp.provision(db, solo)
        server = hp.start_server(
            [sys.executable, "-m", "switchboard", "serve", "--port", "0"], hp.server_env(db)
        )
        try:
            token = await hp.bearer(server.base, api_token)
            headers = [
                f"Authorization: Bearer {token}",
                "Content-Type: application/json; version=6",
            ]
            url = f"{server.base}/v0/{hp.KEY}/calls/"
            # The call the GETs read, placed first, from the last agent: placed after the
            # closed loop, its agent could already be busy (a 400 with no id).
            async with httpx.AsyncClient() as client:
                body = hp.CALL_BODY % str(hp.SOLO_BASE + solo - 1)
                created = await client.post(
                    url, content=body, headers=dict(h.split(": ", 1) for h in headers)
                )
            if created.status_code != 201:
                raise RuntimeError(
                    f"placing the call to read: {created.status_code} {created.text}"
                )
            call_url = url + created.json()["id"]
            script = Path(tmp) / "post.lua"
            script.write_text(hp.WRK_POST)
            post = hp.parse_wrk(hp.wrk(url, seconds, headers, script, ["2", str(hp.SOLO_BASE)]))
            get = hp.parse_wrk(hp.wrk(call_url, seconds, headers[:1], None, []))
            figures = {
                "post_rate": post["rate"],
                "post_p50": post["p50"],
                "post_non2xx": post["non2xx"],
                "get_rate": get["rate"],
                "get_p50": get["p50"],
            }
            for group in ("small", "big"):
                cpu0 = hp.cpu_seconds(server.pid)
                one = hp.parse_hey(
                    hp.hey(url, headers, hp.GROUP_BODY % group, "-n", "90", "-c", "1")
                )
                figures[f"{group}_p50"] = one["p50"]
                figures[f"{group}_cpu_ms"] = (hp.cpu_seconds(server.pid) - cpu0) * 1000 / 90
            return figures
        finally:
            server.stop()


def run_tree(src: Path, seconds: int) -> dict[str, float]:
    code = SCRIPT.format(bench=str(ROOT / "bench"), seconds=seconds)
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900
    )
    if done.returncode != 0:
        raise SystemExit(f"the run on {src} failed:\n{done.stderr[-3000:]}")
    import json

    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ref", help="the earlier commit")
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "earlier"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), args.ref],
            check=True,
        )
        try:
            earlier = run_tree(tree / "src", args.seconds)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True
            )
    now = run_tree(ROOT / "src", args.seconds)
    rows = [
        ("POST closed loop, own agent each (per s)", "post_rate", "{:,.0f}"),
        ("… p50 (ms)", "post_p50", "{:.1f}"),
        ("… answers not 2xx", "post_non2xx", "{:,.0f}"),
        ("GET (per s)", "get_rate", "{:,.0f}"),
        ("… p50 (ms)", "get_p50", "{:.1f}"),
        ("group call one at a time, 100 agents: p50 (ms)", "small_p50", "{:.1f}"),
        ("… 4,000 agents: p50 (ms)", "big_p50", "{:.1f}"),
        ("… server CPU per call, 100 agents (ms)", "small_cpu_ms", "{:.2f}"),
        ("… server CPU per call, 4,000 agents (ms)", "big_cpu_ms", "{:.2f}"),
    ]
    print(f"| SQLite, {args.seconds} s a load | {args.ref} | this tree |")
    print("| --- | --- | --- |")
    for title, key, fmt in rows:
        print(f"| {title} | {fmt.format(earlier[key])} | {fmt.format(now[key])} |")


if __name__ == "__main__":
    main()
