"""Real ``switchboard serve`` processes as the nodes of one database, for the crash tests:
started, killed with SIGKILL, started again, and the storage read directly afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

KEY = "a1b2c3d4e5"
# Fast leases, so that a takeover is seconds away; the rules between them hold as in service.
LEASES = {
    "SWITCHBOARD_NODE_HEARTBEAT_SECONDS": "0.5",
    "SWITCHBOARD_NODE_TAKEOVER_SECONDS": "2",
    "SWITCHBOARD_DEADLINE_LEASE_SECONDS": "3",
    # A node paused inside a transaction loses it (and its locks) after 1 s: then the takeover.
    "SWITCHBOARD_DATABASE_IDLE_IN_TRANSACTION_SECONDS": "1",
}
TAKEOVER_S = 2.0
HEARTBEAT_S = 0.5
IDLE_IN_TRANSACTION_S = float(LEASES["SWITCHBOARD_DATABASE_IDLE_IN_TRANSACTION_SECONDS"])


class Node:
    """One serving process with a node id; its log is a file (a pipe nobody reads would
    block it)."""

    def __init__(
        self, db: str, node_id: str, log_dir: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.node_id = node_id
        self.log = log_dir / f"{node_id}.log"
        self._log_file = self.log.open("a")
        environment = {**os.environ, **LEASES, "SWITCHBOARD_NODE_ID": node_id, **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "switchboard", "serve", "--port", "0", "--database", db, *args],
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
            env=environment,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        assert first.startswith("Listening on http://"), (first, self.log.read_text())
        self.base = first.removeprefix("Listening on ")
        self.lines: dict[str, str] = {}
        if "--demo" in args:
            while "Try" not in self.lines:
                label, _, value = self.proc.stdout.readline().strip().partition(": ")
                self.lines[label] = value

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> int:
        """``kill -9``: no clean-up of any kind."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        return self._reap()

    def stop(self) -> int:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self._reap(15)
        except subprocess.TimeoutExpired:
            return self.kill()

    def _reap(self, timeout: float = 15) -> int:
        code = self.proc.wait(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log_file.close()
        return code


@contextlib.contextmanager
def nodes() -> Iterator[list[Node]]:
    """Every node a test starts, stopped at its end whatever happened."""
    started: list[Node] = []
    try:
        yield started
    finally:
        for node in started:
            if node.alive:
                node.kill()


async def _with_runtime(db: str, work: Any) -> Any:
    from switchboard.bootstrap import build
    from switchboard.config import load_settings

    runtime = await build(load_settings(database_url=db), open_engine=False)
    try:
        return await work(runtime.ctx)
    finally:
        await runtime.close()


def provision(db: str, log_dir: Path, group: str, agent_ids: list[str], phone: str) -> str:
    """The demo account (through one ``serve --demo``, stopped again), a group of agents on
    the given phone, a one-second wrap-up; returns a bearer token."""
    from switchboard.service import provisioning
    from switchboard.service.provisioning import AccountOptions, AgentOptions

    demo = Node(db, "provisioning", log_dir, "--demo")
    token = demo.lines["Bearer token"]
    assert demo.stop() == 0

    async def work(ctx: Any) -> None:
        await provisioning.update_account(ctx, KEY, AccountOptions(wrapup_seconds=1))
        await provisioning.update_agent(ctx, KEY, "1234", AgentOptions(phone=phone))
        for agent_id in agent_ids:
            await provisioning.add_agent(ctx, KEY, agent_id, AgentOptions(phone=phone))
        if agent_ids:
            await provisioning.add_group(ctx, KEY, group, agent_ids)

    asyncio.run(_with_runtime(db, work))
    return token


def stored_call(db: str, call_id: str) -> Any:
    async def work(ctx: Any) -> Any:
        async with ctx.uow(write=False) as uow:
            return await uow.calls.get(call_id)

    return asyncio.run(_with_runtime(db, work))


def stored_calls(db: str) -> list[Any]:
    async def work(ctx: Any) -> Any:
        async with ctx.uow(write=False) as uow:
            return await uow.calls.list(KEY, limit=100_000)

    return list(asyncio.run(_with_runtime(db, work)))


def stored_agents(db: str) -> dict[str, Any]:
    from switchboard.service import provisioning

    async def work(ctx: Any) -> Any:
        return {a.agent_id: a for a in await provisioning.list_agents(ctx, KEY)}

    return dict(asyncio.run(_with_runtime(db, work)))


def taken_over(db: str, node_id: str) -> str | None:
    async def work(ctx: Any) -> Any:
        async with ctx.uow(write=False) as uow:
            return await uow.nodes.taken_by(node_id)

    return asyncio.run(_with_runtime(db, work))  # type: ignore[no-any-return]


def stored_event_kinds(db: str, call_ids: list[str]) -> dict[str, list[str]]:
    """Each call's events, by class name, in order, from the outbox."""

    async def work(ctx: Any) -> Any:
        found = {}
        async with ctx.uow(write=False) as uow:
            for call_id in call_ids:
                logged = await uow.outbox.of_call(KEY, call_id)
                found[call_id] = [type(item.event).__name__ for item in logged]
        return found

    return dict(asyncio.run(_with_runtime(db, work)))
