"""Idempotent retries and rate limits across two real server processes on one database
(SQLite and PostgreSQL): one call for a key however the retries are spread, one bucket per
account whichever process answers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.e2e import test_server
from tests.e2e.test_server import KEY, Server
from tests.support.nodes import stored_calls

shared_db = test_server.shared_db  # the fixture: SQLite, and PostgreSQL when configured

BODY = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}


def _fire(servers: list[Server], token: str, count: int, **kw: Any) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.request(
                        kw["method"], f"{servers[i % len(servers)].base}{kw['path']}", **kw["extra"]
                    )
                    for i in range(count)
                )
            )

    return asyncio.run(fire())


def test_retries_of_one_key_spread_over_two_processes_place_one_call(shared_db: str) -> None:
    db = shared_db
    first = Server(db, "--demo")
    second = Server(db)
    try:
        responses = _fire(
            [first, second],
            first.lines["Bearer token"],
            20,
            headers={"Idempotency-Key": "order-42"},
            method="POST",
            path=f"/v0/{KEY}/calls/",
            extra={"json": BODY},
        )
        fresh = [
            r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
        ]
        assert len(fresh) == 1, [(r.status_code, r.text) for r in responses]
        call_id = fresh[0].json()["id"]
        for r in responses:
            assert r.status_code == 409 or r.json()["id"] == call_id, r.text
        assert [call.id for call in stored_calls(db)] == [call_id]
        # Once answered, both processes replay it.
        again = _fire(
            [first, second],
            first.lines["Bearer token"],
            2,
            headers={"Idempotency-Key": "order-42"},
            method="POST",
            path=f"/v0/{KEY}/calls/",
            extra={"json": BODY},
        )
        assert [(r.status_code, r.headers["Idempotent-Replayed"]) for r in again] == [
            (201, "true"),
            (201, "true"),
        ]
        assert {r.content for r in again} == {fresh[0].content}
    finally:
        second.stop()
        first.stop()


def test_two_processes_share_one_bucket_per_account(shared_db: str) -> None:
    db = shared_db
    limits = {"SWITCHBOARD_RATE_LIMIT_PER_SECOND": "0.5", "SWITCHBOARD_RATE_LIMIT_BURST": "10"}
    first = Server(db, "--demo", env=limits)
    second = Server(db, env=limits)
    try:
        started = time.monotonic()
        responses = _fire(
            [first, second],
            first.lines["Bearer token"],
            30,
            method="GET",
            path=f"/v0/{KEY}/agents/1234",
            extra={},
        )
        elapsed = time.monotonic() - started
        admitted = [r for r in responses if r.status_code == 200]
        refused = [r for r in responses if r.status_code == 429]
        assert len(admitted) + len(refused) == 30
        # The burst once for both processes (each with a bucket of its own would admit 20),
        # plus what refilled while the requests went on.
        assert 10 <= len(admitted) <= 10 + int(elapsed * 0.5) + 1, (len(admitted), elapsed)
        for r in refused:
            assert r.json() == {"message": "Rate limit exceeded"}
            assert int(r.headers["Retry-After"]) >= 1
            assert r.headers["RateLimit-Policy"] == '"default";q=10;w=20'
            assert r.headers["RateLimit"].startswith('"default";r=0;t=')
        for r in admitted:
            assert r.headers["RateLimit-Policy"] == '"default";q=10;w=20'
    finally:
        second.stop()
        first.stop()
