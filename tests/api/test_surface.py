"""Section 1 and 2: routes, methods, auth, content type, version, size, JSON binding."""

import json
from typing import Any

import pytest

from tests.support.harness import Harness

CALL = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}


async def raw_post(sb: Harness, path: str, content: bytes, **headers: str) -> Any:
    base = {"Authorization": f"Bearer {await sb.bearer()}", "Content-Type": "application/json"}
    base.update(headers)
    return await sb.client.post(
        path, content=content, headers={k: v for k, v in base.items() if v is not None}
    )


async def test_unknown_path_is_404(sb: Harness) -> None:
    response = await sb.client.get("/v0/a1b2c3d4e5/nothing")
    assert response.status_code == 404
    assert response.json() == {"message": "The requested resource was not found."}


async def test_other_method_is_405_with_allow(sb: Harness) -> None:
    response = await sb.client.delete("/v0/a1b2c3d4e5/calls/")
    assert response.status_code == 405
    assert response.json() == {
        "message": "The requested resource does not support http method 'DELETE'."
    }
    assert response.headers["allow"] == "POST, OPTIONS"
    response = await sb.client.put("/v0/a1b2c3d4e5/calls/0f0e0d0c-0b0a-0908-0706-050403020100")
    assert response.headers["allow"] == "GET, POST, HEAD, OPTIONS"
    response = await sb.client.get("/v0/oauth2/token")
    assert response.status_code == 405
    assert (
        response.json()["message"] == "The requested resource does not support http method 'GET'."
    )


async def test_method_is_checked_before_auth(sb: Harness) -> None:
    response = await sb.client.patch("/v0/a1b2c3d4e5/agents/1234")
    assert response.status_code == 405


async def test_options_answers_204_with_allow_without_auth(sb: Harness) -> None:
    response = await sb.client.options("/v0/a1b2c3d4e5/agents/1234")
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


async def test_head_works_where_get_does(sb: Harness) -> None:
    headers = await sb.headers()
    get = await sb.client.get("/v0/a1b2c3d4e5/agents/1234", headers=headers)
    head = await sb.client.head("/v0/a1b2c3d4e5/agents/1234", headers=headers)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(get.content))


async def test_missing_token_is_401_with_bare_challenge(sb: Harness) -> None:
    response = await sb.client.get("/v0/a1b2c3d4e5/agents/1234")
    assert response.status_code == 401
    assert response.json() == {"message": "The access token is invalid or has expired"}
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "invalid_token" not in response.headers["www-authenticate"]


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer a.b.c", "Basic abc", "Bearer"])
async def test_bad_token_is_401(sb: Harness, header: str) -> None:
    response = await sb.client.get("/v0/a1b2c3d4e5/agents/1234", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json() == {"message": "The access token is invalid or has expired"}


async def test_sent_token_challenge_says_invalid_token(sb: Harness) -> None:
    response = await sb.client.get(
        "/v0/a1b2c3d4e5/agents/1234", headers={"Authorization": "Bearer x"}
    )
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("account", ["otheraccount", "A1B2C3D4E5"])
async def test_token_on_another_accounts_path_is_403(sb: Harness, account: str) -> None:
    response = await sb.client.get(f"/v0/{account}/agents/1234", headers=await sb.headers())
    assert response.status_code == 403
    assert response.json() == {"message": "The access token does not grant access to this account"}


async def test_another_accounts_token_is_refused(sb: Harness) -> None:
    await sb.create_account("other")
    response = await sb.client.post(
        "/v0/a1b2c3d4e5/calls/", json=CALL, headers=await sb.headers("other")
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("multipart/form-data; boundary=xyz", "multipart/form-data"),
        ("text/plain", "text/plain"),
        ("Application/XML;charset=utf-8", "Application/XML"),
        (None, ""),
    ],
)
async def test_unsupported_content_type_is_415(
    sb: Harness, content_type: str | None, shown: str
) -> None:
    response = await raw_post(
        sb, "/v0/a1b2c3d4e5/calls/", json.dumps(CALL).encode(), **{"Content-Type": content_type}
    )
    assert response.status_code == 415
    assert response.json() == {
        "message": f"The requested resource does not support content type '{shown}'."
    }


@pytest.mark.parametrize(
    "content_type", ["application/json", "TEXT/JSON", "application/json;charset=utf-8;version=3"]
)
async def test_json_content_types_are_accepted(sb: Harness, content_type: str) -> None:
    response = await raw_post(
        sb, "/v0/a1b2c3d4e5/calls/", json.dumps(CALL).encode(), **{"Content-Type": content_type}
    )
    assert response.status_code == 201


async def test_auth_is_checked_before_content_type(sb: Harness) -> None:
    response = await sb.client.post(
        "/v0/a1b2c3d4e5/calls/", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("headers", "status", "shown"),
    [
        ({"Accept": "application/json;version=7"}, 406, "7"),
        ({"Accept": 'application/json; Version="0"'}, 406, "0"),
        ({"Content-Type": "application/json; version=abc"}, 406, "abc"),
        (
            {"Accept": "application/json;version=1", "Content-Type": "application/json; version=9"},
            201,
            None,
        ),
        (
            {
                "Accept": "text/html, application/json;version=9",
                "Content-Type": "application/json; version=6",
            },
            406,
            "9",
        ),
        ({"Accept": "application/xml"}, 201, None),
    ],
)
async def test_version_negotiation(
    sb: Harness, headers: dict[str, str], status: int, shown: str | None
) -> None:
    response = await raw_post(sb, "/v0/a1b2c3d4e5/calls/", json.dumps(CALL).encode(), **headers)
    assert response.status_code == status, response.text
    if shown is not None:
        assert response.json() == {
            "message": f"Unsupported API version '{shown}'. Supported versions: 1-6."
        }
    assert response.headers["content-type"] == "application/json; charset=utf-8"


async def test_version_applies_to_get_too(sb: Harness) -> None:
    headers = await sb.headers(Accept="application/json;version=8")
    response = await sb.client.get("/v0/a1b2c3d4e5/agents/1234", headers=headers)
    assert response.status_code == 406


async def test_content_type_is_checked_before_version(sb: Harness) -> None:
    response = await raw_post(
        sb, "/v0/a1b2c3d4e5/calls/", b"{}", **{"Content-Type": "text/plain; version=9"}
    )
    assert response.status_code == 415


async def test_large_body_is_413(sb: Harness) -> None:
    big = json.dumps({**CALL, "padding": "x" * (100 * 1024)}).encode()
    response = await raw_post(sb, "/v0/a1b2c3d4e5/calls/", big)
    assert response.status_code == 413
    assert response.json() == {"message": "Payload Too Large"}


async def test_version_is_checked_before_size(sb: Harness) -> None:
    big = b" " * (101 * 1024)
    response = await raw_post(sb, "/v0/a1b2c3d4e5/calls/", big, Accept="application/json;version=7")
    assert response.status_code == 406


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[1,2]",
        b'"text"',
        b"null",
        b'{"from": ',
        b"\xff\xfe{}",
        b'{"a": NaN}',
        b"[" * 100000,
    ],
)
async def test_invalid_json_is_400(sb: Harness, content: bytes) -> None:
    response = await raw_post(sb, "/v0/a1b2c3d4e5/calls/", content)
    assert response.status_code == 400
    assert response.json() == {"message": "The request body is not valid JSON."}


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"from": {"agentId": 1.5}, "to": {"telephoneNumber": "1"}}, "from.agentId"),
        ({"from": {"agentId": 1e3}}, "from.agentId"),
        ({"from": {"agentId": True}}, "from.agentId"),
        ({"from": {"agentId": ["1"]}}, "from.agentId"),
        ({"from": {"groups": "030"}}, "from.groups"),
        ({"from": {"groups": [["030"]]}}, "from.groups"),
        ({"from": {"groups": [1.0]}}, "from.groups"),
        ({"from": {"presentedCLID": {}}}, "from.presentedCLID"),
        ({"from": "1234"}, "from"),
        ({"from": {"agentId": "1"}, "to": ["x"]}, "to"),
        ({"regarding": "x"}, "regarding"),
        ({"regarding": {"reference": False}}, "regarding.reference"),
        ({"application": {"a": 1}}, "application"),
        ({"to": {"telephoneNumber": 2.0}}, "to.telephoneNumber"),
    ],
)
async def test_wrong_field_type_is_400_naming_the_field(
    sb: Harness, payload: Any, path: str
) -> None:
    response = await raw_post(sb, "/v0/a1b2c3d4e5/calls/", json.dumps(payload).encode())
    assert response.status_code == 400
    assert response.json() == {"message": f"The field '{path}' has an invalid type."}


async def test_binding_is_lenient_like_aspnet(sb: Harness) -> None:
    # Property names in any case, last duplicate wins, integers read as written, BOM skipped.
    content = (
        b'\xef\xbb\xbf{"FROM": {"agentID": 9999, "AgentId": 1234}, '
        b'"to": {"TelephoneNumber": "02072068888"}, "unknown": [1, {"x": 2.5}], "APPLICATION": 42}'
    )
    response = await raw_post(sb, "/v0/a1b2c3d4e5/calls/", content)
    assert response.status_code == 201, response.text
    assert response.json()["from"]["agentId"] == "1234"
    assert response.json()["application"] == "42"


async def test_integer_agent_id_keeps_its_digits(sb: Harness) -> None:
    response = await raw_post(
        sb, "/v0/a1b2c3d4e5/calls/", b'{"from": {"agentId": 01234}, "to": {"agentId": 4567}}'
    )
    # 01234 is not valid JSON (leading zero): invalid JSON, not a silent 1234.
    assert response.status_code == 400
    assert response.json() == {"message": "The request body is not valid JSON."}
    response = await raw_post(
        sb, "/v0/a1b2c3d4e5/calls/", b'{"from": {"agentId": 1234}, "to": {"agentId": -4567}}'
    )
    assert response.json() == {"message": "Agent Id must contain digits only"}


async def test_null_and_empty_fields_are_not_given(sb: Harness) -> None:
    payload = {
        "from": {"agentId": "1234", "groups": None, "presentedCLID": ""},
        "to": {"telephoneNumber": "02072068888", "agentId": ""},
        "regarding": None,
        "application": "",
    }
    response = await raw_post(sb, "/v0/a1b2c3d4e5/calls/", json.dumps(payload).encode())
    assert response.status_code == 201, response.text
    got = response.json()
    assert got["regarding"] is None and got["application"] is None


@pytest.mark.parametrize(
    "path",
    ["/V0/a1b2c3d4e5/Calls/", "/v0/a1b2c3d4e5/CALLS", "/v0/a1b2c3d4e5/calls?x=1"],
)
async def test_literal_segments_match_in_any_case_and_slash_is_optional(
    sb: Harness, path: str
) -> None:
    response = await raw_post(sb, path, json.dumps(CALL).encode())
    assert response.status_code == 201


async def test_emitted_links_can_be_followed(sb: Harness) -> None:
    created = (await sb.place(CALL)).json()
    headers = await sb.headers()
    self_link = created["links"][0]["href"].removeprefix("http://127.0.0.1:8080")
    assert (await sb.client.get(self_link, headers=headers)).status_code == 200
    agent = (await sb.client.get("/v0/a1b2c3d4e5/agents/1234", headers=headers)).json()
    rels = {link["rel"]: link["href"] for link in agent["links"]}
    assert rels["_self"] == "http://127.0.0.1:8080/V0/a1b2c3d4e5/Agents/1234"
    followed = await sb.client.get(
        rels["_self"].removeprefix("http://127.0.0.1:8080"), headers=headers
    )
    assert followed.json()["currentCallGuid"] == created["id"]
    call = await sb.client.get(
        rels["currentCall"].removeprefix("http://127.0.0.1:8080"), headers=headers
    )
    assert call.json()["id"] == created["id"]


@pytest.mark.parametrize("form", ["upper", "nohyphen", "braces"])
async def test_call_ids_match_as_guids(sb: Harness, form: str) -> None:
    call_id = (await sb.place(CALL)).json()["id"]
    spelt = {
        "upper": call_id.upper(),
        "nohyphen": call_id.replace("-", ""),
        "braces": "{" + call_id + "}",
    }[form]
    got = await sb.client.get(f"/v0/a1b2c3d4e5/calls/{spelt}", headers=await sb.headers())
    assert got.status_code == 200
    assert got.json()["id"] == call_id


@pytest.mark.parametrize(
    "call_id",
    ["nope", "0f0e0d0c-0b0a-0908-0706-050403020100", "0f0e0d0c0b0a-0908-0706-050403020100"],
)
async def test_unknown_call_is_404(sb: Harness, call_id: str) -> None:
    response = await sb.client.get(f"/v0/a1b2c3d4e5/calls/{call_id}", headers=await sb.headers())
    assert response.status_code == 404
    assert response.json() == {"message": "The requested resource was not found."}


async def test_another_accounts_call_is_404(sb: Harness) -> None:
    call_id = (await sb.place(CALL)).json()["id"]
    await sb.create_account("other")
    response = await sb.client.get(f"/v0/other/calls/{call_id}", headers=await sb.headers("other"))
    assert response.status_code == 404


async def test_public_base_url_is_used_for_links(tmp_path: Any) -> None:
    from tests.support.harness import close_harness, open_harness

    harness = await open_harness(tmp_path, public_base_url="https://cc.example.test/")
    try:
        got = (await harness.place(CALL)).json()
        assert got["links"][0]["href"].startswith("https://cc.example.test/V0/a1b2c3d4e5/Calls/")
    finally:
        await close_harness(harness)


async def test_host_header_port_is_kept_in_links(sb: Harness) -> None:
    headers = await sb.headers(Host="switchboard.local:9000")
    got = await sb.client.post("/v0/a1b2c3d4e5/calls/", json=CALL, headers=headers)
    assert got.json()["links"][0]["href"].startswith("http://switchboard.local:9000/V0/")
