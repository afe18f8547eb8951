"""Events against the real server process: SIGKILL in a burst loses no event and every call
still ends exactly once; the SSE stream resumes after Last-Event-ID, hears another process's
commits, keeps alive, and never holds a stopping server up."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.test_server import KEY, Server, _add_group, v0_call


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'e2e.db'}"


FAST = {"SWITCHBOARD_SIMULATOR_TALK_SECONDS": "1", "SWITCHBOARD_SIMULATOR_ANSWER_MS": "200"}
CALL = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}


def log_of(client: httpx.Client) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    cursor = "0"
    while True:
        page = client.get(f"/api/v1/accounts/{KEY}/events", params={"after": cursor}).json()
        if not page["events"]:
            return events
        events.extend(page["events"])
        cursor = page["next"]


def wait_until_ended(client: httpx.Client, call_ids: list[str], within: float) -> None:
    give_up = time.monotonic() + within
    waiting = set(call_ids)
    while waiting and time.monotonic() < give_up:
        for call_id in list(waiting):
            if v0_call(client, call_id).json()["result"] is not None:
                waiting.discard(call_id)
        time.sleep(0.2)
    assert not waiting, f"{len(waiting)} calls never ended"


def test_a_kill_during_a_burst_loses_no_event_and_every_call_ends_once(db: str) -> None:
    first = Server(db, "--demo", env=FAST)
    token = first.lines["Bearer token"]
    agents = [str(70000 + n) for n in range(200)]
    asyncio.run(_add_group(db, "burst", agents))
    acknowledged: list[str] = []

    async def burst() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        body = {"from": {"groups": ["burst"]}, "to": {"telephoneNumber": "02072068888"}}
        async with httpx.AsyncClient(
            base_url=first.base,
            headers=headers,
            limits=httpx.Limits(max_connections=30),
            timeout=10,
        ) as client:

            async def place() -> None:
                try:
                    response = await client.post(f"/v0/{KEY}/calls/", json=body)
                except httpx.HTTPError:
                    return  # killed under this request: not acknowledged
                if response.status_code == 201:
                    acknowledged.append(response.json()["id"])
                    if len(acknowledged) == 60:
                        first.proc.kill()

            await asyncio.gather(*(place() for _ in agents))

    asyncio.run(burst())
    assert first.stop() == -9
    second = Server(db, env=FAST)  # the same node: it goes on driving the simulated calls
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=second.base, headers=headers, timeout=10) as client:
            events = log_of(client)
            placed = [e["subject"] for e in events if e["type"] == "com.switchboard.call.placed"]
            # Every acknowledged call's placement was committed with its event.
            assert set(acknowledged) <= set(placed)
            wait_until_ended(client, placed, within=60)
            events = log_of(client)
            for call_id in placed:
                # No event without its change: the call it tells of is there.
                assert v0_call(client, call_id).status_code == 200
                own = client.get(f"/api/v1/accounts/{KEY}/calls/{call_id}/events").json()
                kinds = [e["type"].removeprefix("com.switchboard.call.") for e in own["events"]]
                assert kinds[0] == "placed" and kinds.count("ended") == 1, kinds
                assert kinds[-1] == "ended", kinds
                sequences = [e["data"]["sequence"] for e in own["events"]]
                assert sequences == list(range(1, len(sequences) + 1))
        ids = Counter(e["id"] for e in events)
        assert max(ids.values()) == 1  # nothing written twice
    finally:
        second.stop()


class Stream:
    """An SSE client reading frames off a real connection."""

    def __init__(self, client: httpx.Client, path: str = "events", **headers: str) -> None:
        # ``events`` asks for the stream by Accept; ``events/stream`` is the stream whatever.
        accept = {"Accept": "text/event-stream"} if path == "events" else {}
        self._context = client.stream(
            "GET", f"/api/v1/accounts/{KEY}/{path}", headers={**accept, **headers}
        )
        self.response = self._context.__enter__()
        self._lines: Iterator[str] = self.response.iter_lines()
        self.comments: list[str] = []

    def next_event(self) -> tuple[str, dict[str, Any]]:
        fields: dict[str, str] = {}
        for line in self._lines:
            if line.startswith(":"):
                self.comments.append(line)
            elif not line:
                if "data" in fields:
                    return fields["id"], orjson.loads(fields["data"])
            else:
                name, _, value = line.partition(": ")
                fields[name] = value
        raise EOFError("the stream ended")

    def close(self) -> None:
        self._context.__exit__(None, None, None)


def test_the_stream_resumes_after_last_event_id_and_hears_other_processes(db: str) -> None:
    env = {**FAST, "SWITCHBOARD_EVENT_STREAM_KEEPALIVE_SECONDS": "0.5"}
    first = Server(db, "--demo", env=env)
    second = Server(db, env={**env, "SWITCHBOARD_NODE_ID": "node-2"})
    token = first.lines["Bearer token"]
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with (
            httpx.Client(base_url=first.base, headers=headers, timeout=10) as one,
            httpx.Client(base_url=second.base, headers=headers, timeout=10) as two,
        ):
            stream = Stream(one)
            assert stream.response.status_code == 200
            assert stream.response.headers["content-type"].startswith("text/event-stream")
            # Placed through the other process: heard by polling the shared database.
            call_id = two.post(f"/v0/{KEY}/calls/", json=CALL).json()["id"]
            seen: list[tuple[str, dict[str, Any]]] = []
            while len([e for _, e in seen if e.get("subject") == call_id]) < 3:
                seen.append(stream.next_event())
            stream.close()
            wait_until_ended(one, [call_id], within=20)
            resumed = Stream(one, "events/stream", **{"Last-Event-ID": seen[-1][0]})
            while not any(e["type"] == "com.switchboard.call.ended" for _, e in seen):
                seen.append(resumed.next_event())
            # Quiet now: a keep-alive comment comes within its interval.
            started = time.monotonic()
            while not any("keep-alive" in c for c in resumed.comments):
                line = next(resumed._lines)
                if line.startswith(":"):
                    resumed.comments.append(line)
            assert time.monotonic() - started < 5
            positions = [int(cursor) for cursor, _ in seen]
            assert positions == sorted(set(positions))  # in order, nothing twice
            mine = [e for _, e in seen if e.get("subject") == call_id]
            replay = one.get(f"/api/v1/accounts/{KEY}/calls/{call_id}/events").json()["events"]
            assert [e["id"] for e in mine] == [e["id"] for e in replay]  # no gap at the resume
            # A stopping server ends the stream rather than wait for it.
            before = time.monotonic()
            assert first.stop() == 0
            assert time.monotonic() - before < 10
            try:
                while True:
                    resumed.next_event()
            except (EOFError, httpx.HTTPError):
                pass
    finally:
        first.stop()
        second.stop()
