"""Sections 5, 6 and 7: recording control, disposition codes and agent details."""

from typing import Any

import pytest

from switchboard.domain.calls import Party
from tests.support.harness import Harness

KEY = "a1b2c3d4e5"
CALL = {"from": {"agentId": "1234"}, "to": {"agentId": "4567"}}


async def new_call(sb: Harness, body: dict[str, Any] = CALL) -> str:
    return (await sb.place(body)).json()["id"]


async def recording(sb: Harness, call_id: str, payload: Any) -> Any:
    return await sb.client.post(
        f"/v0/{KEY}/calls/{call_id}", json=payload, headers=await sb.headers()
    )


async def disposition(sb: Harness, call_id: str, payload: Any) -> Any:
    return await sb.client.post(
        f"/v0/{KEY}/calls/{call_id}/dispositionCode", json=payload, headers=await sb.headers()
    )


@pytest.mark.parametrize(
    ("sent", "stored"), [("Paused", "Paused"), ("started", "Started"), ("PAUSED", "Paused")]
)
async def test_recording_is_stored_before_the_202(sb: Harness, sent: str, stored: str) -> None:
    call_id = await new_call(sb)
    response = await recording(sb, call_id, {"recordingStatus": sent})
    assert response.status_code == 202
    assert response.json() == {"recordingStatus": stored}
    assert (await sb.get_call(call_id))["recordingStatus"] == stored


async def test_recording_set_before_connection_is_not_overridden(sb: Harness) -> None:
    call_id = await new_call(sb)
    await recording(sb, call_id, {"recordingStatus": "Paused"})
    await sb.advance(2.0)
    assert (await sb.get_call(call_id))["recordingStatus"] == "Paused"


@pytest.mark.parametrize(
    "payload",
    [{"recordingStatus": "Stopped"}, {"recordingStatus": ""}, {}, {"recordingStatus": None}],
)
async def test_other_recording_values_are_refused(sb: Harness, payload: Any) -> None:
    response = await recording(sb, await new_call(sb), payload)
    assert response.status_code == 400
    assert response.json() == {"message": "Recording status must be Paused or Started"}


async def test_recording_of_an_ended_call_is_refused(sb: Harness) -> None:
    call_id = await new_call(sb)
    await sb.end(call_id, Party.ORIGINATOR)
    response = await recording(sb, call_id, {"recordingStatus": "Paused"})
    assert response.json() == {"message": "The call is not in progress"}
    # The value rule comes first.
    response = await recording(sb, call_id, {"recordingStatus": "x"})
    assert response.json() == {"message": "Recording status must be Paused or Started"}


async def test_recording_of_unknown_call_is_404_after_type_checks(sb: Harness) -> None:
    missing = "0f0e0d0c-0b0a-0908-0706-050403020100"
    assert (await recording(sb, missing, {"recordingStatus": "Paused"})).status_code == 404
    response = await recording(sb, missing, {"recordingStatus": 1.5})
    assert response.json() == {"message": "The field 'recordingStatus' has an invalid type."}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "Disposition code field was expected. "),
        ({"dispositionCode": ""}, "Disposition code field was expected. "),
        ({"dispositionCode": "   "}, "Disposition code field was expected. "),
        ({"dispositionCode": "x" * 256}, "Disposition code excceeds 255 characters."),
        ({"dispositionCode": "ab"}, "Disposition code must be at least 3 characters."),
        (
            {"dispositionCode": "Wrong Number", "agentId": "5464"},
            "Agent Id is not a participant of this call",
        ),
    ],
)
async def test_disposition_rules(sb: Harness, payload: Any, message: str) -> None:
    response = await disposition(sb, await new_call(sb), payload)
    assert response.status_code == 400
    assert response.json() == {"message": message}


@pytest.mark.parametrize("agent", [None, "1234", "4567"])
async def test_disposition_is_echoed_and_replaced(sb: Harness, agent: str | None) -> None:
    call_id = await new_call(sb)
    payload = {"dispositionCode": "Wrong Number"} | ({"agentId": agent} if agent else {})
    response = await disposition(sb, call_id, payload)
    assert response.status_code == 200
    assert response.json() == {"dispositionCode": "Wrong Number"}
    await sb.end(call_id, Party.ORIGINATOR)
    await disposition(sb, call_id, {"dispositionCode": "x" * 255})
    assert (await sb.get_call(call_id))["dispositionCode"] == "x" * 255


async def test_agent_detail_shows_the_current_then_latest_call(sb: Harness) -> None:
    headers = await sb.headers()
    none = (await sb.client.get(f"/v0/{KEY}/agents/5464", headers=headers)).json()
    assert none == {
        "id": "5464",
        "links": [{"href": f"http://127.0.0.1:8080/V0/{KEY}/Agents/5464", "rel": "_self"}],
        "currentCallGuid": None,
    }
    call_id = await new_call(sb)
    for agent in ("1234", "4567"):
        got = (await sb.client.get(f"/v0/{KEY}/agents/{agent}", headers=headers)).json()
        assert got["currentCallGuid"] == call_id
        assert got["links"][1] == {
            "href": f"http://127.0.0.1:8080/V0/{KEY}/Calls/{call_id}",
            "rel": "currentCall",
        }
    await sb.end(call_id, Party.ORIGINATOR)
    got = (await sb.client.get(f"/v0/{KEY}/agents/1234", headers=headers)).json()
    assert got["currentCallGuid"] == call_id
    sb.clock.advance(86401)
    got = (await sb.client.get(f"/v0/{KEY}/agents/1234", headers=await sb.headers())).json()
    assert got["currentCallGuid"] is None


@pytest.mark.parametrize("agent", ["9999", "01234", "abc"])
async def test_unknown_agent_is_404(sb: Harness, agent: str) -> None:
    response = await sb.client.get(f"/v0/{KEY}/agents/{agent}", headers=await sb.headers())
    assert response.status_code == 404
    assert response.json() == {"message": "The requested resource was not found."}
