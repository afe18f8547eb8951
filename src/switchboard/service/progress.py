"""The service side of ``CallSignals``: each report from an engine is one transaction.

Everything that happens at the end of a call (status, result, agent states, a zero wrap-up)
is committed together. Reports about a call that has ended, or that no longer exists (rule 20
forgot it), are ignored: engines may race with hang-ups and timers.
"""

from __future__ import annotations

import logging
from datetime import datetime

from switchboard.domain.calls import Call, CallResult, Ending, Phase, RecordingStatus
from switchboard.domain.events import (
    AgentLegAnswered,
    AgentLegRinging,
    AgentStateChanged,
    CallConnected,
    CallEvent,
    DestinationAnswered,
    DestinationRinging,
    RecordingChanged,
    ending_events,
    of_call,
)
from switchboard.domain.wrapup import release_after_call
from switchboard.service.context import Context
from switchboard.service.ports import Deadline, UnitOfWork
from switchboard.service.recording import apply_recording
from switchboard.service.simulated_recording import keep_simulated_recording

log = logging.getLogger(__name__)


class CallProgress:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def schedule(self, call_id: str, due_at: datetime, tag: str) -> None:
        async with self._ctx.uow() as uow:
            call = await uow.calls.get(call_id, for_update=True)
            if call is None or not call.is_active:
                return
            await uow.calls.set_deadline(call_id, due_at, tag)
            await uow.commit()
        self._ctx.wakeup.wake_at(due_at)

    async def agent_ringing(self, call_id: str) -> None:
        await self._ringing(call_id, Phase.AGENT_RINGING)

    async def destination_ringing(self, call_id: str) -> None:
        await self._ringing(call_id, Phase.DESTINATION_RINGING)

    async def _ringing(self, call_id: str, phase: Phase) -> None:
        """Only an event: a ringing phone changes nothing stored but its call's log."""
        async with self._ctx.transaction() as uow:
            call = await uow.calls.get(call_id, for_update=True)
            if call is None or call.phase is not phase:
                return
            now = self._ctx.clock.now()
            event: CallEvent
            if phase is Phase.AGENT_RINGING:
                event = of_call(AgentLegRinging, call, now, agent_id=call.caller_agent_id)
            else:
                event = of_call(DestinationRinging, call, now)
            uow.events.append(event)
            await uow.commit()

    async def agent_answered(
        self,
        call_id: str,
        then: Deadline | None = None,
        fired: Deadline | None = None,
        *,
        destination_ringing: bool = False,
    ) -> None:
        async with self._ctx.transaction() as uow:
            call = await uow.calls.get(call_id, for_update=True)
            if (
                call is None
                or self._foreign(call)
                or not await self._consumes(uow, call, fired, Phase.AGENT_RINGING)
            ):
                return
            now = self._ctx.clock.now()
            call.apply_agent_answered(now)
            _set_next(call, then, fired)
            await uow.calls.save(call)
            uow.events.append(of_call(AgentLegAnswered, call, now, agent_id=call.caller_agent_id))
            if destination_ringing:
                uow.events.append(of_call(DestinationRinging, call, now))
            await uow.commit()
        if then is not None:
            self._ctx.wakeup.wake_at(then.due_at)

    async def destination_answered(
        self, call_id: str, then: Deadline | None = None, fired: Deadline | None = None
    ) -> None:
        async with self._ctx.transaction() as uow:
            call = await uow.calls.get(call_id, for_update=True)
            if (
                call is None
                or self._foreign(call)
                or not await self._consumes(uow, call, fired, Phase.DESTINATION_RINGING)
            ):
                return
            account = await uow.accounts.get(call.account_key, cached=True)
            now = self._ctx.clock.now()
            recording = call.recording_status
            call.connect(now, account.record_calls if account else False)
            _set_next(call, then, fired)
            await uow.calls.save(call)
            uow.events.append(of_call(DestinationAnswered, call, now))
            uow.events.append(of_call(CallConnected, call, now))
            if call.recording_status is not recording:  # the account records its calls
                status = call.recording_status.value
                uow.events.append(of_call(RecordingChanged, call, now, recording_status=status))
            await uow.commit()
        if then is not None:
            self._ctx.wakeup.wake_at(then.due_at)
        if call.recording_status is not RecordingStatus.STOPPED:
            await apply_recording(self._ctx, call)

    async def ended(
        self,
        call_id: str,
        result: CallResult,
        fired: Deadline | None = None,
        ending: Ending | None = None,
    ) -> None:
        async with self._ctx.transaction() as uow:
            call = await uow.calls.get(call_id, for_update=True)
            if (
                call is None
                or not call.is_active
                or self._foreign(call)
                or not self._still_due(call, fired)
            ):
                return
            account = await uow.accounts.get(call.account_key, cached=True)
            now = self._ctx.clock.now()
            call.end(result, now)
            await uow.calls.save(call)
            # The terminal event: this transaction is the only one that ends the call (it
            # reads the call locked, and only an active call ends).
            uow.events.extend(ending_events(call, ending or Ending.of(result), now))
            released = []
            for agent_id in call.participants():
                agent = await uow.agents.get(call.account_key, agent_id, for_update=True)
                if agent is None or account is None:
                    continue
                previous = agent.state
                release_after_call(agent, account, call, now)
                await uow.agents.save(agent)
                released.append(agent)
                if agent.state is not previous:
                    uow.events.append(
                        AgentStateChanged(
                            account_key=call.account_key,
                            at=now,
                            agent_id=agent_id,
                            state=agent.state.label,
                            previous=previous.label,
                        )
                    )
            wrapups = [a.wrapup_until for a in released if a.wrapup_until is not None]
            await uow.commit()
        for until in wrapups:
            self._ctx.wakeup.wake_at(until)
        if call.engine == "simulator" and self._ctx.recordings is not None:
            try:
                await keep_simulated_recording(self._ctx, call)
            except Exception:  # the call has ended all the same; the operator must know
                log.exception("call %s: its simulated recording could not be kept", call.id)

    def _foreign(self, call: Call) -> bool:
        """A call this node's engine holds live state for (a SIP dialog) but that is another
        node's now: a survivor took it over while this node was silent, and decides how it
        ends. (Any node may end a simulator call: its state is all in storage.)"""
        engine = self._ctx.engine
        return (
            call.node_id != self._ctx.node_id
            and call.engine == engine.name
            and not engine.survives_restart
        )

    def _still_due(self, call: Call, fired: Deadline | None) -> bool:
        """A report for a deadline counts only while that deadline is still the call's and
        the call still this node's: another report (or a hang-up) has dealt with it
        otherwise, or a surviving node took the call over while this one was silent."""
        if fired is None:
            return True
        return (
            call.deadline_at == fired.due_at
            and (call.deadline_tag or "") == fired.tag
            and call.node_id == self._ctx.node_id
        )

    async def _consumes(
        self, uow: UnitOfWork, call: Call, fired: Deadline | None, phase: Phase
    ) -> bool:
        """Whether the report applies: the deadline it answers is still due, and the call is
        in the phase it moves on from. A due deadline that no longer fits the phase is
        cleared, so that it never fires again."""
        if not self._still_due(call, fired):
            return False
        if call.phase is phase:
            return True
        if fired is not None and call.is_active:
            call.deadline_at = call.deadline_tag = None
            await uow.calls.save(call)
            await uow.commit()
        return False


def _set_next(call: Call, then: Deadline | None, fired: Deadline | None = None) -> None:
    """The engine's next deadline, committed with the change it follows; a deadline the
    report answers is spent."""
    if then is not None:
        call.deadline_at, call.deadline_tag = then.due_at, then.tag
    elif fired is not None:
        call.deadline_at = call.deadline_tag = None
