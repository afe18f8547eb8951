"""What the end of a call does to its agents, and when they leave wrap-up.

An agent whose leg was answered goes to ``Wrapup`` for the account's wrap-up time (0 means
straight on), then to the post-call state; where dispositions are enforced, it stays until a
code is set too. An agent whose leg never connected goes straight back to the state it had.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from switchboard.domain.accounts import Account
from switchboard.domain.agents import Agent, AgentState, post_call_state
from switchboard.domain.calls import Call


def release_after_call(agent: Agent, account: Account, call: Call, now: datetime) -> None:
    if agent.current_call_id != call.id:
        return
    leg_connected = (
        call.agent_leg_connected
        if agent.agent_id == call.caller_agent_id
        else call.destination_leg_connected
    )
    before = agent.state_before_call
    agent.current_call_id = None
    agent.state_before_call = None
    agent.idle_since = now
    if not leg_connected:
        if agent.state.is_busy:
            agent.state = before if before is not None else agent.settled_state
        return
    awaiting = account.enforce_dispositions and call.disposition_code is None
    agent.awaiting_disposition = call.id if awaiting else None
    if account.wrapup_seconds <= 0 and not awaiting:
        end_wrapup(agent, account)
    else:
        agent.state = AgentState.WRAPUP
        agent.wrapup_until = now + timedelta(seconds=max(account.wrapup_seconds, 0.0))


def undo_reservation(agent: Agent, call_id: str) -> None:
    """A call that never started leaves no trace: the agent is exactly as before."""
    if agent.current_call_id != call_id:
        return
    if agent.state.is_busy and agent.state_before_call is not None:
        agent.state = agent.state_before_call
    agent.current_call_id = None
    agent.state_before_call = None


def wrapup_may_end(agent: Agent, now: datetime) -> bool:
    return (
        agent.state is AgentState.WRAPUP
        and agent.awaiting_disposition is None
        and agent.wrapup_until is not None
        and agent.wrapup_until <= now
    )


def end_wrapup(agent: Agent, account: Account) -> None:
    agent.state = post_call_state(agent, account.post_call_state)
    agent.settled_state = agent.state
    agent.wrapup_until = None
    agent.awaiting_disposition = None
