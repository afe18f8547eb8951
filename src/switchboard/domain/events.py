"""What happened, named in the past tense: the one catalogue of Switchboard's events.

Every event is written in the transaction of the change it describes (the unit of work's
outbox), and the stream, the replayable log and webhooks are built from what was written
(``switchboard.service.cloudevents``). Fields are plain values (text, numbers, ``None``), so
that storage keeps them as JSON and reads back the same event.

A call's events, in the order they can come (``sequence`` numbers them from 1 per call)::

    call.placed
    call.agent.ringing           the agent's phone rings (not every phone says so)
    call.agent.answered  |  call.agent.failed
    call.destination.ringing     the destination was dialled (and rings)
    call.destination.answered  |  call.destination.failed
    call.connected
    call.recording.changed, call.disposition.set   at any time while they may be set
    call.ended                   exactly once, whatever ended the call

A leg that was tried and never answered "failed" in the transaction that ends the call, just
before ``call.ended``; a hang-up before an answer is such a failure too (reason ``Normal``).
``agent.state.changed`` belongs to no call.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from switchboard.domain.calls import Call, Ending


def new_event_id(at: datetime | None = None) -> str:
    """A time-ordered UUID (version 7 layout): random where it must be, yet new ids sort
    after old ones (an index of them grows at its end, as a webhook's delivery log may keep)."""
    millis = time.time_ns() // 1_000_000 if at is None else int(at.timestamp() * 1000)
    millis = max(millis, 0)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


@dataclass(frozen=True, kw_only=True)
class Event:
    type: ClassVar[str] = ""
    account_key: str
    at: datetime
    # A time-ordered UUID of ``at`` unless given (``new_event_id``).
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", new_event_id(self.at))

    def details(self) -> dict[str, Any]:
        """The fields of this kind of event, beyond those every event of its family has."""
        common = _COMMON_CALL if isinstance(self, CallEvent) else _COMMON
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in common}


@dataclass(frozen=True, kw_only=True)
class CallEvent(Event):
    call_id: str
    # The CRM's ``regarding.reference`` given at placement.
    regarding: str | None = None
    # 1, 2, ... in the order of the call's events; assigned when the event is written.
    sequence: int = 0


_COMMON = frozenset({"account_key", "at", "id"})
_COMMON_CALL = _COMMON | {"call_id", "regarding", "sequence"}


@dataclass(frozen=True, kw_only=True)
class CallPlaced(CallEvent):
    type: ClassVar[str] = "call.placed"
    agent_id: str
    destination_number: str | None = None
    destination_agent_id: str | None = None
    presented_clid: str | None = None
    application: str | None = None
    engine: str = ""


@dataclass(frozen=True, kw_only=True)
class AgentLegRinging(CallEvent):
    type: ClassVar[str] = "call.agent.ringing"
    agent_id: str


@dataclass(frozen=True, kw_only=True)
class AgentLegAnswered(CallEvent):
    type: ClassVar[str] = "call.agent.answered"
    agent_id: str


@dataclass(frozen=True, kw_only=True)
class AgentLegFailed(CallEvent):
    type: ClassVar[str] = "call.agent.failed"
    agent_id: str
    reason: str  # the V0 reason
    sip_status: int | None = None
    q850_cause: int | None = None


@dataclass(frozen=True, kw_only=True)
class DestinationRinging(CallEvent):
    type: ClassVar[str] = "call.destination.ringing"


@dataclass(frozen=True, kw_only=True)
class DestinationAnswered(CallEvent):
    type: ClassVar[str] = "call.destination.answered"


@dataclass(frozen=True, kw_only=True)
class DestinationFailed(CallEvent):
    type: ClassVar[str] = "call.destination.failed"
    reason: str  # the V0 reason
    sip_status: int | None = None
    q850_cause: int | None = None


@dataclass(frozen=True, kw_only=True)
class CallConnected(CallEvent):
    type: ClassVar[str] = "call.connected"


@dataclass(frozen=True, kw_only=True)
class RecordingChanged(CallEvent):
    type: ClassVar[str] = "call.recording.changed"
    recording_status: str


@dataclass(frozen=True, kw_only=True)
class DispositionSet(CallEvent):
    type: ClassVar[str] = "call.disposition.set"
    disposition_code: str
    agent_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallEnded(CallEvent):
    """The terminal event: exactly one per call."""

    type: ClassVar[str] = "call.ended"
    # The V0 ``result``.
    code: str
    party: str
    reason: str
    # The final SIP status and the Q.850 cause (a Reason header) that ended it, where any.
    sip_status: int | None = None
    q850_cause: int | None = None
    # Which side ended the call (``calls.EndedBy``).
    hung_up_by: str = ""
    # False when the agent's phone was never reached (rule 20): the placement answered 400.
    started: bool = True


@dataclass(frozen=True, kw_only=True)
class AgentStateChanged(Event):
    type: ClassVar[str] = "agent.state.changed"
    agent_id: str
    state: str
    previous: str


EVENT_TYPES: dict[str, type[Event]] = {
    kind.type: kind
    for kind in (
        CallPlaced,
        AgentLegRinging,
        AgentLegAnswered,
        AgentLegFailed,
        DestinationRinging,
        DestinationAnswered,
        DestinationFailed,
        CallConnected,
        RecordingChanged,
        DispositionSet,
        CallEnded,
        AgentStateChanged,
    )
}
TERMINAL_TYPES = frozenset({CallEnded.type})


@dataclass(frozen=True)
class LoggedEvent:
    """An event as written: its place in its account's log (the cursor of the stream)."""

    position: int
    event: Event


C = TypeVar("C", bound=CallEvent)


def of_call(kind: type[C], call: Call, at: datetime, **details: Any) -> C:
    """An event of ``call``: its account, id and CRM reference filled in."""
    return kind(
        account_key=call.account_key,
        at=at,
        call_id=call.id,
        regarding=call.reference,
        **details,
    )


def ending_events(
    call: Call, ending: Ending, at: datetime, *, started: bool = True
) -> list[CallEvent]:
    """What an ended call tells: the leg that was tried and never answered (if one was),
    then ``call.ended``. ``call.result`` is set."""
    result = call.result
    assert result is not None
    status = {"sip_status": ending.sip_status, "q850_cause": ending.q850_cause}
    events: list[CallEvent] = []
    if not call.agent_leg_connected:
        events.append(
            of_call(
                AgentLegFailed,
                call,
                at,
                agent_id=call.caller_agent_id,
                reason=result.reason.value,
                **status,
            )
        )
    elif not call.destination_leg_connected:
        events.append(of_call(DestinationFailed, call, at, reason=result.reason.value, **status))
    events.append(
        of_call(
            CallEnded,
            call,
            at,
            code=result.code,
            party=result.party.value,
            reason=result.reason.value,
            hung_up_by=ending.by.value,
            started=started,
            **status,
        )
    )
    return events
