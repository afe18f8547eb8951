"""Section 8: the token endpoint, expiry, and revocation by a new API token."""

import jwt
import pytest

from switchboard.service import provisioning
from tests.support.harness import Harness

FORM = {"grant_type": "client_credentials"}


async def test_basic_credentials_give_a_bearer_token(sb: Harness) -> None:
    response = await sb.token_request(FORM, basic=("a1b2c3d4e5", sb.api_token))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert response.headers["cache-control"] == "no-store"
    use = await sb.client.get(
        "/v0/a1b2c3d4e5/agents/1234", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert use.status_code == 200


async def test_form_credentials_give_a_bearer_token(sb: Harness) -> None:
    response = await sb.token_request(
        {**FORM, "client_id": "a1b2c3d4e5", "client_secret": sb.api_token}
    )
    assert response.status_code == 200


async def test_basic_wins_over_form(sb: Harness) -> None:
    response = await sb.token_request(
        {**FORM, "client_id": "a1b2c3d4e5", "client_secret": sb.api_token},
        basic=("a1b2c3d4e5", "wrong"),
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("data", "headers", "error", "status"),
    [
        (
            '{"grant_type": "client_credentials"}',
            {"Content-Type": "application/json"},
            "invalid_request",
            400,
        ),
        (
            "client_id=a",
            {"Content-Type": "application/x-www-form-urlencoded"},
            "invalid_request",
            400,
        ),
        (
            "grant_type=password",
            {"Content-Type": "application/x-www-form-urlencoded"},
            "unsupported_grant_type",
            400,
        ),
        (
            "grant_type=client_credentials",
            {"Content-Type": "application/x-www-form-urlencoded"},
            "invalid_request",
            400,
        ),
        (
            "grant_type=client_credentials&client_id=nobody&client_secret=x",
            {"Content-Type": "application/x-www-form-urlencoded"},
            "invalid_client",
            401,
        ),
        (
            "grant_type=client_credentials&client_id=a1b2c3d4e5&client_secret=x",
            {"Content-Type": "application/x-www-form-urlencoded"},
            "invalid_client",
            401,
        ),
    ],
)
async def test_token_errors_follow_rfc_6749(
    sb: Harness, data: str, headers: dict[str, str], error: str, status: int
) -> None:
    response = await sb.client.post("/v0/oauth2/token", content=data.encode(), headers=headers)
    assert response.status_code == status
    assert response.json() == {"error": error}
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_oversized_token_request_is_invalid_request(sb: Harness) -> None:
    body = b"grant_type=client_credentials&pad=" + b"x" * (100 * 1024)
    response = await sb.client.post(
        "/v0/oauth2/token",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request"}


async def test_basic_secret_is_compared_raw(sb: Harness) -> None:
    # A form-encoded secret in Basic would be %-escaped; it is not decoded.
    token = sb.api_token
    escaped = token.replace("-", "%2D").replace("_", "%5F")
    if escaped == token:
        escaped = token + "%00"
    response = await sb.token_request(FORM, basic=("a1b2c3d4e5", escaped))
    assert response.status_code == 401


async def test_access_token_expires(sb: Harness) -> None:
    headers = await sb.headers()
    assert (await sb.client.get("/v0/a1b2c3d4e5/agents/1234", headers=headers)).status_code == 200
    sb.clock.advance(3601)
    response = await sb.client.get("/v0/a1b2c3d4e5/agents/1234", headers=headers)
    assert response.status_code == 401


async def test_new_api_token_revokes_old_access_tokens(sb: Harness) -> None:
    headers = await sb.headers()
    new_secret = await provisioning.new_api_token(sb.ctx, "a1b2c3d4e5")
    assert (await sb.client.get("/v0/a1b2c3d4e5/agents/1234", headers=headers)).status_code == 401
    assert (await sb.token_request(FORM, basic=("a1b2c3d4e5", sb.api_token))).status_code == 401
    fresh = (await sb.token_request(FORM, basic=("a1b2c3d4e5", new_secret))).json()["access_token"]
    ok = await sb.client.get(
        "/v0/a1b2c3d4e5/agents/1234", headers={"Authorization": f"Bearer {fresh}"}
    )
    assert ok.status_code == 200


async def test_token_signed_with_another_key_is_refused(sb: Harness) -> None:
    forged = jwt.encode(
        {"iss": "switchboard", "sub": "a1b2c3d4e5", "gen": 1, "exp": 4102444800},
        "not-our-key-but-long-enough-for-hs256-0123456789",
        algorithm="HS256",
    )
    response = await sb.client.get(
        "/v0/a1b2c3d4e5/agents/1234", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401


async def test_api_tokens_are_stored_only_as_hashes(sb: Harness) -> None:
    import sqlite3

    path = sb.runtime.settings.database_url.removeprefix("sqlite:///")
    dump = "\n".join(sqlite3.connect(path).iterdump())
    assert sb.api_token not in dump
    assert all(c.isalnum() or c in "-_" for c in sb.api_token)
