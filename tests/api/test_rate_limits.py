"""Rate limits per account: every authenticated V0 request spends a token of the account's
bucket; an empty bucket answers 429 with ``Retry-After``; every answer to the account carries
the ``RateLimit-Policy`` and ``RateLimit`` headers (draft-ietf-httpapi-ratelimit-headers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.harness import Harness, close_harness, open_harness

KEY = "a1b2c3d4e5"
BODY = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Harness]:
    # 2 tokens a second, 4 at most: a batch of one, so the count is exact.
    harness = await open_harness(tmp_path, rate_limit_per_second=2, rate_limit_burst=4)
    try:
        yield harness
    finally:
        await close_harness(harness)


async def test_an_empty_bucket_answers_429_until_it_refills(limited: Harness) -> None:
    sb = limited
    headers = await sb.headers()
    seen = []
    for _ in range(4):
        response = await sb.client.get(f"/v0/{KEY}/agents/1234", headers=headers)
        assert response.status_code == 200
        assert response.headers["RateLimit-Policy"] == '"default";q=4;w=2'
        seen.append(response.headers["RateLimit"])
    assert seen == [
        '"default";r=3;t=1',
        '"default";r=2;t=1',
        '"default";r=1;t=2',
        '"default";r=0;t=2',
    ]
    refused = await sb.client.post(f"/v0/{KEY}/calls/", json=BODY, headers=headers)
    assert refused.status_code == 429
    assert refused.json() == {"message": "Rate limit exceeded"}
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["RateLimit"] == '"default";r=0;t=1'
    assert refused.headers["RateLimit-Policy"] == '"default";q=4;w=2'
    sb.clock.advance(0.5)  # one token back
    placed = await sb.client.post(f"/v0/{KEY}/calls/", json=BODY, headers=headers)
    assert placed.status_code == 201
    assert placed.headers["RateLimit"] == '"default";r=0;t=2'


async def test_errors_of_the_account_count_and_carry_the_headers(limited: Harness) -> None:
    sb = limited
    headers = await sb.headers()
    for _ in range(4):
        response = await sb.client.get(f"/v0/{KEY}/calls/nope", headers=headers)
        assert response.status_code == 404 and "RateLimit" in response.headers
    assert (await sb.client.get(f"/v0/{KEY}/calls/nope", headers=headers)).status_code == 429


async def test_unauthenticated_requests_spend_nothing(limited: Harness) -> None:
    sb = limited
    for _ in range(6):
        response = await sb.client.get(f"/v0/{KEY}/agents/1234")
        assert response.status_code == 401 and "RateLimit" not in response.headers
    ok = await sb.client.get(f"/v0/{KEY}/agents/1234", headers=await sb.headers())
    assert ok.status_code == 200 and ok.headers["RateLimit"] == '"default";r=3;t=1'


async def test_each_account_has_its_own_bucket(limited: Harness) -> None:
    sb = limited
    await sb.create_account("other00001")
    await sb.add_agent("other00001", "1234")
    headers = await sb.headers()
    for _ in range(4):
        await sb.client.get(f"/v0/{KEY}/agents/1234", headers=headers)
    assert (await sb.client.get(f"/v0/{KEY}/agents/1234", headers=headers)).status_code == 429
    other = await sb.client.get(
        "/v0/other00001/agents/1234", headers=await sb.headers("other00001")
    )
    assert other.status_code == 200


async def test_no_limit_and_no_headers_when_disabled(sb: Harness) -> None:
    headers = await sb.headers()
    for _ in range(250):
        response = await sb.client.get(f"/v0/{KEY}/agents/1234", headers=headers)
        assert response.status_code == 200
    assert "RateLimit" not in response.headers and "RateLimit-Policy" not in response.headers
