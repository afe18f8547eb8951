"""A call's life as a state machine, and the V0 vocabulary for how it ended.

    AGENT_RINGING ──agent answers──▶ DESTINATION_RINGING ──destination answers──▶ CONNECTED
          │                                   │                                       │
          └──────────── ends ─────────────────┴──────────────── ends ─────────────────┴──▶ ENDED

No I/O here: the service applies a transition and persists the result in one transaction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from switchboard.domain.errors import SwitchboardError


class Phase(enum.Enum):
    AGENT_RINGING = "agent_ringing"
    DESTINATION_RINGING = "destination_ringing"
    CONNECTED = "connected"
    ENDED = "ended"


class Trigger(enum.Enum):
    AGENT_ANSWERED = "agent_answered"
    DESTINATION_ANSWERED = "destination_answered"
    ENDED = "ended"


TRANSITIONS: dict[tuple[Phase, Trigger], Phase] = {
    (Phase.AGENT_RINGING, Trigger.AGENT_ANSWERED): Phase.DESTINATION_RINGING,
    (Phase.AGENT_RINGING, Trigger.ENDED): Phase.ENDED,
    (Phase.DESTINATION_RINGING, Trigger.DESTINATION_ANSWERED): Phase.CONNECTED,
    (Phase.DESTINATION_RINGING, Trigger.ENDED): Phase.ENDED,
    (Phase.CONNECTED, Trigger.ENDED): Phase.ENDED,
}


class IllegalTransition(SwitchboardError):
    def __init__(self, phase: Phase, trigger: Trigger) -> None:
        super().__init__(f"a call in phase {phase.value} cannot take {trigger.value}")


def next_phase(phase: Phase, trigger: Trigger) -> Phase:
    try:
        return TRANSITIONS[(phase, trigger)]
    except KeyError:
        raise IllegalTransition(phase, trigger) from None


class RecordingStatus(enum.Enum):
    STOPPED = "Stopped"
    STARTED = "Started"
    PAUSED = "Paused"


class Consent(enum.Enum):
    UNKNOWN = "Unknown"
    ONE_PARTY = "OneParty"
    TWO_PARTY = "TwoParty"

    @classmethod
    def parse(cls, text: str) -> Consent | None:
        for value in cls:
            if value.value.lower() == text.lower():
                return value
        return None


class Party(enum.Enum):
    ORIGINATOR = "Originator"
    DESTINATION = "Destination"


class Reason(enum.Enum):
    NORMAL = "Normal"
    NUMBER_BUSY = "NumberBusy"
    NO_ANSWER = "NoAnswer"
    NUMBER_UNOBTAINABLE = "NumberUnobtainable"
    NUMBER_CHANGED = "NumberChanged"
    CALL_REJECTED = "CallRejected"
    CALL_FAILED = "CallFailed"


@dataclass(frozen=True)
class CallResult:
    code: str  # "Success" | "Failure"
    party: Party
    reason: Reason

    @classmethod
    def hung_up(cls, by: Party) -> CallResult:
        return cls("Success", by, Reason.NORMAL)

    @classmethod
    def failure(cls, party: Party, reason: Reason) -> CallResult:
        return cls("Failure", party, reason)


class EndedBy(enum.Enum):
    """Which side ended a call (the events' ``hung_up_by``)."""

    AGENT = "agent"  # the agent's phone: hung up, refused, gone
    DESTINATION = "destination"  # the destination: hung up, busy, refused, unobtainable
    CLIENT = "client"  # a hang-up asked through the API or the CLI
    SWITCHBOARD = "switchboard"  # a timeout, a failure, a restart, a shutdown, a limit


@dataclass(frozen=True)
class Ending:
    """How a call ended, beyond the V0 result: who ended it, and the SIP status and Q.850
    cause that said so, where there were any."""

    by: EndedBy
    sip_status: int | None = None
    q850_cause: int | None = None

    @classmethod
    def of(cls, result: CallResult) -> Ending:
        """What the result alone says: a party's hang-up, refusal or busy line is that
        party's; no answer and failures are Switchboard giving up."""
        if result.reason in (Reason.NO_ANSWER, Reason.CALL_FAILED):
            return cls(EndedBy.SWITCHBOARD)
        if result.party is Party.ORIGINATOR:
            return cls(EndedBy.AGENT)
        return cls(EndedBy.DESTINATION)


def reason_for_sip_status(status: int) -> Reason:
    """Section 4: how a final SIP response on a leg maps to the V0 reason."""
    if 200 <= status < 300:
        return Reason.NORMAL
    if status in (486, 600):
        return Reason.NUMBER_BUSY
    if status in (408, 480):
        return Reason.NO_ANSWER
    if status in (404, 484, 604):
        return Reason.NUMBER_UNOBTAINABLE
    if 300 <= status < 400:
        return Reason.NUMBER_CHANGED
    if status in (603, 488):
        return Reason.CALL_REJECTED
    return Reason.CALL_FAILED


@dataclass
class Call:
    id: str
    account_key: str
    caller_agent_id: str
    created_at: datetime
    agent_phone: str
    destination_number: str | None = None  # as given
    destination_e164: str | None = None
    destination_agent_id: str | None = None
    destination_phone: str | None = None  # a destination agent's phone URI
    presented_clid: str | None = None  # as emitted
    presented_clid_e164: str | None = None
    from_telephone_number: str | None = None
    from_consent: Consent | None = None
    to_consent: Consent | None = None
    reference: str | None = None
    application: str | None = None
    phase: Phase = Phase.AGENT_RINGING
    recording_status: RecordingStatus = RecordingStatus.STOPPED
    recording_set_by_client: bool = False
    disposition_code: str | None = None
    result: CallResult | None = None
    agent_answered_at: datetime | None = None
    connected_at: datetime | None = None
    ended_at: datetime | None = None
    agent_timeout_s: float = 15.0
    destination_timeout_s: float = 60.0
    deadline_at: datetime | None = None
    deadline_tag: str | None = None
    engine: str = "simulator"
    node_id: str = ""

    @property
    def is_active(self) -> bool:
        return self.phase is not Phase.ENDED

    @property
    def agent_leg_connected(self) -> bool:
        return self.agent_answered_at is not None

    @property
    def destination_leg_connected(self) -> bool:
        return self.connected_at is not None

    def participants(self) -> tuple[str, ...]:
        if self.destination_agent_id is None:
            return (self.caller_agent_id,)
        return (self.caller_agent_id, self.destination_agent_id)

    def apply(self, trigger: Trigger, at: datetime) -> None:
        self.phase = next_phase(self.phase, trigger)
        if trigger is Trigger.AGENT_ANSWERED:
            self.agent_answered_at = at
        elif trigger is Trigger.DESTINATION_ANSWERED:
            self.connected_at = at
        elif trigger is Trigger.ENDED:
            self.ended_at = at
            self.deadline_at = None
            self.deadline_tag = None

    def apply_agent_answered(self, at: datetime) -> None:
        self.apply(Trigger.AGENT_ANSWERED, at)

    def connect(self, at: datetime, account_records: bool) -> None:
        """The destination answered: the parties are joined, and recording may start."""
        self.apply(Trigger.DESTINATION_ANSWERED, at)
        two_party = Consent.TWO_PARTY in (self.from_consent, self.to_consent)
        if account_records and not two_party and not self.recording_set_by_client:
            self.recording_status = RecordingStatus.STARTED

    def end(self, result: CallResult, at: datetime) -> None:
        self.apply(Trigger.ENDED, at)
        self.result = result
