"""Each documented example request of VCC's "Making a call" page, against the demo account."""

import pytest

from tests.support.harness import Harness

EXAMPLES = {
    "agent to number": {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}},
    "agent to agent": {"from": {"agentId": "1234"}, "to": {"agentId": "4567"}},
    "group to number": {"from": {"groups": ["030"]}, "to": {"telephoneNumber": "02072068888"}},
    "groups to number": {
        "from": {"groups": ["030", "200", "400"]},
        "to": {"telephoneNumber": "02072068888"},
    },
    "presented clid": {
        "from": {"agentId": "1234", "presentedCLID": "08008888888"},
        "to": {"telephoneNumber": "02072068888"},
    },
    "reference and application": {
        "from": {"agentId": "1234", "presentedCLID": "08008888888"},
        "to": {"telephoneNumber": "02072068888"},
        "regarding": {"reference": "0012400000ATTUQ"},
        "application": "appName",
    },
}


@pytest.mark.parametrize("name", list(EXAMPLES))
async def test_each_documented_example_is_placed(sb: Harness, name: str) -> None:
    response = await sb.place(EXAMPLES[name])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "Active"
    assert body["recordingStatus"] == "Stopped"
    assert body["dispositionCode"] is None
    assert response.headers["location"] == body["links"][0]["href"]
    assert body["links"][0]["href"] == f"http://127.0.0.1:8080/V0/a1b2c3d4e5/Calls/{body['id']}"
    assert response.headers["content-type"] == "application/json; charset=utf-8"


async def test_reference_and_application_answer_matches_the_contract_shape(sb: Harness) -> None:
    body = dict(EXAMPLES["reference and application"])
    body["from"] = {"agentId": "1234"}
    response = await sb.place(body)
    got = response.json()
    assert list(got) == [
        "id",
        "links",
        "from",
        "to",
        "regarding",
        "status",
        "recordingStatus",
        "application",
        "dispositionCode",
    ]
    assert got["from"] == {"presentedClid": "01256636451", "agentId": "1234"}
    assert got["to"] == {"telephoneNumber": "02072068888"}
    assert got["regarding"] == {"reference": "0012400000ATTUQ"}
    assert got["application"] == "appName"
    assert got["id"] == got["id"].lower() and len(got["id"]) == 36


async def test_presented_clid_is_echoed_as_sent(sb: Harness) -> None:
    response = await sb.place(EXAMPLES["presented clid"])
    assert response.json()["from"]["presentedClid"] == "08008888888"


async def test_all_possible_parameters_example_gets_rule_3(sb: Harness) -> None:
    body = {
        "from": {"agentId": "5464", "groups": ["030"], "presentedCLID": "01256636451"},
        "to": {"telephoneNumber": "07970303957", "agentId": "4567"},
        "regarding": {"reference": "http://Test.com"},
        "application": "TestApp",
    }
    response = await sb.place(body)
    assert response.status_code == 400
    assert response.json() == {"message": "Either telephone number or agent id required, not both"}


async def test_group_call_picks_the_longest_idle_agent(sb: Harness) -> None:
    # Never-called agents come first, ties by id as a number: 1234 before 4567 before 5464.
    first = await sb.place(EXAMPLES["group to number"])
    assert first.json()["from"]["agentId"] == "1234"
    second = await sb.place(EXAMPLES["group to number"])
    assert second.json()["from"]["agentId"] == "4567"


async def test_group_call_prefers_never_called_then_longest_idle(sb: Harness) -> None:
    from switchboard.domain.calls import Party

    call = (
        await sb.place({"from": {"agentId": "4567"}, "to": {"telephoneNumber": "02072068888"}})
    ).json()
    await sb.end(call["id"], Party.ORIGINATOR)  # 4567 never connected: straight back to Ready
    sb.clock.advance(5)
    call = (
        await sb.place({"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}})
    ).json()
    await sb.end(call["id"], Party.ORIGINATOR)
    # 5464 never had a call; then 4567 (idle longer) before 1234.
    picks = []
    for _ in range(3):
        picks.append((await sb.place(EXAMPLES["group to number"])).json()["from"]["agentId"])
    assert picks == ["5464", "4567", "1234"]
