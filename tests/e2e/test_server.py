"""The real server process on a free port, driven over HTTP as a newcomer would."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.harness import PostgresDatabase, postgres_url

KEY = "a1b2c3d4e5"


class Server:
    def __init__(self, db: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.env = {**os.environ, **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "switchboard", "serve", "--port", "0", "--database", db, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        assert first.startswith(("Listening on http://127.0.0.1:", "Listening on https://")), (
            first,
            self.proc.stderr.read() if self.proc.poll() is not None else "",
        )
        self.base = first.removeprefix("Listening on ")
        self.lines: dict[str, str] = {}
        if "--demo" in args:
            while "Try" not in self.lines:
                label, _, value = self.proc.stdout.readline().strip().partition(": ")
                self.lines[label] = value

    def stop(self) -> int:
        """SIGTERM, as a service manager would; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, self.stderr = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()
        return self.proc.returncode


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'e2e.db'}"


@pytest.fixture
def demo(db: str) -> Iterator[Server]:
    server = Server(
        db,
        "--demo",
        env={"SWITCHBOARD_SIMULATOR_TALK_SECONDS": "1", "SWITCHBOARD_SIMULATOR_ANSWER_MS": "200"},
    )
    try:
        yield server
    finally:
        server.stop()


def cli(db: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "switchboard", *args, "--database", db],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_printed_curl_command_places_a_call_that_lives_and_ends(demo: Server, db: str) -> None:
    curl = demo.lines["Try"]
    assert curl.startswith("curl -X POST")
    done = subprocess.run(
        ["bash", "-c", curl + " -s -w '\\n%{http_code}'"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    body, _, status = done.stdout.rpartition("\n")
    assert status == "201", done.stdout
    call = json.loads(body)
    assert call["from"] == {"presentedClid": "01256636451", "agentId": "1234"}

    token = demo.lines["Bearer token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=demo.base, headers=headers) as client:
        deadline = time.monotonic() + 15
        seen = set()
        while time.monotonic() < deadline:
            got = client.get(f"/v0/{KEY}/calls/{call['id']}").json()
            seen.add((got["status"], got["recordingStatus"]))
            if got["result"] is not None:
                break
            time.sleep(0.05)
        assert got["result"] == {"code": "Success", "party": "Destination", "reason": "Normal"}
        assert {("Active", "Stopped"), ("Active", "Started")} <= seen
        agents = {
            json.loads(line)["id"]: json.loads(line)
            for line in cli(db, "agents", "list", KEY, "--json").splitlines()
        }
        assert agents["1234"]["state"] == "Wrapup"
        detail = client.get(f"/V0/{KEY}/Agents/1234").json()
        assert detail["currentCallGuid"] == call["id"]


def test_api_token_from_demo_gets_an_access_token(demo: Server) -> None:
    with httpx.Client(base_url=demo.base) as client:
        response = client.post(
            "/v0/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(KEY, demo.lines["API token"]),
        )
        assert response.status_code == 200
        assert response.json()["expires_in"] == 3600


def test_restart_keeps_the_account_and_ends_calls_left_in_progress(db: str) -> None:
    first = Server(db, "--demo")
    token = first.lines["Bearer token"]
    with httpx.Client(base_url=first.base, headers={"Authorization": f"Bearer {token}"}) as client:
        call = client.post(
            f"/v0/{KEY}/calls/",
            json={"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072060408"}},
        ).json()
    assert first.stop() == 0
    second = Server(db, "--demo")
    try:
        assert second.lines["API token"].startswith("unchanged")
        with httpx.Client(
            base_url=second.base, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            got = client.get(f"/v0/{KEY}/calls/{call['id']}").json()
        assert got["result"] == {"code": "Failure", "party": "Originator", "reason": "CallFailed"}
    finally:
        second.stop()


async def _add_group(db: str, group_id: str, agent_ids: list[str]) -> None:
    from switchboard.bootstrap import build
    from switchboard.config import load_settings
    from switchboard.service import provisioning
    from switchboard.service.provisioning import AgentOptions

    runtime = await build(load_settings(database_url=db), open_engine=False)
    try:
        for agent_id in agent_ids:
            await provisioning.add_agent(runtime.ctx, KEY, agent_id, AgentOptions())
        await provisioning.add_group(runtime.ctx, KEY, group_id, agent_ids)
    finally:
        await runtime.close()


@pytest.fixture(params=["sqlite", "postgres"])
def shared_db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"  # its key file goes beside it
        return
    # The processes on one PostgreSQL database share one key file: here, not the default
    # ./switchboard.key in whatever directory the tests run from.
    monkeypatch.setenv("SWITCHBOARD_SECRET_KEY_FILE", str(tmp_path / "switchboard.key"))
    database = PostgresDatabase(postgres_url())
    url = asyncio.run(database.create())
    try:
        yield url
    finally:
        asyncio.run(database.drop())


def test_two_server_processes_never_reserve_an_agent_twice(shared_db: str) -> None:
    db = shared_db
    first = Server(db, "--demo")
    second = Server(db)
    try:
        ids = [str(3000 + i) for i in range(10)]
        asyncio.run(_add_group(db, "ten", ids))
        headers = {"Authorization": f"Bearer {first.lines['Bearer token']}"}
        body = {"from": {"groups": ["ten"]}, "to": {"telephoneNumber": "02072068888"}}

        async def fire() -> list[httpx.Response]:
            async with httpx.AsyncClient(headers=headers, timeout=30) as client:
                return await asyncio.gather(
                    *(
                        client.post(f"{(first, second)[i % 2].base}/v0/{KEY}/calls/", json=body)
                        for i in range(50)
                    )
                )

        responses = asyncio.run(fire())
        assert Counter(r.status_code for r in responses) == {201: 10, 400: 40}
        assert {r.json()["message"] for r in responses if r.status_code == 400} == {
            "Unable to place call - Agent number busy"
        }
        assert sorted(r.json()["from"]["agentId"] for r in responses if r.status_code == 201) == ids
    finally:
        second.stop()
        first.stop()


def test_port_in_use_is_a_clear_error(demo: Server, db: str) -> None:
    port = demo.base.rsplit(":", 1)[1]
    done = subprocess.run(
        [sys.executable, "-m", "switchboard", "serve", "--port", port, "--database", db],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "error:" in done.stderr


def v0_call(client: httpx.Client, call_id: str) -> httpx.Response:
    """GET a call as a well-behaved VCC client does: a 429 (the account's rate limit, which
    polling a few hundred calls reaches) is waited out for its Retry-After and asked again."""
    while True:
        response = client.get(f"/v0/{KEY}/calls/{call_id}")
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers["Retry-After"]))


def test_every_acknowledged_call_survives_a_kill_during_a_burst(db: str) -> None:
    """Commits are batched (group commit), but a 201 only leaves once its batch is committed:
    SIGKILL in the middle of a burst loses no call that was acknowledged."""
    first = Server(db, "--demo")
    token = first.lines["Bearer token"]
    agents = [str(70000 + n) for n in range(400)]
    asyncio.run(_add_group(db, "burst", agents))
    acknowledged: list[str] = []

    async def burst() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        body = {"from": {"groups": ["burst"]}, "to": {"telephoneNumber": "02072068888"}}
        limits = httpx.Limits(max_connections=30)
        async with httpx.AsyncClient(
            base_url=first.base, headers=headers, limits=limits, timeout=10
        ) as client:

            async def place() -> None:
                try:
                    response = await client.post(f"/v0/{KEY}/calls/", json=body)
                except httpx.HTTPError:
                    return  # the server was killed under this request: not acknowledged
                if response.status_code == 201:
                    acknowledged.append(response.json()["id"])
                    if len(acknowledged) == 100:
                        first.proc.kill()

            await asyncio.gather(*(place() for _ in range(len(agents))))

    asyncio.run(burst())
    assert first.stop() == -9  # it was killed, not stopped
    assert 100 <= len(acknowledged) < len(agents)
    second = Server(db)
    try:
        with httpx.Client(base_url=second.base, headers={"Authorization": f"Bearer {token}"}) as c:
            found = Counter(v0_call(c, call_id).status_code for call_id in acknowledged)
        assert found == {200: len(acknowledged)}
    finally:
        second.stop()
