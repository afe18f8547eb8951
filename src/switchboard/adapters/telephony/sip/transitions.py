"""The third-party call's states, the events that move them, and the transition table.

    AGENT_CALLING ─reached─▶ AGENT_RINGING ─agent answers─▶ DEST_CALLING ─dest answers─┐
          │                        │                             │  flow I ────────────┼─▶ CONNECTED
          │ (start fails:          │                             │  flow IV ─▶ JOINING ─┘
          │  no ended signal)      └─────────── failure, no answer, hang-up ────────────┴──▶ ENDED

``TRANSITIONS[flow][(state, event)]`` is the next state and the name of the controller's
action that does the I/O (``ThirdPartyCall._<name>``). A pair that is not in the table is
ignored: a stale deadline, a late retransmission, a hang-up of an ended call. No I/O here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from switchboard.adapters.telephony.sip.message import Response
from switchboard.domain.calls import Party

AGENT_DEADLINE = "sip:agent_no_answer"
DESTINATION_DEADLINE = "sip:destination_no_answer"


class Flow(enum.Enum):
    I = "I"  # noqa: E741 - the RFC's name
    IV = "IV"


class CallState(enum.Enum):
    AGENT_CALLING = "agent_calling"  # start() is waiting for the phone to ring or fail
    AGENT_RINGING = "agent_ringing"
    DEST_CALLING = "dest_calling"
    JOINING = "joining"  # flow IV: the destination answered, the agent is being re-INVITEd
    CONNECTED = "connected"
    ENDED = "ended"


class Event(enum.Enum):
    AGENT_REACHED = "agent_reached"  # a provisional other than 100 Trying
    AGENT_ANSWERED = "agent_answered"
    AGENT_BAD_ANSWER = "agent_bad_answer"  # flow I: a 2xx without the offer we need
    AGENT_FAILED = "agent_failed"
    AGENT_HUNG_UP = "agent_hung_up"
    AGENT_NO_ANSWER = "agent_no_answer"
    START_EXPIRED = "start_expired"
    DEST_ANSWERED = "dest_answered"
    DEST_BAD_ANSWER = "dest_bad_answer"  # a 2xx without SDP
    DEST_FAILED = "dest_failed"
    DEST_HUNG_UP = "dest_hung_up"
    DEST_NO_ANSWER = "dest_no_answer"
    REOFFER_ANSWERED = "reoffer_answered"
    REOFFER_FAILED = "reoffer_failed"
    AGENT_LOST = "agent_lost"  # a connected party stopped answering the keep-alive probe
    DEST_LOST = "dest_lost"
    MAX_DURATION = "max_duration"  # the connected call reached max_call_s
    HANGUP = "hangup"  # from the service, with the party who put the phone down
    SHUTDOWN = "shutdown"


@dataclass(frozen=True)
class Occurrence:
    event: Event
    response: Response | None = None
    status: int = 0
    local: bool = False  # a timeout or transport error of ours, not a status from the network
    party: Party = Party.ORIGINATOR


S, E = CallState, Event

_COMMON: dict[tuple[CallState, Event], tuple[CallState, str]] = {
    (S.AGENT_CALLING, E.AGENT_REACHED): (S.AGENT_RINGING, "reached"),
    (S.AGENT_CALLING, E.AGENT_BAD_ANSWER): (S.ENDED, "agent_bad_answer"),
    (S.AGENT_CALLING, E.AGENT_FAILED): (S.ENDED, "start_failed"),
    (S.AGENT_CALLING, E.START_EXPIRED): (S.ENDED, "abandon"),
    (S.AGENT_CALLING, E.SHUTDOWN): (S.ENDED, "abandon"),
    (S.AGENT_CALLING, E.HANGUP): (S.ENDED, "hangup_while_starting"),
    (S.AGENT_RINGING, E.AGENT_BAD_ANSWER): (S.ENDED, "agent_bad_answer"),
    (S.AGENT_RINGING, E.AGENT_FAILED): (S.ENDED, "agent_failed"),
    (S.AGENT_RINGING, E.AGENT_NO_ANSWER): (S.ENDED, "agent_no_answer"),
    (S.AGENT_RINGING, E.HANGUP): (S.ENDED, "hangup_unconnected"),
    (S.AGENT_RINGING, E.SHUTDOWN): (S.ENDED, "shutdown_unconnected"),
    (S.DEST_CALLING, E.DEST_BAD_ANSWER): (S.ENDED, "dest_bad_answer"),
    (S.DEST_CALLING, E.DEST_FAILED): (S.ENDED, "dest_failed"),
    (S.DEST_CALLING, E.DEST_NO_ANSWER): (S.ENDED, "dest_no_answer"),
    (S.DEST_CALLING, E.AGENT_HUNG_UP): (S.ENDED, "agent_gave_up"),
    (S.DEST_CALLING, E.HANGUP): (S.ENDED, "hangup_unconnected"),
    (S.DEST_CALLING, E.SHUTDOWN): (S.ENDED, "shutdown_unconnected"),
    (S.CONNECTED, E.AGENT_HUNG_UP): (S.ENDED, "agent_hung_up"),
    (S.CONNECTED, E.DEST_HUNG_UP): (S.ENDED, "dest_hung_up"),
    (S.CONNECTED, E.HANGUP): (S.ENDED, "hangup_connected"),
    (S.CONNECTED, E.SHUTDOWN): (S.ENDED, "shutdown_connected"),
    (S.CONNECTED, E.AGENT_LOST): (S.ENDED, "agent_lost"),
    (S.CONNECTED, E.DEST_LOST): (S.ENDED, "dest_lost"),
    (S.CONNECTED, E.MAX_DURATION): (S.ENDED, "max_duration"),
}

TRANSITIONS: dict[Flow, dict[tuple[CallState, Event], tuple[CallState, str]]] = {
    Flow.I: {
        **_COMMON,
        (S.AGENT_CALLING, E.AGENT_ANSWERED): (S.DEST_CALLING, "offer_to_destination"),
        (S.AGENT_RINGING, E.AGENT_ANSWERED): (S.DEST_CALLING, "offer_to_destination"),
        (S.DEST_CALLING, E.DEST_ANSWERED): (S.CONNECTED, "answer_to_agent"),
    },
    Flow.IV: {
        **_COMMON,
        (S.AGENT_CALLING, E.AGENT_ANSWERED): (S.DEST_CALLING, "hold_and_dial"),
        (S.AGENT_RINGING, E.AGENT_ANSWERED): (S.DEST_CALLING, "hold_and_dial"),
        (S.DEST_CALLING, E.DEST_ANSWERED): (S.JOINING, "reoffer_to_agent"),
        (S.JOINING, E.REOFFER_ANSWERED): (S.CONNECTED, "answer_to_destination"),
        (S.JOINING, E.REOFFER_FAILED): (S.ENDED, "reoffer_failed"),
        (S.JOINING, E.AGENT_HUNG_UP): (S.ENDED, "agent_gave_up"),
        (S.JOINING, E.DEST_HUNG_UP): (S.ENDED, "dest_gave_up"),
        (S.JOINING, E.HANGUP): (S.ENDED, "hangup_unconnected"),
        (S.JOINING, E.SHUTDOWN): (S.ENDED, "shutdown_unconnected"),
    },
}

DEADLINE_EVENTS = {
    AGENT_DEADLINE: Event.AGENT_NO_ANSWER,
    DESTINATION_DEADLINE: Event.DEST_NO_ANSWER,
}
