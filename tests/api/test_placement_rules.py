"""Section 3.1: each rule with its exact message, and the precedence between rules."""

from typing import Any

import pytest

from switchboard.domain.agents import AgentState
from switchboard.service import provisioning
from switchboard.service.provisioning import AccountOptions, AgentOptions
from tests.support.harness import Harness

NUMBER = {"telephoneNumber": "02072068888"}
AGENT = {"agentId": "1234"}


def body(src: Any = None, to: Any = None, **extra: Any) -> dict[str, Any]:
    return {"from": AGENT if src is None else src, "to": NUMBER if to is None else to, **extra}


async def rejected(sb: Harness, payload: Any, **headers: str) -> str:
    response = await sb.place(payload, **headers)
    assert response.status_code == 400, response.text
    return response.json()["message"]


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("to missing", {"from": AGENT}, "Either telephone number or agent id required"),
    (
        "to empty strings",
        body(to={"telephoneNumber": "", "agentId": None}),
        "Either telephone number or agent id required",
    ),
    (
        "to both",
        body(to={"telephoneNumber": "02072068888", "agentId": "4567"}),
        "Either telephone number or agent id required, not both",
    ),
    (
        "from telephone",
        body(src={"agentId": "1234", "telephoneNumber": "02072068888"}),
        "Telephone number not supported in this context",
    ),
    ("from missing", {"to": NUMBER}, "Agent Id must be specified"),
    ("from empty groups", body(src={"groups": []}), "Agent Id must be specified"),
    (
        "from both",
        body(src={"agentId": "1234", "groups": ["030"]}),
        "Either agent id or groups required, not both",
    ),
    ("agent id letters", body(src={"agentId": "12a4"}), "Agent Id must contain digits only"),
    ("agent id space", body(src={"agentId": " "}), "Agent Id must contain digits only"),
    ("agent id unicode digit", body(src={"agentId": "١٢"}), "Agent Id must contain digits only"),
    ("agent id long", body(src={"agentId": "123456789012"}), "Agent Id exceeds 11 digits"),
    ("to agent id letters", body(to={"agentId": "x"}), "Agent Id must contain digits only"),
    ("to agent id long", body(to={"agentId": "000000000000"}), "Agent Id exceeds 11 digits"),
    (
        "number long",
        body(to={"telephoneNumber": "0" * 31}),
        "Telephone number exceeds 30 characters",
    ),
    (
        "reference long",
        body(regarding={"reference": "a" * 2001}),
        "Reference exceeded 2000 characters",
    ),
    (
        "reference chars",
        body(regarding={"reference": "abc-123"}),
        "Reference contained invalid characters",
    ),
    (
        "reference ftp",
        body(regarding={"reference": "ftp://x.com"}),
        "Reference contained invalid characters",
    ),
    (
        "reference url space",
        body(regarding={"reference": "http://x.com/a b"}),
        "Reference contained invalid characters",
    ),
    ("application long", body(application="a" * 33), "Application exceeded 32 characters"),
    (
        "application chars",
        body(application="app name"),
        "Application contains non-alphanumeric characters",
    ),
    (
        "consent",
        body(src={"agentId": "1234", "consent": "Maybe"}),
        "Consent must be one of Unknown, OneParty, TwoParty",
    ),
    (
        "number letters",
        body(to={"telephoneNumber": "0207206888A"}),
        "Unable to place call - number is invalid",
    ),
    (
        "number two plus",
        body(to={"telephoneNumber": "++442072068888"}),
        "Unable to place call - number is invalid",
    ),
    (
        "number emergency 999",
        body(to={"telephoneNumber": "999"}),
        "Telephone number not supported in this context",
    ),
    (
        "number emergency 112",
        body(to={"telephoneNumber": "112"}),
        "Telephone number not supported in this context",
    ),
    (
        "number invalid",
        body(to={"telephoneNumber": "12345"}),
        "Unable to place call - number is invalid",
    ),
    (
        "number premium",
        body(to={"telephoneNumber": "09098790000"}),
        "Telephone number not supported in this context",
    ),
    (
        "clid unknown",
        body(src={"agentId": "1234", "presentedCLID": "02072068888"}),
        "Unable to place call - presented CLID is not a configured callback number",
    ),
    ("caller unknown", body(src={"agentId": "999"}), "Unable to place call - Agent Id is unknown"),
    (
        "destination agent unknown",
        body(to={"agentId": "999"}),
        "Unable to place call - invalid Agent Id",
    ),
    (
        "group unknown",
        body(src={"groups": ["nope", "nada"]}),
        "Unable to place call - group is unknown",
    ),
    (
        "destination is caller",
        body(to={"agentId": "1234"}),
        "Unable to place call - dialed Agent is not currently available",
    ),
]


@pytest.mark.parametrize(("name", "payload", "message"), CASES, ids=[c[0] for c in CASES])
async def test_rule_message(sb: Harness, name: str, payload: dict[str, Any], message: str) -> None:
    assert await rejected(sb, payload) == message


@pytest.mark.parametrize(
    "number",
    [
        "+442072068888",
        "00442072068888",
        "02072068888",
        "020 7206 8888",
        "(020) 7206-8888",
        "020.7206.8888",
    ],
)
async def test_number_forms_are_accepted(sb: Harness, number: str) -> None:
    response = await sb.place(body(to={"telephoneNumber": number}))
    assert response.status_code == 201, response.text
    assert response.json()["to"] == {"telephoneNumber": number}


async def test_ccxml_disabled_comes_first(sb: Harness) -> None:
    await provisioning.update_account(sb.ctx, "a1b2c3d4e5", AccountOptions(ccxml=False))
    assert await rejected(sb, {}) == "Ccxml must be enabled for this account"


PRECEDENCE: list[tuple[str, dict[str, Any], str]] = [
    ("to before from", {"from": {}}, "Either telephone number or agent id required"),
    (
        "from telephone before from missing",
        body(src={"telephoneNumber": "1"}),
        "Telephone number not supported in this context",
    ),
    (
        "from both before agent id format",
        body(src={"agentId": "x", "groups": ["030"]}),
        "Either agent id or groups required, not both",
    ),
    (
        "from agent id before to agent id",
        {"from": {"agentId": "123456789012"}, "to": {"agentId": "x"}},
        "Agent Id exceeds 11 digits",
    ),
    (
        "digits before length",
        body(src={"agentId": "1234567890123x"}),
        "Agent Id must contain digits only",
    ),
    (
        "agent id before number length",
        body(src={"agentId": "x"}, to={"telephoneNumber": "0" * 31}),
        "Agent Id must contain digits only",
    ),
    (
        "number length before reference",
        body(to={"telephoneNumber": "0" * 31}, regarding={"reference": "-"}),
        "Telephone number exceeds 30 characters",
    ),
    (
        "reference before application",
        body(regarding={"reference": "-"}, application="-"),
        "Reference contained invalid characters",
    ),
    (
        "application before consent",
        body(src={"agentId": "1234", "consent": "x"}, application="-"),
        "Application contains non-alphanumeric characters",
    ),
    (
        "consent before number",
        body(src={"agentId": "1234", "consent": "x"}, to={"telephoneNumber": "999"}),
        "Consent must be one of Unknown, OneParty, TwoParty",
    ),
    (
        "number before clid",
        body(src={"agentId": "1234", "presentedCLID": "1"}, to={"telephoneNumber": "12345"}),
        "Unable to place call - number is invalid",
    ),
    (
        "clid before unknown caller",
        body(src={"agentId": "999", "presentedCLID": "02072068888"}),
        "Unable to place call - presented CLID is not a configured callback number",
    ),
    (
        "unknown caller before unknown destination",
        {"from": {"agentId": "999"}, "to": {"agentId": "998"}},
        "Unable to place call - Agent Id is unknown",
    ),
    (
        "unknown destination before unknown group",
        {"from": {"groups": ["nope"]}, "to": {"agentId": "998"}},
        "Unable to place call - invalid Agent Id",
    ),
]


@pytest.mark.parametrize(("name", "payload", "message"), PRECEDENCE, ids=[c[0] for c in PRECEDENCE])
async def test_rule_precedence(
    sb: Harness, name: str, payload: dict[str, Any], message: str
) -> None:
    assert await rejected(sb, payload) == message


async def test_consent_is_ignored_below_version_6(sb: Harness) -> None:
    payload = body(src={"agentId": "1234", "consent": {"not": "a string"}})
    response = await sb.place(payload, **{"Content-Type": "application/json; version=5"})
    assert response.status_code == 201, response.text
    assert "consent" not in response.json()["from"]


async def test_consent_is_echoed_canonically_from_version_6(sb: Harness) -> None:
    payload = body(
        src={"agentId": "1234", "consent": "twoparty"},
        to={"telephoneNumber": "02072068888", "consent": "ONEPARTY"},
    )
    got = (await sb.place(payload)).json()
    assert got["from"]["consent"] == "TwoParty"
    assert got["to"]["consent"] == "OneParty"


async def test_caller_busy(sb: Harness) -> None:
    assert (await sb.place(body())).status_code == 201
    assert await rejected(sb, body()) == "Unable to place call - Agent number busy"


@pytest.mark.parametrize(
    "state", [AgentState.AWAY, AgentState.LOGGED_OUT, AgentState.WRAPUP, AgentState.BUSY_INCOMING]
)
async def test_caller_not_free(sb: Harness, state: AgentState) -> None:
    await sb.set_state("1234", state)
    assert await rejected(sb, body()) == "Unable to place call - Agent number busy"


async def test_ready_outbound_may_call_out_but_not_be_called(sb: Harness) -> None:
    await sb.set_state("4567", AgentState.READY_OUTBOUND)
    assert await rejected(sb, body(to={"agentId": "4567"})) == (
        "Unable to place call - dialed Agent is not currently available"
    )
    assert (await sb.place(body(src={"agentId": "4567"}))).status_code == 201


async def test_wrapup_may_call_out_where_the_account_allows(sb: Harness) -> None:
    await provisioning.update_account(sb.ctx, "a1b2c3d4e5", AccountOptions(outbound_in_wrapup=True))
    await sb.set_state("1234", AgentState.WRAPUP)
    assert (await sb.place(body())).status_code == 201


async def test_group_with_no_free_member_is_busy(sb: Harness) -> None:
    await sb.set_state("4567", AgentState.AWAY)
    assert (
        await rejected(sb, body(src={"groups": ["200"]}))
        == "Unable to place call - Agent number busy"
    )


async def test_unknown_groups_beside_known_ones_are_ignored(sb: Harness) -> None:
    response = await sb.place(body(src={"groups": ["nope", "200"]}))
    assert response.status_code == 201
    assert response.json()["from"]["agentId"] == "4567"


async def test_group_excludes_the_destination_agent(sb: Harness) -> None:
    response = await sb.place(body(src={"groups": ["030"]}, to={"agentId": "1234"}))
    assert response.status_code == 201
    assert response.json()["from"]["agentId"] == "4567"


async def test_agent_allowed_list_limits_the_clid(sb: Harness) -> None:
    await provisioning.update_agent(
        sb.ctx,
        "a1b2c3d4e5",
        "1234",
        AgentOptions(callback_number="01256636451", allowed_numbers=["01256636451"]),
    )
    assert await rejected(sb, body(src={"agentId": "1234", "presentedCLID": "08008888888"})) == (
        "Unable to place call - presented CLID is not a configured callback number"
    )
    # For groups, members that may not present it are skipped...
    got = await sb.place(body(src={"groups": ["030"], "presentedCLID": "08008888888"}))
    assert got.json()["from"]["agentId"] == "4567"
    # ...and when free members exist but none may present it, rule 13's message answers.
    await provisioning.update_agent(
        sb.ctx,
        "a1b2c3d4e5",
        "5464",
        AgentOptions(callback_number="01256636451", allowed_numbers=["01256636451"]),
    )
    msg = await rejected(sb, body(src={"groups": ["400"], "presentedCLID": "08008888888"}))
    assert msg == "Unable to place call - presented CLID is not a configured callback number"


async def test_clid_is_compared_in_e164(sb: Harness) -> None:
    response = await sb.place(body(src={"agentId": "1234", "presentedCLID": "+448008888888"}))
    assert response.status_code == 201
    assert response.json()["from"]["presentedClid"] == "+448008888888"


async def test_deny_prefix_refuses_numbers(sb: Harness) -> None:
    await provisioning.update_account(sb.ctx, "a1b2c3d4e5", AccountOptions(deny_prefixes=["0207"]))
    assert await rejected(sb, body()) == "Telephone number not supported in this context"
    assert (await sb.place(body(to={"telephoneNumber": "01256636451"}))).status_code == 201


async def test_premium_allowed_where_the_account_allows(sb: Harness) -> None:
    await provisioning.update_account(sb.ctx, "a1b2c3d4e5", AccountOptions(allow_premium=True))
    assert (await sb.place(body(to={"telephoneNumber": "09098790000"}))).status_code == 201


async def test_a_rejected_request_leaves_no_trace(sb: Harness) -> None:
    before = await sb.agent("1234")
    # 1234 is reserved by rule 18, then rule 19 fails: the reservation must be undone.
    await sb.set_state("4567", AgentState.AWAY)
    assert await rejected(sb, body(to={"agentId": "4567"})) == (
        "Unable to place call - dialed Agent is not currently available"
    )
    after = await sb.agent("1234")
    assert (after.state, after.current_call_id, after.idle_since) == (
        before.state,
        None,
        before.idle_since,
    )
    from switchboard.service import calls

    assert await calls.list_calls(sb.ctx, "a1b2c3d4e5") == []


async def test_rule_20_busy_phone_answers_agent_busy_and_leaves_no_trace(sb: Harness) -> None:
    from switchboard.service import calls

    await provisioning.update_agent(sb.ctx, "a1b2c3d4e5", "1234", AgentOptions(phone="sim:busy"))
    assert await rejected(sb, body()) == "Unable to place call - Agent number busy"
    await provisioning.update_agent(
        sb.ctx, "a1b2c3d4e5", "1234", AgentOptions(phone="sim:unreachable")
    )
    assert await rejected(sb, body()) == "Unable to place call to Agent. Please try again"
    assert (await sb.agent("1234")).state is AgentState.READY
    assert await calls.list_calls(sb.ctx, "a1b2c3d4e5") == []
