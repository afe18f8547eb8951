"""The simulator engine: the same lifecycle as a real call, with deterministic outcomes.

It keeps no state of its own: every step is a deadline persisted with the change it follows
(the first with the placement, through ``plan_start``; the next ones through the ``then`` of
``CallSignals``), and the call's phase comes back in the ``CallSetup``. So a restart loses no
timer, and the restarted process goes on driving its simulated calls.

Phones: ``sim:answer`` (default; after 1 s), ``sim:busy``, ``sim:noanswer``,
``sim:unreachable``, with ``?after=MS&talk=MS&hangup=MS``. Destination numbers whose E.164
digits end in 0486, 0408, 0404, 0603, 0503 are busy, do not answer, are unobtainable, reject
and fail; any other number answers after ``answer_ms``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from switchboard.domain.calls import (
    CallResult,
    EndedBy,
    Ending,
    Party,
    Phase,
    Reason,
    RecordingStatus,
)
from switchboard.domain.phones import SimPhone, parse_sim
from switchboard.service.ports import CallSetup, CallSignals, Deadline, StartOutcome

DEFAULT_ANSWER_MS = 1000

AGENT_ANSWER = "sim:agent_answer"
AGENT_NO_ANSWER = "sim:agent_no_answer"
DESTINATION_ANSWER = "sim:destination_answer"
DESTINATION_NO_ANSWER = "sim:destination_no_answer"
# The destination failed at once: its result, derived again from the setup, ends the call.
DESTINATION_FAILED = "sim:destination_failed"
HANGUP = "sim:hangup:"

_NUMBER_OUTCOMES = {
    "0486": Reason.NUMBER_BUSY,
    "0404": Reason.NUMBER_UNOBTAINABLE,
    "0603": Reason.CALL_REJECTED,
    "0503": Reason.CALL_FAILED,
}
_NUMBER_NO_ANSWER = "0408"


def _phone(uri: str | None) -> SimPhone:
    """Under the simulator, a phone that is not a ``sim:`` URI behaves like ``sim:answer``."""
    if uri is None or not uri.lower().startswith("sim:"):
        return SimPhone()
    try:
        return parse_sim(uri)
    except ValueError:
        return SimPhone("unreachable")


class SimulatorEngine:
    name = "simulator"
    # Its calls live in storage alone: a restarted process goes on driving them.
    survives_restart = True
    # Its reports name the deadline they answer, so need no separate claim.
    consumes_deadlines = True

    def __init__(
        self, now: Callable[[], datetime], answer_ms: int = 1000, talk_seconds: float = 60.0
    ) -> None:
        self._now = now
        self._answer_ms = answer_ms
        self._talk_seconds = talk_seconds
        self._signals: CallSignals | None = None

    def bind(self, signals: CallSignals) -> None:
        self._signals = signals

    @property
    def signals(self) -> CallSignals:
        if self._signals is None:
            raise RuntimeError("the simulator engine is not bound to the service")
        return self._signals

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        """Simulated calls live in storage; they outlive this process by design."""
        return None

    def _ring(
        self,
        phone: SimPhone,
        timeout_s: float,
        answer: str,
        no_answer: str,
        default_after_ms: int,
    ) -> Deadline:
        after_ms = phone.after_ms if phone.after_ms is not None else default_after_ms
        now = self._now()
        if phone.word == "noanswer" or after_ms > timeout_s * 1000:
            return Deadline(now + timedelta(seconds=timeout_s), no_answer)
        return Deadline(now + timedelta(milliseconds=after_ms), answer)

    def plan_start(self, setup: CallSetup) -> tuple[StartOutcome, Deadline | None]:
        phone = _phone(setup.agent_phone)
        if phone.word == "busy":
            return StartOutcome.AGENT_BUSY, None
        if phone.word == "unreachable":
            return StartOutcome.AGENT_UNREACHABLE, None
        first = self._ring(
            phone, setup.agent_timeout_s, AGENT_ANSWER, AGENT_NO_ANSWER, DEFAULT_ANSWER_MS
        )
        return StartOutcome.RINGING, first

    async def start(self, setup: CallSetup) -> StartOutcome:
        outcome, first = self.plan_start(setup)
        if first is not None:
            await self.signals.schedule(setup.call_id, first.due_at, first.tag)
        return outcome

    async def on_deadline(self, setup: CallSetup, tag: str) -> None:
        """Each report names the deadline it answers (``fired``), which it consumes in its
        own transaction: a deadline fires at least once and takes effect once."""
        signals, call_id, fired = self.signals, setup.call_id, setup.deadline
        if tag == AGENT_NO_ANSWER:
            result = CallResult.failure(Party.ORIGINATOR, Reason.NO_ANSWER)
            await signals.ended(call_id, result, fired=fired)
        elif tag == AGENT_ANSWER:
            dialled = self._dial_destination(setup)
            ringing = isinstance(dialled, Deadline)  # the destination rings once dialled
            if not isinstance(dialled, Deadline):
                # One report per deadline: ending the call in a second transaction would
                # leave it answered with no deadline if the process died in between.
                dialled = Deadline(self._now(), DESTINATION_FAILED)
            await signals.agent_answered(
                call_id, then=dialled, fired=fired, destination_ringing=ringing
            )
        elif tag == DESTINATION_FAILED:
            failed = self._dial_destination(setup)
            if isinstance(failed, Deadline):  # only if the setup changed: never in storage
                failed = CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED)
            await signals.ended(call_id, failed, fired=fired)
        elif tag == DESTINATION_NO_ANSWER:
            result = CallResult.failure(Party.DESTINATION, Reason.NO_ANSWER)
            await signals.ended(call_id, result, fired=fired)
        elif tag == DESTINATION_ANSWER:
            then = self._end_of_talk(setup)
            await signals.destination_answered(call_id, then=then, fired=fired)
        elif tag.startswith(HANGUP):
            result = CallResult.hung_up(Party(tag[len(HANGUP) :]))
            await signals.ended(call_id, result, fired=fired)
        else:
            result = CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED)
            await signals.ended(call_id, result, fired=fired)

    def _dial_destination(self, setup: CallSetup) -> Deadline | CallResult:
        """The destination's deadline (its answer or no-answer), or how the call ends now."""
        if setup.destination_e164 is not None:
            ending = setup.destination_e164[-4:]
            if ending in _NUMBER_OUTCOMES:
                return CallResult.failure(Party.DESTINATION, _NUMBER_OUTCOMES[ending])
            phone = SimPhone("noanswer") if ending == _NUMBER_NO_ANSWER else SimPhone()
            default_after = self._answer_ms
        else:
            phone = _phone(setup.destination_phone)
            default_after = DEFAULT_ANSWER_MS
        if phone.word in ("busy", "unreachable"):
            reason = Reason.NUMBER_BUSY if phone.word == "busy" else Reason.CALL_FAILED
            return CallResult.failure(Party.DESTINATION, reason)
        return self._ring(
            phone,
            setup.destination_timeout_s,
            DESTINATION_ANSWER,
            DESTINATION_NO_ANSWER,
            default_after,
        )

    def _end_of_talk(self, setup: CallSetup) -> Deadline:
        agent = _phone(setup.agent_phone)
        destination = (
            _phone(setup.destination_phone) if setup.destination_phone is not None else SimPhone()
        )
        # (milliseconds after connection, the party that hangs up)
        ends: list[tuple[float, Party]] = []
        if agent.hangup_ms is not None:
            ends.append((agent.hangup_ms, Party.ORIGINATOR))
        if destination.hangup_ms is not None:
            ends.append((destination.hangup_ms, Party.DESTINATION))
        if agent.talk_ms is not None:
            ends.append((agent.talk_ms, Party.DESTINATION))
        if destination.talk_ms is not None:
            ends.append((destination.talk_ms, Party.ORIGINATOR))
        if agent.talk_ms is None and destination.talk_ms is None:
            ends.append((self._talk_seconds * 1000, Party.DESTINATION))
        after_ms, party = min(ends, key=lambda end: end[0])
        return Deadline(self._now() + timedelta(milliseconds=after_ms), HANGUP + party.value)

    def holding(self) -> list[str]:
        return []  # nothing lives here: every call is in storage

    async def record(self, setup: CallSetup, status: RecordingStatus) -> RecordingStatus:
        """A simulated call records nothing real: the state is the V0 field as set."""
        return status

    async def hangup(self, setup: CallSetup, by: Party) -> None:
        if setup.phase is Phase.CONNECTED:
            result = CallResult.hung_up(by)
        else:
            result = CallResult.failure(by, Reason.NORMAL)
        # Asked for through the API or the CLI (directly, or as a hang-up deadline).
        await self.signals.ended(setup.call_id, result, ending=Ending(EndedBy.CLIENT))
