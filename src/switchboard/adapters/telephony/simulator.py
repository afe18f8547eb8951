"""The simulator engine: the same lifecycle as a real call, with deterministic outcomes.

It keeps no state of its own: every step is a deadline persisted through
``CallSignals.schedule``, and the call's phase comes back in the ``CallSetup``. So any process
on the same database can drive a simulated call, and a restart loses no timer.

Phones: ``sim:answer`` (default; after 1 s), ``sim:busy``, ``sim:noanswer``,
``sim:unreachable``, with ``?after=MS&talk=MS&hangup=MS``. Destination numbers whose E.164
digits end in 0486, 0408, 0404, 0603, 0503 are busy, do not answer, are unobtainable, reject
and fail; any other number answers after ``answer_ms``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from switchboard.domain.calls import CallResult, Party, Phase, Reason
from switchboard.domain.phones import SimPhone, parse_sim
from switchboard.service.ports import CallSetup, CallSignals, StartOutcome

DEFAULT_ANSWER_MS = 1000

AGENT_ANSWER = "sim:agent_answer"
AGENT_NO_ANSWER = "sim:agent_no_answer"
DESTINATION_ANSWER = "sim:destination_answer"
DESTINATION_NO_ANSWER = "sim:destination_no_answer"
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

    async def _ring(
        self,
        call_id: str,
        phone: SimPhone,
        timeout_s: float,
        answer: str,
        no_answer: str,
        default_after_ms: int,
    ) -> None:
        after_ms = phone.after_ms if phone.after_ms is not None else default_after_ms
        now = self._now()
        if phone.word == "noanswer" or after_ms > timeout_s * 1000:
            await self.signals.schedule(call_id, now + timedelta(seconds=timeout_s), no_answer)
        else:
            await self.signals.schedule(call_id, now + timedelta(milliseconds=after_ms), answer)

    async def start(self, setup: CallSetup) -> StartOutcome:
        phone = _phone(setup.agent_phone)
        if phone.word == "busy":
            return StartOutcome.AGENT_BUSY
        if phone.word == "unreachable":
            return StartOutcome.AGENT_UNREACHABLE
        await self._ring(
            setup.call_id,
            phone,
            setup.agent_timeout_s,
            AGENT_ANSWER,
            AGENT_NO_ANSWER,
            DEFAULT_ANSWER_MS,
        )
        return StartOutcome.RINGING

    async def on_deadline(self, setup: CallSetup, tag: str) -> None:
        signals = self.signals
        if tag == AGENT_NO_ANSWER:
            await signals.ended(
                setup.call_id, CallResult.failure(Party.ORIGINATOR, Reason.NO_ANSWER)
            )
        elif tag == AGENT_ANSWER:
            await signals.agent_answered(setup.call_id)
            await self._dial_destination(setup)
        elif tag == DESTINATION_NO_ANSWER:
            await signals.ended(
                setup.call_id, CallResult.failure(Party.DESTINATION, Reason.NO_ANSWER)
            )
        elif tag == DESTINATION_ANSWER:
            await signals.destination_answered(setup.call_id)
            await self._schedule_end(setup)
        elif tag.startswith(HANGUP):
            await signals.ended(setup.call_id, CallResult.hung_up(Party(tag[len(HANGUP) :])))
        else:
            await signals.ended(
                setup.call_id, CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED)
            )

    async def _dial_destination(self, setup: CallSetup) -> None:
        signals = self.signals
        if setup.destination_e164 is not None:
            ending = setup.destination_e164[-4:]
            if ending in _NUMBER_OUTCOMES:
                await signals.ended(
                    setup.call_id,
                    CallResult.failure(Party.DESTINATION, _NUMBER_OUTCOMES[ending]),
                )
                return
            phone = SimPhone("noanswer") if ending == _NUMBER_NO_ANSWER else SimPhone()
            default_after = self._answer_ms
        else:
            phone = _phone(setup.destination_phone)
            default_after = DEFAULT_ANSWER_MS
        if phone.word in ("busy", "unreachable"):
            reason = Reason.NUMBER_BUSY if phone.word == "busy" else Reason.CALL_FAILED
            await signals.ended(setup.call_id, CallResult.failure(Party.DESTINATION, reason))
            return
        await self._ring(
            setup.call_id,
            phone,
            setup.destination_timeout_s,
            DESTINATION_ANSWER,
            DESTINATION_NO_ANSWER,
            default_after,
        )

    async def _schedule_end(self, setup: CallSetup) -> None:
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
        await self.signals.schedule(
            setup.call_id, self._now() + timedelta(milliseconds=after_ms), HANGUP + party.value
        )

    async def hangup(self, setup: CallSetup, by: Party) -> None:
        if setup.phase is Phase.CONNECTED:
            result = CallResult.hung_up(by)
        else:
            result = CallResult.failure(by, Reason.NORMAL)
        await self.signals.ended(setup.call_id, result)
