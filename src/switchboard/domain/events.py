"""What happened, named in the past tense. Webhook and stream payloads are built from these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Event:
    account_key: str
    at: datetime


@dataclass(frozen=True)
class CallPlaced(Event):
    call_id: str
    agent_id: str


@dataclass(frozen=True)
class AgentLegAnswered(Event):
    call_id: str
    agent_id: str


@dataclass(frozen=True)
class CallConnected(Event):
    call_id: str


@dataclass(frozen=True)
class CallEnded(Event):
    call_id: str
    code: str
    party: str
    reason: str


@dataclass(frozen=True)
class RecordingChanged(Event):
    call_id: str
    recording_status: str


@dataclass(frozen=True)
class DispositionSet(Event):
    call_id: str
    disposition_code: str


@dataclass(frozen=True)
class AgentStateChanged(Event):
    agent_id: str
    state: str
    previous: str
