"""The domain on its own: the call state machine, agents, wrap-up, phones, rules."""

from datetime import UTC, datetime, timedelta

import pytest

from switchboard.domain.accounts import Account
from switchboard.domain.agents import Agent, AgentState, PostCallState, agent_id_sort_key
from switchboard.domain.calls import (
    Call,
    CallResult,
    IllegalTransition,
    Party,
    Phase,
    Reason,
    RecordingStatus,
    Trigger,
    next_phase,
    reason_for_sip_status,
)
from switchboard.domain.numbers import NumberInfo, has_number_characters, prefix_denied
from switchboard.domain.phones import check_phone_uri, parse_sim, telephone_number_of
from switchboard.domain.placement import is_valid_reference
from switchboard.domain.wrapup import (
    end_wrapup,
    release_after_call,
    undo_reservation,
    wrapup_may_end,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def call(**kw: object) -> Call:
    return Call(
        id="c1",
        account_key="a",
        caller_agent_id="1",
        created_at=NOW,
        agent_phone="sim:answer",
        **kw,
    )  # type: ignore[arg-type]


def test_call_state_machine_allows_only_its_table() -> None:
    assert next_phase(Phase.AGENT_RINGING, Trigger.AGENT_ANSWERED) is Phase.DESTINATION_RINGING
    assert next_phase(Phase.DESTINATION_RINGING, Trigger.DESTINATION_ANSWERED) is Phase.CONNECTED
    for phase in (Phase.AGENT_RINGING, Phase.DESTINATION_RINGING, Phase.CONNECTED):
        assert next_phase(phase, Trigger.ENDED) is Phase.ENDED
    with pytest.raises(IllegalTransition):
        next_phase(Phase.AGENT_RINGING, Trigger.DESTINATION_ANSWERED)
    with pytest.raises(IllegalTransition):
        next_phase(Phase.ENDED, Trigger.ENDED)


def test_connecting_starts_recording_unless_two_party_or_set_by_client() -> None:
    c = call()
    c.apply_agent_answered(NOW)
    c.connect(NOW, account_records=True)
    assert c.recording_status is RecordingStatus.STARTED
    from switchboard.domain.calls import Consent

    c = call(to_consent=Consent.TWO_PARTY)
    c.apply_agent_answered(NOW)
    c.connect(NOW, account_records=True)
    assert c.recording_status is RecordingStatus.STOPPED
    c = call(recording_status=RecordingStatus.PAUSED, recording_set_by_client=True)
    c.apply_agent_answered(NOW)
    c.connect(NOW, account_records=True)
    assert c.recording_status is RecordingStatus.PAUSED


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (200, Reason.NORMAL),
        (486, Reason.NUMBER_BUSY),
        (600, Reason.NUMBER_BUSY),
        (408, Reason.NO_ANSWER),
        (480, Reason.NO_ANSWER),
        (404, Reason.NUMBER_UNOBTAINABLE),
        (484, Reason.NUMBER_UNOBTAINABLE),
        (604, Reason.NUMBER_UNOBTAINABLE),
        (302, Reason.NUMBER_CHANGED),
        (603, Reason.CALL_REJECTED),
        (488, Reason.CALL_REJECTED),
        (503, Reason.CALL_FAILED),
        (500, Reason.CALL_FAILED),
    ],
)
def test_sip_status_maps_to_the_v0_reason(status: int, reason: Reason) -> None:
    assert reason_for_sip_status(status) is reason


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("ready", AgentState.READY),
        ("17", AgentState.READY_OUTBOUND),
        ("-16", AgentState.LOGGED_OUT),
        ("XAWAY", AgentState.X_AWAY),
    ],
)
def test_agent_states_parse_by_name_or_code(text: str, state: AgentState) -> None:
    assert AgentState.parse(text) is state


def test_agent_ids_sort_as_numbers_then_text() -> None:
    assert sorted(["10", "9", "007", "7"], key=agent_id_sort_key) == ["007", "7", "9", "10"]


def reserved(state_before: AgentState = AgentState.READY) -> Agent:
    return Agent(
        "a",
        "1",
        state=AgentState.BUSY_OUTGOING,
        state_before_call=state_before,
        current_call_id="c1",
    )


def test_answered_leg_goes_to_wrapup_then_post_call_state() -> None:
    account = Account("a", wrapup_seconds=30, post_call_state=PostCallState.READY_OUTBOUND)
    agent, c = reserved(), call()
    c.apply_agent_answered(NOW)
    release_after_call(agent, account, c, NOW)
    assert (agent.state, agent.wrapup_until, agent.current_call_id) == (
        AgentState.WRAPUP,
        NOW + timedelta(seconds=30),
        None,
    )
    assert not wrapup_may_end(agent, NOW + timedelta(seconds=29))
    assert wrapup_may_end(agent, NOW + timedelta(seconds=30))
    end_wrapup(agent, account)
    assert agent.state is AgentState.READY_OUTBOUND


def test_unanswered_leg_goes_straight_back() -> None:
    agent, c = reserved(AgentState.READY_OUTBOUND), call()
    release_after_call(agent, Account("a"), c, NOW)
    assert agent.state is AgentState.READY_OUTBOUND and agent.idle_since == NOW


def test_enforced_disposition_holds_zero_wrapup() -> None:
    account = Account("a", wrapup_seconds=0, enforce_dispositions=True)
    agent, c = reserved(), call()
    c.apply_agent_answered(NOW)
    release_after_call(agent, account, c, NOW)
    assert agent.state is AgentState.WRAPUP and agent.awaiting_disposition == "c1"
    assert not wrapup_may_end(agent, NOW + timedelta(days=1))


def test_undo_reservation_restores_exactly() -> None:
    agent = reserved(AgentState.WRAPUP)
    agent.wrapup_until = NOW
    undo_reservation(agent, "c1")
    assert (agent.state, agent.current_call_id, agent.wrapup_until, agent.idle_since) == (
        AgentState.WRAPUP,
        None,
        NOW,
        None,
    )


def test_sim_phones_parse_and_refuse_unknown_words() -> None:
    assert parse_sim("sim:answer?after=100&talk=2000&hangup=50").after_ms == 100
    assert parse_sim("SIM:Busy").word == "busy"
    for bad in ("sim:explode", "sim:answer?later=1", "sim:answer?after=soon"):
        with pytest.raises(ValueError):
            parse_sim(bad)
    with pytest.raises(ValueError):
        check_phone_uri("mailto:x@y")


@pytest.mark.parametrize(
    ("uri", "number"),
    [
        ("tel:+441256636451", "+441256636451"),
        ("sip:1234@pbx", "1234"),
        ("sip:ann@pbx", None),
        ("sim:answer", None),
    ],
)
def test_phone_numbers_of_phones(uri: str, number: str | None) -> None:
    assert telephone_number_of(uri) == number


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("+44 20", True),
        ("(020) 7206-8888", True),
        ("+", False),
        ("0207+", False),
        ("02a", False),
        ("", False),
        ("..", False),
    ],
)
def test_number_characters(text: str, ok: bool) -> None:
    assert has_number_characters(text) is ok


def test_deny_prefixes_match_e164_or_national_forms() -> None:
    info = NumberInfo("+449098790000", "09098790000", True, True)
    assert (
        prefix_denied(info, ["0909"])
        and prefix_denied(info, ["+44909"])
        and prefix_denied(info, ["0044909"])
    )
    assert not prefix_denied(info, ["0207", "+33"])


@pytest.mark.parametrize(
    ("ref", "ok"),
    [
        ("abc123", True),
        ("http://Test.com", True),
        ("https://x.io/a?b=c#d", True),
        ("http://", False),
        ("abc-1", False),
        ("http://x.com/a b", False),
        ("javascript:alert(1)", False),
    ],
)
def test_references(ref: str, ok: bool) -> None:
    assert is_valid_reference(ref) is ok


def test_results_read_like_the_contract() -> None:
    assert CallResult.hung_up(Party.DESTINATION) == CallResult(
        "Success", Party.DESTINATION, Reason.NORMAL
    )
