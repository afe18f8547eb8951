"""Agents and their states (VCC's names and codes), and what a call does to them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class AgentState(enum.Enum):
    LOGGED_OUT = ("LoggedOut", -16)
    WRAPUP = ("Wrapup", 0)
    READY = ("Ready", 16)
    READY_OUTBOUND = ("ReadyOutbound", 17)
    BUSY_INCOMING = ("BusyIncoming", 32)
    BUSY_OUTGOING = ("BusyOutgoing", 33)
    BUSY_INTERNAL = ("BusyInternal", 37)
    AWAY = ("Away", 48)
    X_AWAY = ("XAway", 64)

    def __init__(self, label: str, code: int) -> None:
        self.label = label
        self.code = code

    @classmethod
    def parse(cls, text: str) -> AgentState:
        """A state name in any case, or its numeric code."""
        wanted = text.strip()
        for state in cls:
            if state.label.lower() == wanted.lower() or str(state.code) == wanted:
                return state
        raise ValueError(
            f"unknown agent state {text!r}; expected one of "
            + ", ".join(f"{s.label} ({s.code})" for s in cls)
        )

    @classmethod
    def from_label(cls, label: str) -> AgentState:
        for state in cls:
            if state.label == label:
                return state
        raise ValueError(label)

    @property
    def is_busy(self) -> bool:
        return self in BUSY_STATES

    @property
    def is_settled(self) -> bool:
        """Neither busy nor wrap-up: the state "Unchanged" returns to."""
        return not self.is_busy and self is not AgentState.WRAPUP


BUSY_STATES = frozenset(
    {AgentState.BUSY_INCOMING, AgentState.BUSY_OUTGOING, AgentState.BUSY_INTERNAL}
)
FREE_TO_CALL_OUT = frozenset({AgentState.READY, AgentState.READY_OUTBOUND})


class PostCallState(enum.Enum):
    READY = "Ready"
    READY_OUTBOUND = "ReadyOutbound"
    UNCHANGED = "Unchanged"

    @classmethod
    def parse(cls, text: str) -> PostCallState:
        for value in cls:
            if value.value.lower() == text.strip().lower():
                return value
        raise ValueError(
            f"unknown post-call state {text!r}; expected Ready, ReadyOutbound or Unchanged"
        )


def is_agent_id(text: str) -> bool:
    """Display ids: 1 to 11 ASCII digits, leading zeros significant."""
    return 1 <= len(text) <= 11 and all("0" <= c <= "9" for c in text)


def agent_id_sort_key(agent_id: str) -> tuple[int, str]:
    """Ties between equally idle agents go by id as a number, then as text."""
    return (int(agent_id) if is_agent_id(agent_id) else 0, agent_id)


@dataclass
class Agent:
    account_key: str
    agent_id: str
    name: str = ""
    phone: str = "sim:answer"
    state: AgentState = AgentState.READY
    settled_state: AgentState = AgentState.READY
    state_before_call: AgentState | None = None
    current_call_id: str | None = None
    idle_since: datetime | None = None
    wrapup_until: datetime | None = None
    awaiting_disposition: str | None = None
    callback_number: str | None = None
    allowed_numbers: list[str] = field(default_factory=list)

    def may_present(self, clid_e164: str | None, allowed_e164: set[str]) -> bool:
        """An agent with an allowed list may only present numbers in it."""
        if clid_e164 is None or not allowed_e164:
            return True
        return clid_e164 in allowed_e164


def post_call_state(agent: Agent, post: PostCallState) -> AgentState:
    if post is PostCallState.READY:
        return AgentState.READY
    if post is PostCallState.READY_OUTBOUND:
        return AgentState.READY_OUTBOUND
    return agent.settled_state


def set_state_by_hand(agent: Agent, state: AgentState) -> None:
    """An operator's change: cancels a pending wrap-up, never touches a call in progress
    (the agent stays on its call; the call's end decides what follows)."""
    agent.state = state
    agent.wrapup_until = None
    agent.awaiting_disposition = None
    if state.is_settled:
        agent.settled_state = state
