"""Provisioning over /api/v1 with the administrator token: accounts, API tokens, agents and
their state, groups, callback numbers; off (404) without SWITCHBOARD_ADMIN_TOKEN; every answer
checked against the served OpenAPI document, which must cover every operation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.harness import (
    Harness,
    PostgresDatabase,
    close_harness,
    open_harness,
    postgres_url,
)
from tests.support.openapi_check import OpenApiChecker

ADMIN = "an-administrator-token-of-32-chars-or-more"
KEY = "a1b2c3d4e5"


@pytest.fixture
async def admin_sb(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await open_harness(tmp_path, admin_token=ADMIN)
    try:
        yield harness
    finally:
        await close_harness(harness)


@pytest.fixture(params=["sqlite", "postgres"])
async def admin_any(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "sqlite":
        harness = await open_harness(tmp_path, admin_token=ADMIN)
        try:
            yield harness
        finally:
            await close_harness(harness)
        return
    database = PostgresDatabase(postgres_url())
    url = await database.create()
    try:
        harness = await open_harness(tmp_path, database_url=url, admin_token=ADMIN)
        try:
            yield harness
        finally:
            await close_harness(harness)
    finally:
        await database.drop()


HEADERS = {"Authorization": f"Bearer {ADMIN}"}


class Api:
    def __init__(self, sb: Harness, oa: OpenApiChecker) -> None:
        self.sb, self.oa = sb, oa

    async def __call__(
        self, method: str, path: str, json: Any = None, status: int = 200, **kw: Any
    ) -> Any:
        headers = kw.pop("headers", HEADERS)
        response = await self.sb.client.request(
            method, f"/api/v1{path}", json=json, headers=headers, **kw
        )
        self.oa.check(response)
        assert response.status_code == status, response.text
        return response.json()


async def api_of(sb: Harness) -> Api:
    document = (await sb.client.get("/api/v1/openapi.json")).json()
    return Api(sb, OpenApiChecker(document))


async def test_provisioning_crud_end_to_end(admin_any: Harness) -> None:
    sb = admin_any
    api = await api_of(sb)
    created = await api(
        "POST", "/accounts", {"key": "shop1", "country": "fr", "agentTimeout": 20}, 201
    )
    assert created["account"]["country"] == "FR" and created["account"]["agentTimeout"] == 20
    token = created["apiToken"]
    keys = [a["key"] for a in (await api("GET", "/accounts"))["accounts"]]
    assert keys == sorted(keys) and "shop1" in keys
    changed = await api("PATCH", "/accounts/shop1", {"wrapupSeconds": 5, "postCallState": "Ready"})
    assert changed["wrapupSeconds"] == 5 and changed["agentTimeout"] == 20
    assert (await api("GET", "/accounts/shop1"))["wrapupSeconds"] == 5

    number = await api("POST", "/accounts/shop1/numbers", {"number": "0123456789"}, 201)
    assert number == {"number": "0123456789", "e164": "+33123456789", "default": True}
    await api("POST", "/accounts/shop1/numbers", {"number": "0987654321", "default": True}, 201)
    numbers = (await api("GET", "/accounts/shop1/numbers"))["numbers"]
    assert [n["default"] for n in numbers] == [False, True]

    agent = await api(
        "POST",
        "/accounts/shop1/agents",
        {"id": "42", "name": "Ada", "phone": "sim:answer", "state": "Ready"},
        201,
    )
    assert (agent["id"], agent["state"], agent["stateCode"]) == ("42", "Ready", 16)
    await api("POST", "/accounts/shop1/agents", {"id": "43"}, 201)
    renamed = await api("PATCH", "/accounts/shop1/agents/42", {"name": "Ada L."})
    assert renamed["name"] == "Ada L." and renamed["state"] == "Ready"
    away = await api("PUT", "/accounts/shop1/agents/42/state", {"state": "Away"})
    assert away["state"] == "Away"
    assert (await api("GET", "/accounts/shop1/agents/42"))["state"] == "Away"
    listed = (await api("GET", "/accounts/shop1/agents"))["agents"]
    assert [a["id"] for a in listed] == ["42", "43"]

    group = await api("POST", "/accounts/shop1/groups/sales/members", {"members": ["42"]})
    assert group == {"id": "sales", "members": ["42"]}
    group = await api("POST", "/accounts/shop1/groups/sales/members", {"members": ["43", "42"]})
    assert sorted(group["members"]) == ["42", "43"]
    assert (await api("GET", "/accounts/shop1/groups/sales"))["id"] == "sales"
    assert (await api("GET", "/accounts/shop1/groups"))["groups"][0]["id"] == "sales"

    # The account's own token works on its V0 and v1 surface; a new one replaces it.
    exchanged = await sb.token_request(
        basic=("shop1", token), data={"grant_type": "client_credentials"}
    )
    assert exchanged.status_code == 200, exchanged.text
    rotated = await api("POST", "/accounts/shop1/api-token")
    assert rotated["accountKey"] == "shop1" and rotated["apiToken"] != token
    stale = await sb.token_request(
        basic=("shop1", token), data={"grant_type": "client_credentials"}
    )
    assert stale.status_code == 401


async def test_provisioning_errors(admin_sb: Harness) -> None:
    sb = admin_sb
    api = await api_of(sb)
    cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", "/accounts", {"key": KEY}, 409, "already_exists"),
        ("POST", "/accounts", {"key": "bad key!"}, 400, "invalid_parameter"),
        ("POST", "/accounts", {"key": "k2", "colour": "red"}, 400, "invalid_parameter"),
        ("POST", "/accounts", {"key": "k3", "agentTimeout": "soon"}, 400, "invalid_parameter"),
        ("PATCH", f"/accounts/{KEY}", {"country": "France"}, 400, "invalid_parameter"),
        ("GET", "/accounts/nobody", None, 404, "not_found"),
        ("GET", f"/accounts/{KEY}/agents/999", None, 404, "not_found"),
        ("POST", f"/accounts/{KEY}/agents", {"id": "1234"}, 409, "already_exists"),
        ("POST", f"/accounts/{KEY}/agents", {"id": "x"}, 400, "invalid_parameter"),
        (
            "PUT",
            f"/accounts/{KEY}/agents/1234/state",
            {"state": "Asleep"},
            400,
            "invalid_parameter",
        ),
        ("POST", f"/accounts/{KEY}/groups/g/members", {"members": []}, 400, "invalid_parameter"),
        ("POST", f"/accounts/{KEY}/groups/g/members", {"members": ["9"]}, 404, "not_found"),
        ("GET", f"/accounts/{KEY}/groups/nothing", None, 404, "not_found"),
        ("POST", f"/accounts/{KEY}/numbers", {"number": "12"}, 400, "invalid_parameter"),
    ]
    for method, path, body, status, code in cases:
        answer = await api(method, path, body, status)
        assert answer["code"] == code, (method, path, answer)
    bad_json = await api(
        "POST",
        "/accounts",
        None,
        400,
        content=b"{",
        headers={**HEADERS, "Content-Type": "application/json"},
    )
    assert bad_json["code"] == "invalid_json"
    # Without the administrator's token: 401; an account's own token is not enough.
    assert (await api("GET", "/accounts", status=401, headers={}))["code"] == "unauthorized"
    wrong = {"Authorization": "Bearer " + ADMIN[:-1] + "X"}
    assert (await api("GET", "/accounts", status=401, headers=wrong))["code"] == "unauthorized"
    own = await sb.headers(KEY)
    await api("GET", f"/accounts/{KEY}/agents", status=401, headers=own)
    response = await sb.client.delete("/api/v1/accounts", headers=HEADERS)
    assert response.status_code == 405 and response.headers["allow"] == "GET, POST"


async def test_without_an_admin_token_provisioning_is_off(sb: Harness) -> None:
    for path in ("/api/v1/accounts", f"/api/v1/accounts/{KEY}", f"/api/v1/accounts/{KEY}/agents"):
        for headers in ({}, {"Authorization": "Bearer anything-at-all"}, await sb.headers()):
            response = await sb.client.get(path, headers=headers)
            assert (response.status_code, response.json()["code"]) == (404, "not_found")
    # The account's own API is unaffected.
    response = await sb.client.get(f"/api/v1/accounts/{KEY}/calls", headers=await sb.headers())
    assert response.status_code == 200


def test_the_admin_token_setting_is_checked() -> None:
    from switchboard.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="SWITCHBOARD_ADMIN_TOKEN"):
        load_settings(admin_token="short")


async def test_a_nul_in_a_path_is_a_clear_400_or_404(admin_any: Harness) -> None:
    admin_sb = admin_any
    api = await api_of(admin_sb)
    for path in (
        "/accounts/a%00b",
        f"/accounts/{KEY}/agents/1%002",
        f"/accounts/{KEY}/groups/g%00",
    ):
        response = await admin_sb.client.get(f"/api/v1{path}", headers=HEADERS)
        api.oa.check(response)
        assert response.status_code in (400, 404), (path, response.text)
        assert "JSON" not in response.json()["message"]
    body = {"members": ["1234"]}
    response = await admin_sb.client.post(
        f"/api/v1/accounts/{KEY}/groups/g%00h/members", json=body, headers=HEADERS
    )
    assert response.status_code == 400 and "group id" in response.json()["message"]
