"""Guessing at the token endpoint: slowed, then refused (429 slow_down with Retry-After), per
account and per client address; a client with the right credentials elsewhere is unaffected."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.harness import BASE, Harness, close_harness, open_harness

FORM = {"grant_type": "client_credentials"}
KEY = "a1b2c3d4e5"


def client_at(sb: Harness, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=sb.runtime.app(), client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE)


async def test_ten_wrong_secrets_then_429_with_retry_after_and_the_right_client_elsewhere_is_served(
    sb: Harness,
) -> None:
    async with client_at(sb, "203.0.113.9") as guesser, client_at(sb, "198.51.100.7") as right:
        for n in range(10):
            wrong = await guesser.post("/v0/oauth2/token", data=FORM, auth=(KEY, f"guess-{n}"))
            assert wrong.status_code == 401
            assert wrong.json() == {"error": "invalid_client"}
        refused = await guesser.post("/v0/oauth2/token", data=FORM, auth=(KEY, sb.api_token))
        assert refused.status_code == 429
        assert refused.json() == {"error": "slow_down"}
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["cache-control"] == "no-store"

        served = await right.post("/v0/oauth2/token", data=FORM, auth=(KEY, sb.api_token))
        assert served.status_code == 200

        sb.clock.advance(1)  # the lock has passed: one more try, wrong, locks for 2 s
        assert (
            await guesser.post("/v0/oauth2/token", data=FORM, auth=(KEY, "x"))
        ).status_code == 401
        again = await guesser.post("/v0/oauth2/token", data=FORM, auth=(KEY, sb.api_token))
        assert (again.status_code, again.headers["retry-after"]) == (429, "2")
        sb.clock.advance(2)
        late = await guesser.post("/v0/oauth2/token", data=FORM, auth=(KEY, sb.api_token))
        assert late.status_code == 200


async def test_unknown_accounts_count_against_the_address(sb: Harness) -> None:
    async with client_at(sb, "203.0.113.10") as guesser:
        for n in range(10):
            response = await guesser.post(
                "/v0/oauth2/token", data={**FORM, "client_id": f"nobody{n}", "client_secret": "x"}
            )
            assert response.status_code == 401
        refused = await guesser.post("/v0/oauth2/token", data=FORM, auth=(KEY, sb.api_token))
        assert refused.status_code == 429


async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(
    tmp_path: Path,
) -> None:
    sb = await open_harness(tmp_path, trust_forwarded_headers=True)
    try:
        async with client_at(sb, "10.0.0.1") as proxy:
            for n in range(10):
                await proxy.post(
                    "/v0/oauth2/token",
                    data=FORM,
                    auth=(KEY, f"guess-{n}"),
                    headers={"X-Forwarded-For": "1.2.3.4, 203.0.113.11"},
                )
            blocked = await proxy.post(
                "/v0/oauth2/token",
                data=FORM,
                auth=(KEY, sb.api_token),
                headers={"X-Forwarded-For": "203.0.113.11"},
            )
            assert blocked.status_code == 429
            other = await proxy.post(
                "/v0/oauth2/token",
                data=FORM,
                auth=(KEY, sb.api_token),
                headers={"X-Forwarded-For": "203.0.113.11, 198.51.100.8"},
            )
            assert other.status_code == 200
    finally:
        await close_harness(sb)


async def test_the_limits_are_settings(tmp_path: Path) -> None:
    sb = await open_harness(tmp_path, token_failures_allowed=2, token_lockout_max_seconds=1)
    try:
        async with client_at(sb, "203.0.113.12") as guesser:
            statuses = [
                (await guesser.post("/v0/oauth2/token", data=FORM, auth=(KEY, "x"))).status_code
                for _ in range(3)
            ]
        assert statuses == [401, 401, 429]
    finally:
        await close_harness(sb)
