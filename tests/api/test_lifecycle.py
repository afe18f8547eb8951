"""A call's life on the simulator, for each outcome of operations.md: what GET shows, and the
agents' states before and after."""

from typing import Any

import pytest

from switchboard.domain.agents import AgentState, PostCallState
from switchboard.domain.calls import Party
from switchboard.service import provisioning
from switchboard.service.provisioning import AccountOptions, AgentOptions
from tests.support.harness import Harness

KEY = "a1b2c3d4e5"


def to_number(number: str) -> dict[str, Any]:
    return {"from": {"agentId": "1234"}, "to": {"telephoneNumber": number}}


async def placed(sb: Harness, body: dict[str, Any]) -> str:
    response = await sb.place(body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def phone(sb: Harness, agent_id: str, uri: str) -> None:
    await provisioning.update_agent(sb.ctx, KEY, agent_id, AgentOptions(phone=uri))


async def test_answered_call_goes_through_its_life(sb_any: Harness) -> None:
    sb = sb_any
    call_id = await placed(sb, to_number("02072068888"))
    assert await sb.state("1234") == "BusyOutgoing"
    got = await sb.get_call(call_id)
    assert (got["status"], got["recordingStatus"], got["result"]) == ("Active", "Stopped", None)
    await sb.advance(1.0)  # the agent answers after 1 s; the destination rings
    got = await sb.get_call(call_id)
    assert (got["status"], got["recordingStatus"]) == ("Active", "Stopped")
    await sb.advance(1.0)  # the destination answers: connected, recording starts
    got = await sb.get_call(call_id)
    assert (got["status"], got["recordingStatus"]) == ("Active", "Started")
    await sb.advance(60)  # talk time: the destination hangs up
    got = await sb.get_call(call_id)
    assert (got["status"], got["recordingStatus"]) == (None, None)
    assert got["result"] == {"code": "Success", "party": "Destination", "reason": "Normal"}
    assert await sb.state("1234") == "Wrapup"
    await sb.advance(179.9)
    assert await sb.state("1234") == "Wrapup"
    await sb.advance(0.2)
    assert await sb.state("1234") == "Ready"


async def test_agent_hangs_up_after_connection(sb: Harness) -> None:
    call_id = await placed(sb, to_number("02072068888"))
    await sb.advance(2.0)
    await sb.end(call_id, Party.ORIGINATOR)
    got = await sb.get_call(call_id)
    assert got["result"] == {"code": "Success", "party": "Originator", "reason": "Normal"}


async def test_hangup_option_makes_the_agent_hang_up(sb: Harness) -> None:
    await phone(sb, "1234", "sim:answer?after=200&hangup=3000")
    call_id = await placed(sb, to_number("02072068888"))
    await sb.advance(1.2 + 3.0)
    got = await sb.get_call(call_id)
    assert got["result"] == {"code": "Success", "party": "Originator", "reason": "Normal"}


async def test_talk_option_sets_when_the_other_side_hangs_up(sb: Harness) -> None:
    await phone(sb, "1234", "sim:answer?talk=2000")
    call_id = await placed(sb, to_number("02072068888"))
    await sb.advance(2.0 + 2.0)
    got = await sb.get_call(call_id)
    assert got["result"] == {"code": "Success", "party": "Destination", "reason": "Normal"}


@pytest.mark.parametrize(
    ("uri", "reason", "wait"),
    [
        ("sim:noanswer", "NoAnswer", 15.0),
        ("sim:answer?after=16000", "NoAnswer", 15.0),
    ],
)
async def test_agent_leg_outcomes(sb: Harness, uri: str, reason: str, wait: float) -> None:
    await phone(sb, "1234", uri)
    call_id = await placed(sb, to_number("02072068888"))
    await sb.advance(wait - 0.1)
    assert (await sb.get_call(call_id))["status"] == "Active"
    await sb.advance(0.2)
    got = await sb.get_call(call_id)
    assert got["result"] == {"code": "Failure", "party": "Originator", "reason": reason}
    assert await sb.state("1234") == "Ready"  # the agent's leg never connected: no wrap-up


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("02072060486", "NumberBusy"),
        ("02072060404", "NumberUnobtainable"),
        ("02072060603", "CallRejected"),
        ("02072060503", "CallFailed"),
    ],
)
async def test_destination_outcomes(sb: Harness, number: str, reason: str) -> None:
    call_id = await placed(sb, to_number(number))
    await sb.advance(1.0)
    got = await sb.get_call(call_id)
    assert got["result"] == {"code": "Failure", "party": "Destination", "reason": reason}
    assert got["status"] is None
    assert await sb.state("1234") == "Wrapup"  # the agent had answered


async def test_destination_no_answer(sb: Harness) -> None:
    call_id = await placed(sb, to_number("02072060408"))
    await sb.advance(1.0 + 59.9)
    assert (await sb.get_call(call_id))["status"] == "Active"
    await sb.advance(0.2)
    got = await sb.get_call(call_id)
    assert got["result"] == {"code": "Failure", "party": "Destination", "reason": "NoAnswer"}


async def test_agent_hangs_up_while_destination_rings(sb: Harness) -> None:
    call_id = await placed(sb, to_number("02072060408"))
    await sb.advance(1.0)
    await sb.end(call_id, Party.ORIGINATOR)
    got = await sb.get_call(call_id)
    assert got["result"] == {"code": "Failure", "party": "Originator", "reason": "Normal"}


async def test_agent_to_agent_call_moves_both_agents(sb: Harness) -> None:
    call_id = await placed(sb, {"from": {"agentId": "1234"}, "to": {"agentId": "4567"}})
    assert (await sb.state("1234"), await sb.state("4567")) == ("BusyOutgoing", "BusyInternal")
    await sb.advance(2.0)
    assert (await sb.get_call(call_id))["recordingStatus"] == "Started"
    await sb.end(call_id, Party.DESTINATION)
    got = await sb.get_call(call_id)
    assert got["result"] == {"code": "Success", "party": "Destination", "reason": "Normal"}
    assert (await sb.state("1234"), await sb.state("4567")) == ("Wrapup", "Wrapup")


@pytest.mark.parametrize(
    ("uri", "reason"),
    [("sim:busy", "NumberBusy"), ("sim:unreachable", "CallFailed")],
)
async def test_destination_agent_phone_outcomes(sb: Harness, uri: str, reason: str) -> None:
    await phone(sb, "4567", uri)
    call_id = await placed(sb, {"from": {"agentId": "1234"}, "to": {"agentId": "4567"}})
    await sb.advance(1.0)
    got = await sb.get_call(call_id)
    assert got["result"] == {"code": "Failure", "party": "Destination", "reason": reason}
    assert await sb.state("4567") == "Ready"  # its leg never connected
    assert await sb.state("1234") == "Wrapup"


async def test_destination_agent_no_answer_uses_destination_timeout(sb: Harness) -> None:
    await phone(sb, "4567", "sim:noanswer")
    call_id = await placed(sb, {"from": {"agentId": "1234"}, "to": {"agentId": "4567"}})
    await sb.advance(1.0 + 60.1)
    got = await sb.get_call(call_id)
    assert got["result"] == {"code": "Failure", "party": "Destination", "reason": "NoAnswer"}


async def test_zero_wrapup_goes_straight_to_post_call_state(sb: Harness) -> None:
    await provisioning.update_account(
        sb.ctx, KEY, AccountOptions(wrapup_seconds=0, post_call_state=PostCallState.READY_OUTBOUND)
    )
    call_id = await placed(sb, to_number("02072068888"))
    await sb.advance(2.0)
    await sb.end(call_id, Party.ORIGINATOR)
    assert await sb.state("1234") == "ReadyOutbound"


async def test_unchanged_post_call_state_returns_to_the_last_settled_state(sb: Harness) -> None:
    await provisioning.update_account(
        sb.ctx, KEY, AccountOptions(wrapup_seconds=1, post_call_state=PostCallState.UNCHANGED)
    )
    await sb.set_state("1234", AgentState.READY_OUTBOUND)
    call_id = await placed(sb, to_number("02072068888"))
    await sb.advance(2.0)
    await sb.end(call_id, Party.ORIGINATOR)
    await sb.advance(1.1)
    assert await sb.state("1234") == "ReadyOutbound"


async def test_setting_a_state_by_hand_cancels_wrapup(sb: Harness) -> None:
    call_id = await placed(sb, to_number("02072068888"))
    await sb.advance(2.0)
    await sb.end(call_id, Party.ORIGINATOR)
    await sb.set_state("1234", AgentState.AWAY)
    await sb.advance(181)
    assert await sb.state("1234") == "Away"


async def test_enforced_disposition_holds_wrapup_until_a_code_is_set(sb_any: Harness) -> None:
    sb = sb_any
    await provisioning.update_account(
        sb.ctx, KEY, AccountOptions(wrapup_seconds=5, enforce_dispositions=True)
    )
    call_id = await placed(sb, to_number("02072068888"))
    await sb.advance(2.0)
    await sb.end(call_id, Party.ORIGINATOR)
    await sb.advance(6)
    assert await sb.state("1234") == "Wrapup"
    response = await sb.client.post(
        f"/v0/{KEY}/calls/{call_id}/dispositionCode",
        json={"dispositionCode": "Sale"},
        headers=await sb.headers(),
    )
    assert response.status_code == 200
    assert await sb.state("1234") == "Ready"


async def test_enforced_disposition_set_during_the_call_counts(sb: Harness) -> None:
    await provisioning.update_account(
        sb.ctx, KEY, AccountOptions(wrapup_seconds=5, enforce_dispositions=True)
    )
    call_id = await placed(sb, to_number("02072068888"))
    await sb.advance(2.0)
    await sb.client.post(
        f"/v0/{KEY}/calls/{call_id}/dispositionCode",
        json={"dispositionCode": "Sale"},
        headers=await sb.headers(),
    )
    await sb.end(call_id, Party.ORIGINATOR)
    assert await sb.state("1234") == "Wrapup"
    await sb.advance(5.1)
    assert await sb.state("1234") == "Ready"


async def test_without_enforcement_a_code_changes_no_agent_state(sb: Harness) -> None:
    call_id = await placed(sb, to_number("02072068888"))
    await sb.advance(2.0)
    await sb.end(call_id, Party.ORIGINATOR)
    await sb.client.post(
        f"/v0/{KEY}/calls/{call_id}/dispositionCode",
        json={"dispositionCode": "Sale"},
        headers=await sb.headers(),
    )
    assert await sb.state("1234") == "Wrapup"


async def test_ended_call_is_readable_for_the_retention_time(sb: Harness) -> None:
    call_id = await placed(sb, to_number("02072060486"))
    await sb.advance(1.0)
    sb.clock.advance(86400 - 1)
    assert (await sb.get_call(call_id))["status"] is None
    sb.clock.advance(2)
    response = await sb.client.get(f"/v0/{KEY}/calls/{call_id}", headers=await sb.headers())
    assert response.status_code == 404


async def test_two_party_consent_keeps_recording_stopped(sb: Harness) -> None:
    call_id = await placed(
        sb,
        {
            "from": {"agentId": "1234"},
            "to": {"telephoneNumber": "02072068888", "consent": "TwoParty"},
        },
    )
    await sb.advance(2.0)
    assert (await sb.get_call(call_id))["recordingStatus"] == "Stopped"


async def test_account_without_recording_keeps_it_stopped(sb: Harness) -> None:
    await provisioning.update_account(sb.ctx, KEY, AccountOptions(record_calls=False))
    call_id = await placed(sb, to_number("02072068888"))
    await sb.advance(2.0)
    assert (await sb.get_call(call_id))["recordingStatus"] == "Stopped"


async def test_from_telephone_number_shows_the_agents_phone_number(sb: Harness) -> None:
    await phone(sb, "1234", "tel:+441256636451")
    call_id = await placed(sb, to_number("02072068888"))
    got = await sb.get_call(call_id)
    assert got["from"]["telephoneNumber"] == "+441256636451"
    await phone(sb, "4567", "sip:4567@pbx.example.test")
    got = await sb.get_call(
        await placed(sb, {"from": {"agentId": "4567"}, "to": {"telephoneNumber": "02072068888"}})
    )
    assert got["from"]["telephoneNumber"] == "4567"
    got = await sb.get_call(
        await placed(sb, {"from": {"agentId": "5464"}, "to": {"telephoneNumber": "02072068888"}})
    )
    assert "telephoneNumber" not in got["from"]
