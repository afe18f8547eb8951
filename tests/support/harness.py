"""An in-process Switchboard for API and service tests: real SQLite storage, the simulator
engine, a clock the test moves, and an httpx client speaking ASGI to the real app."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from switchboard.bootstrap import Runtime, build
from switchboard.config import load_settings
from switchboard.demo import DEMO_KEY, prepare_demo
from switchboard.domain.agents import Agent, AgentState
from switchboard.service import agents, calls, provisioning, scheduler
from switchboard.service.provisioning import AccountOptions, AgentOptions
from tests.fakes import FakeClock

BASE = "http://127.0.0.1:8080"
JSON_V6 = "application/json; version=6"


@dataclass
class Harness:
    runtime: Runtime
    clock: FakeClock
    client: httpx.AsyncClient
    api_token: str

    @property
    def ctx(self) -> Any:
        return self.runtime.ctx

    async def bearer(self, key: str = DEMO_KEY) -> str:
        token, _ = await provisioning.issue_operator_token(self.ctx, key)
        return token

    async def headers(self, key: str = DEMO_KEY, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {await self.bearer(key)}",
            "Content-Type": JSON_V6,
            **extra,
        }

    async def place(self, body: Any, key: str = DEMO_KEY, **headers: str) -> httpx.Response:
        return await self.client.post(
            f"/v0/{key}/calls/", json=body, headers=await self.headers(key, **headers)
        )

    async def get_call(self, call_id: str, key: str = DEMO_KEY) -> dict[str, Any]:
        response = await self.client.get(
            f"/v0/{key}/calls/{call_id}", headers=await self.headers(key)
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def agent(self, agent_id: str, key: str = DEMO_KEY) -> Agent:
        for agent in await provisioning.list_agents(self.ctx, key):
            if agent.agent_id == agent_id:
                return agent
        raise AssertionError(f"no agent {agent_id}")

    async def state(self, agent_id: str, key: str = DEMO_KEY) -> str:
        return (await self.agent(agent_id, key)).state.label

    async def set_state(self, agent_id: str, state: AgentState, key: str = DEMO_KEY) -> None:
        await agents.set_agent_state(self.ctx, key, agent_id, state)

    async def advance(self, seconds: float, step: float = 0.05) -> None:
        """Move time forward in small steps, firing every deadline that comes due."""
        remaining = seconds
        while remaining > 1e-9:
            delta = min(step, remaining)
            self.clock.advance(delta)
            remaining -= delta
            while await scheduler.tick(self.ctx):
                pass

    async def create_account(self, key: str, **options: Any) -> str:
        return await provisioning.create_account(self.ctx, key, AccountOptions(**options))

    async def add_agent(self, key: str, agent_id: str, **options: Any) -> None:
        await provisioning.add_agent(self.ctx, key, agent_id, AgentOptions(**options))

    async def end(self, call_id: str, by: Any, key: str = DEMO_KEY) -> None:
        await calls.end_call(self.ctx, key, call_id, by, wait_s=0)

    async def token_request(
        self, data: dict[str, str] | None = None, basic: tuple[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        headers = kw.pop("headers", {})
        if basic is not None:
            raw = f"{basic[0]}:{basic[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        return await self.client.post("/v0/oauth2/token", data=data, headers=headers, **kw)


async def open_harness(tmp_path: Path, **settings: Any) -> Harness:
    clock = FakeClock()
    settings.setdefault("database_url", f"sqlite:///{tmp_path / 'switchboard.db'}")
    # PostgreSQL's default key file is ./switchboard.key: never the directory tests run from.
    if "secret_key" not in settings:
        settings.setdefault("secret_key_file", str(tmp_path / "switchboard.key"))
    settings.setdefault("recording_dir", str(tmp_path / "recordings"))
    # The clock stands still unless a test moves it, so a token bucket would never refill:
    # rate limits are off here unless a test asks for them (tests/api/test_rate_limits.py).
    settings.setdefault("rate_limit_per_second", 0)
    settings.setdefault("rate_limit_burst", 0)
    # The tests' webhook receivers listen on 127.0.0.1, which service refuses by default
    # (tests/api/test_webhook_receivers.py keeps the default).
    settings.setdefault("webhook_allow_networks", ["127.0.0.1/32"])
    config = load_settings(**settings)
    runtime = await build(config, clock=clock)
    lines = dict(await prepare_demo(runtime.ctx, BASE))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.app()), base_url=BASE)
    return Harness(runtime, clock, client, lines["API token"])


async def close_harness(harness: Harness) -> None:
    await harness.client.aclose()
    await harness.runtime.close()


POSTGRES_URL_VARIABLE = "SWITCHBOARD_TEST_POSTGRES_URL"


def postgres_url() -> str:
    """The test PostgreSQL server's URL, or a skip that says why there is none."""
    import os

    import pytest

    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set: no PostgreSQL to test against")
    return url


class PostgresDatabase:
    """A database of its own on the test server, for one test; dropped afterwards."""

    def __init__(self, server_url: str) -> None:
        import uuid

        from sqlalchemy.engine import make_url

        self.server_url = server_url
        self.name = f"switchboard_{uuid.uuid4().hex[:12]}"
        self.url = (
            make_url(server_url).set(database=self.name).render_as_string(hide_password=False)
        )

    async def _admin(self, statement: str) -> None:
        from sqlalchemy import text

        from switchboard.adapters.storage.engine import create_engine

        engine = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    async def create(self) -> str:
        await self._admin(f'CREATE DATABASE "{self.name}"')
        return self.url

    async def drop(self) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
