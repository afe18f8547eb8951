"""Hostile input gets a documented 4xx on SQLite and PostgreSQL: never a 500 with a traceback,
never a 503 with ``Retry-After`` (a client would retry it forever). A 503 is only for storage
that is really unreachable."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from switchboard.api.app import MAX_BODY
from switchboard.domain.errors import StorageUnavailable, UnstorableValue
from tests.api.test_errors import BrokenStorage, app_over
from tests.support.harness import Harness

KEY = "a1b2c3d4e5"
INVALID_JSON = {"message": "The request body is not valid JSON."}
GROUP_UNKNOWN = {"message": "Unable to place call - group is unknown"}
CLID_NOT_CONFIGURED = {
    "message": "Unable to place call - presented CLID is not a configured callback number"
}
NOT_FOUND = {"message": "The requested resource was not found."}
TO_NUMBER = '"to": {"telephoneNumber": "02072068888"}'


async def post_raw(sb: Harness, path: str, body: str) -> httpx.Response:
    """The body exactly as written: JSON escapes (``\\ud800``) reach the server as text."""
    return await sb.client.post(path, content=body.encode(), headers=await sb.headers())


async def a_call(sb: Harness) -> str:
    response = await sb.place({"from": {"agentId": "1234"}, "to": {"agentId": "4567"}})
    assert response.status_code == 201, response.text
    call_id: str = response.json()["id"]
    return call_id


@pytest.mark.parametrize(
    "body",
    [
        '{"from": {"groups": ["\\ud800"]}, ' + TO_NUMBER + "}",
        '{"from": {"groups": ["030", "\\udfff"]}, ' + TO_NUMBER + "}",
        '{"from": {"agentId": "1234", "presentedCLID": "0125\\ud800"}, ' + TO_NUMBER + "}",
        '{"from": {"agentId": "1234"}, ' + TO_NUMBER + ', "\\udbff": 1}',
        '{"from": {"agentId": "1234"}, ' + TO_NUMBER + ', "regarding": {"reference": "a\\uDC00"}}',
    ],
)
async def test_a_lone_surrogate_in_a_body_is_invalid_json(sb_any: Harness, body: str) -> None:
    response = await post_raw(sb_any, f"/v0/{KEY}/calls/", body)
    assert (response.status_code, response.json()) == (400, INVALID_JSON)
    assert await sb_any.state("1234") == "Ready"


async def test_a_surrogate_pair_is_one_character_not_invalid_json(sb_any: Harness) -> None:
    body = '{"from": {"agentId": "1234"}, ' + TO_NUMBER + ', "application": "a\\ud83d\\ude00"}'
    response = await post_raw(sb_any, f"/v0/{KEY}/calls/", body)
    assert response.json() == {"message": "Application contains non-alphanumeric characters"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"dispositionCode": "Sale\\ud800"}', INVALID_JSON),
        ('{"dispositionCode": "Sale", "agentId": "\\ud800"}', INVALID_JSON),
        (
            '{"dispositionCode": "Sa\\u0000le"}',
            {"message": "The field 'dispositionCode' has an invalid type."},
        ),
    ],
)
async def test_an_unstorable_disposition_code_is_refused_and_keeps_the_call_unchanged(
    sb_any: Harness, body: str, expected: dict[str, str]
) -> None:
    call_id = await a_call(sb_any)
    path = f"/v0/{KEY}/calls/{call_id}/dispositionCode"
    response = await post_raw(sb_any, path, body)
    assert (response.status_code, response.json()) == (400, expected)
    assert (await sb_any.get_call(call_id))["dispositionCode"] is None


async def test_a_recording_status_with_a_lone_surrogate_is_invalid_json(sb_any: Harness) -> None:
    call_id = await a_call(sb_any)
    response = await post_raw(
        sb_any, f"/v0/{KEY}/calls/{call_id}", '{"recordingStatus": "\\ud800"}'
    )
    assert (response.status_code, response.json()) == (400, INVALID_JSON)


async def test_a_group_id_with_a_nul_names_no_group(sb_any: Harness) -> None:
    response = await post_raw(
        sb_any, f"/v0/{KEY}/calls/", '{"from": {"groups": ["030\\u0000"]}, ' + TO_NUMBER + "}"
    )
    assert (response.status_code, response.json()) == (400, GROUP_UNKNOWN)


async def test_a_group_id_with_a_nul_beside_a_known_group_is_ignored(sb_any: Harness) -> None:
    body = '{"from": {"groups": ["\\u0000", "200"]}, ' + TO_NUMBER + "}"
    response = await post_raw(sb_any, f"/v0/{KEY}/calls/", body)
    assert response.status_code == 201, response.text
    assert response.json()["from"]["agentId"] == "4567"


@pytest.mark.parametrize("clid", ["01256636451\\u0000", "\\u000001256636451", "01256636451\\u200b"])
async def test_a_presented_clid_with_other_than_number_characters_is_not_a_callback_number(
    sb_any: Harness, clid: str
) -> None:
    """libphonenumber reads past such characters; the CLID is kept as sent, so it is refused."""
    body = '{"from": {"agentId": "1234", "presentedCLID": "' + clid + '"}, ' + TO_NUMBER + "}"
    response = await post_raw(sb_any, f"/v0/{KEY}/calls/", body)
    assert (response.status_code, response.json()) == (400, CLID_NOT_CONFIGURED)
    assert await sb_any.state("1234") == "Ready"


@pytest.mark.parametrize(
    "agent", ["12%00", "%001234", "1234%00", "123456789012", "12a", "%EF%BC%91"]
)
async def test_an_agent_path_that_is_no_agent_id_is_not_found(sb_any: Harness, agent: str) -> None:
    response = await sb_any.client.get(f"/v0/{KEY}/agents/{agent}", headers=await sb_any.headers())
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize("client_id", [f"{KEY}\x00", "\x00", "a b", KEY + "\u00e9", "k" * 65])
async def test_a_client_id_that_is_no_account_key_is_an_invalid_client(
    sb_any: Harness, client_id: str
) -> None:
    form = await sb_any.token_request(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "x"}
    )
    basic = await sb_any.token_request({"grant_type": "client_credentials"}, basic=(client_id, "x"))
    for response in (form, basic):
        assert (response.status_code, response.json()) == (401, {"error": "invalid_client"})
        assert response.headers["WWW-Authenticate"].startswith("Basic")


async def test_a_nul_or_escaped_surrogate_in_the_token_form_is_an_invalid_client(
    sb_any: Harness,
) -> None:
    for raw in (f"client_id={KEY}%00", "client_id=%ED%A0%80"):
        response = await sb_any.client.post(
            "/v0/oauth2/token",
            content=f"grant_type=client_credentials&client_secret=x&{raw}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (response.status_code, response.json()) == (401, {"error": "invalid_client"})


# --------------------------------------------------------------------------- the ASGI edge


class Peer:
    """An ASGI server's side of one request, scripted: what the client sends, what it got."""

    def __init__(self, *messages: dict[str, Any]) -> None:
        self.incoming = list(messages)
        self.received = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.received += 1
        if not self.incoming:
            raise AssertionError("the app read more than the client sent")
        return self.incoming.pop(0)

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


async def scope_for(sb: Harness, path: str, **headers: str) -> dict[str, Any]:
    all_headers = {**await sb.headers(), **headers}
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "scheme": "http",
        "server": ("127.0.0.1", 8080),
        "headers": [(k.lower().encode(), v.encode()) for k, v in all_headers.items()],
    }


async def test_a_client_that_leaves_mid_body_gets_nothing_done_and_only_a_debug_line(
    sb_any: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """The part that arrived is valid JSON by itself: acting on it would place a call the
    client never finished asking for."""
    whole = b'{"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}'
    scope = await scope_for(sb_any, f"/v0/{KEY}/calls/", **{"Content-Length": "200"})
    peer = Peer(
        {"type": "http.request", "body": whole, "more_body": True},
        {"type": "http.disconnect"},
    )
    caplog.set_level(logging.DEBUG, logger="switchboard")
    await sb_any.runtime.app()(scope, peer.receive, peer.send)
    assert peer.sent == []
    assert await sb_any.state("1234") == "Ready"
    levels = {r.levelname for r in caplog.records if r.name.startswith("switchboard.api")}
    assert levels == {"DEBUG"}
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.parametrize("length", [str(MAX_BODY + 1), "9" * 40, "0" * 30 + "9" * 7000])
async def test_a_huge_content_length_is_refused_before_the_body_is_read(
    sb: Harness, length: str
) -> None:
    scope = await scope_for(sb, f"/v0/{KEY}/calls/", **{"Content-Length": length})
    peer = Peer()
    await sb.runtime.app()(scope, peer.receive, peer.send)
    assert peer.received == 0
    assert peer.sent[0]["status"] == 413
    assert peer.sent[1]["body"] == b'{"message":"Payload Too Large"}'


async def test_a_value_storage_refuses_is_a_400_logged_as_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, ctx = app_over(BrokenStorage(UnstorableValue("read agent: invalid byte sequence")))
    token, _ = ctx.tokens.issue("acme", 1, ctx.clock.now())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/v0/acme/agents/1", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()) == (400, INVALID_JSON)
    assert "Retry-After" not in response.headers
    [record] = [r for r in caplog.records if r.name == "switchboard.api.app"]
    assert record.levelname == "WARNING" and "invalid byte sequence" in record.getMessage()
    assert record.exc_info is None


async def test_storage_really_unreachable_is_still_a_503_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, ctx = app_over(BrokenStorage(StorageUnavailable("read agent: connection refused")))
    token, _ = ctx.tokens.issue("acme", 1, ctx.clock.now())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/v0/acme/agents/1", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.headers["Retry-After"]) == (503, "1")
    [record] = [r for r in caplog.records if r.name == "switchboard.api.app"]
    assert record.levelname == "ERROR" and "connection refused" in record.getMessage()
