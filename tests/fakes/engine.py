"""A telephony engine that answers ``start`` as told and records what the service asked."""

from __future__ import annotations

import asyncio

from switchboard.domain.calls import Party, RecordingStatus
from switchboard.service.ports import CallSetup, CallSignals, StartOutcome


class ScriptedEngine:
    def __init__(
        self, name: str = "scripted", outcome: StartOutcome = StartOutcome.RINGING
    ) -> None:
        self.name = name
        self.outcome: StartOutcome | Exception = outcome
        self.started: list[CallSetup] = []
        self.deadlines: list[tuple[str, str]] = []
        self.hangups: list[tuple[str, Party]] = []
        self.signals: CallSignals | None = None
        self.closed = False
        self.held: list[str] = []  # what ``holding`` answers
        # When set, ``start`` waits for it, as a phone takes its time to ring. A start
        # cancelled while waiting gives the call up without a word, as the SIP engine does.
        self.gate: asyncio.Event | None = None
        self.abandoned: list[str] = []
        self.recordings: list[tuple[str, RecordingStatus]] = []
        # What ``record`` answers (None: what it was asked), as an engine that cannot record.
        self.records: RecordingStatus | None = None

    def bind(self, signals: CallSignals) -> None:
        self.signals = signals

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self.closed = True

    survives_restart = False
    consumes_deadlines = False

    def plan_start(self, setup: CallSetup) -> None:
        return None

    async def start(self, setup: CallSetup) -> StartOutcome:
        self.started.append(setup)
        if self.gate is not None:
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.abandoned.append(setup.call_id)
                raise
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    async def on_deadline(self, setup: CallSetup, tag: str) -> None:
        self.deadlines.append((setup.call_id, tag))

    async def record(self, setup: CallSetup, status: RecordingStatus) -> RecordingStatus:
        self.recordings.append((setup.call_id, status))
        return self.records if self.records is not None else status

    async def hangup(self, setup: CallSetup, by: Party) -> None:
        self.hangups.append((setup.call_id, by))

    def holding(self) -> list[str]:
        return list(self.held)
