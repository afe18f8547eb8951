"""Use-cases on calls: place one, read it, control its recording, set its disposition, end it.

Placing runs the rules of section 3.1 in order: 1 to 13 in the domain, 14 to 19 here against
storage, all in one transaction whose reservations are atomic conditional updates; rule 20
needs the engine and runs after the commit. A request that fails leaves no trace.

The commit and what follows it run detached from the request (``Context.detached``): a request
cancelled before the commit rolls back; once committing, the call is started and driven, or
undone, whether or not its client still waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from switchboard.domain.accounts import Account
from switchboard.domain.agents import FREE_TO_CALL_OUT, Agent, AgentState
from switchboard.domain.calls import (
    Call,
    CallResult,
    EndedBy,
    Ending,
    Party,
    Reason,
    RecordingStatus,
)
from switchboard.domain.errors import (
    CallNotStarted,
    Messages,
    NotFound,
    RuleViolation,
    UnknownEntity,
)
from switchboard.domain.events import (
    AgentLegRinging,
    CallPlaced,
    DispositionSet,
    RecordingChanged,
    ending_events,
    of_call,
)
from switchboard.domain.phones import telephone_number_of
from switchboard.domain.placement import CheckedRequest, PlaceCallRequest, check_request
from switchboard.domain.wrapup import end_wrapup, undo_reservation, wrapup_may_end
from switchboard.service.context import Context
from switchboard.service.idempotency import held_by_another
from switchboard.service.ids import new_call_id
from switchboard.service.ports import CallSetup, IdempotentRequest, StartOutcome, UnitOfWork
from switchboard.service.recording import apply_recording, drivable

log = logging.getLogger(__name__)

HANGUP_TAG = "hangup:"
# Free group members read at first (one: the longest idle usually takes the call); more, eight
# times as many each round, only when it may not present the CLID or another process won it.
_FIRST_CANDIDATES = 1


async def _account(uow: UnitOfWork, key: str) -> Account:
    account = await uow.accounts.get(key, cached=True)
    if account is None:
        raise NotFound()
    return account


def _allowed_e164(ctx: Context, account: Account, agent: Agent) -> set[str]:
    numbers = set()
    for number in agent.allowed_numbers:
        info = ctx.numbers.parse(number, account.country)
        numbers.add(info.e164 if info is not None else number)
    return numbers


def _presented_clid(ctx: Context, account: Account, agent: Agent, sent: str | None) -> str | None:
    if sent:
        return sent
    if agent.callback_number:
        return agent.callback_number
    if agent.allowed_numbers:
        return agent.allowed_numbers[0]
    default = account.default_callback
    return default.number if default is not None else None


async def _choose_caller(
    ctx: Context, uow: UnitOfWork, account: Account, checked: CheckedRequest, call_id: str
) -> Agent:
    """Rules 14, 15, 17 and 18: find and atomically reserve the calling agent."""
    req = checked.request
    wrapup_ok = account.outbound_in_wrapup
    if req.from_agent_id:
        caller = await uow.agents.get(account.key, req.from_agent_id)
        if caller is None:
            raise RuleViolation(Messages.CALLER_UNKNOWN)
        if not caller.may_present(checked.clid_e164, _allowed_e164(ctx, account, caller)):
            raise RuleViolation(Messages.CLID_NOT_CONFIGURED)
        await _check_destination_agent_exists(uow, account, checked)
        if not await _reserve_caller(uow, account, caller.agent_id, call_id):
            raise RuleViolation(Messages.AGENT_BUSY)
        found: Agent = caller
        return found
    await _check_destination_agent_exists(uow, account, checked)
    if not await uow.groups.existing(account.key, checked.groups):
        raise RuleViolation(Messages.GROUP_UNKNOWN)
    # Free members come longest idle first, a few at a time: the first that may present the
    # CLID and is still free when reserved (another process may win it) is the caller.
    limit = _FIRST_CANDIDATES
    while True:
        free = await uow.agents.free_in_groups(
            account.key,
            checked.groups,
            wrapup_allowed=wrapup_ok,
            exclude=req.to_agent_id,
            limit=limit,
        )
        if not free:
            raise RuleViolation(Messages.AGENT_BUSY)
        eligible = [
            agent
            for agent in free
            if agent.may_present(checked.clid_e164, _allowed_e164(ctx, account, agent))
        ]
        for agent in eligible:  # a lost race for one candidate moves on to the next
            if await _reserve_caller(uow, account, agent.agent_id, call_id):
                return agent
        if len(free) < limit:
            break
        limit *= 8
    raise RuleViolation(Messages.AGENT_BUSY if eligible else Messages.CLID_NOT_CONFIGURED)


async def _reserve_caller(uow: UnitOfWork, account: Account, agent_id: str, call_id: str) -> bool:
    return await uow.agents.reserve(
        account.key,
        agent_id,
        call_id=call_id,
        busy_state=AgentState.BUSY_OUTGOING,
        free_states=tuple(FREE_TO_CALL_OUT),
        wrapup_allowed=account.outbound_in_wrapup,
    )


async def _check_destination_agent_exists(
    uow: UnitOfWork, account: Account, checked: CheckedRequest
) -> None:
    """Rule 16, which comes before the reservation of rule 18."""
    to_agent = checked.request.to_agent_id
    if to_agent and await uow.agents.get(account.key, to_agent) is None:
        raise RuleViolation(Messages.DESTINATION_AGENT_UNKNOWN)


async def place_call(
    ctx: Context,
    account_key: str,
    req: PlaceCallRequest,
    idempotent: IdempotentRequest | None = None,
) -> Call:
    """``idempotent``: the request's ``Idempotency-Key``, reserved in the placement's
    transaction (``service.idempotency``); the call gets the id reserved with it."""
    call_id = idempotent.call_id if idempotent is not None else new_call_id()
    async with contextlib.AsyncExitStack() as stack:
        uow = await stack.enter_async_context(ctx.transaction())
        if idempotent is not None:
            # First, before any rule: of two identical requests at once, one holds the key
            # and places the call; the other waits for it here (PostgreSQL) or queues behind
            # it (SQLite's writer) and is told the key is taken.
            held = await uow.idempotency.reserve(idempotent, ctx.clock.now())
            if held is not None:
                raise held_by_another(held, idempotent.fingerprint)
        call, planned = await _prepare(ctx, uow, account_key, req, call_id)
        # Until here a cancelled request rolls back and leaves no trace. From the commit on,
        # the placement runs to its end in a task of its own: a call committed is started and
        # driven, or undone, whether or not anyone still waits for the answer.
        transaction = stack.pop_all()
    return await ctx.detached.run(_commit_and_start(ctx, transaction, uow, call, planned))


async def _prepare(
    ctx: Context, uow: UnitOfWork, account_key: str, req: PlaceCallRequest, call_id: str
) -> tuple[Call, bool]:
    """Rules 1 to 19 and the new call, uncommitted; true when the engine planned its start."""
    account = await _account(uow, account_key)
    checked = check_request(req, account, ctx.numbers)
    caller = await _choose_caller(ctx, uow, account, checked, call_id)
    destination: Agent | None = None
    if req.to_agent_id:
        destination = await uow.agents.get(account.key, req.to_agent_id)
        assert destination is not None
        if destination.agent_id == caller.agent_id or not await uow.agents.reserve(
            account.key,
            destination.agent_id,
            call_id=call_id,
            busy_state=AgentState.BUSY_INTERNAL,
            free_states=(AgentState.READY,),
            wrapup_allowed=False,
        ):
            raise RuleViolation(Messages.DESTINATION_AGENT_UNAVAILABLE)
    clid = _presented_clid(ctx, account, caller, req.presented_clid)
    clid_e164 = checked.clid_e164
    if clid_e164 is None and clid:  # a default number: not parsed by rule 13
        clid_info = ctx.numbers.parse(clid, account.country)
        clid_e164 = clid_info.e164 if clid_info else None
    now = ctx.clock.now()
    call = Call(
        id=call_id,
        account_key=account.key,
        caller_agent_id=caller.agent_id,
        created_at=now,
        agent_phone=caller.phone,
        destination_number=req.to_telephone_number or None,
        destination_e164=checked.destination.e164 if checked.destination else None,
        destination_agent_id=destination.agent_id if destination else None,
        destination_phone=destination.phone if destination else None,
        presented_clid=clid,
        presented_clid_e164=clid_e164,
        from_telephone_number=telephone_number_of(caller.phone),
        from_consent=checked.from_consent,
        to_consent=checked.to_consent,
        reference=req.reference or None,
        application=req.application or None,
        agent_timeout_s=account.agent_timeout_s,
        destination_timeout_s=account.destination_timeout_s,
        engine=ctx.engine.name,
        node_id=ctx.node_id,
    )
    plan = ctx.engine.plan_start(CallSetup.of(call))
    if plan is not None:
        outcome, first = plan
        if outcome is not StartOutcome.RINGING:
            raise CallNotStarted(_not_started_message(outcome))  # rolls back: no trace
        if first is not None:
            call.deadline_at, call.deadline_tag = first.due_at, first.tag
    await uow.calls.add(call)
    uow.events.append(
        of_call(
            CallPlaced,
            call,
            now,
            agent_id=caller.agent_id,
            destination_number=call.destination_number,
            destination_agent_id=call.destination_agent_id,
            presented_clid=call.presented_clid,
            application=call.application,
            engine=call.engine,
        )
    )
    if plan is not None:  # the engine knows the agent's phone rings: committed with the call
        uow.events.append(of_call(AgentLegRinging, call, now, agent_id=caller.agent_id))
    return call, plan is not None


async def _commit_and_start(
    ctx: Context,
    transaction: contextlib.AsyncExitStack,
    uow: UnitOfWork,
    call: Call,
    planned: bool,
) -> Call:
    """The placement from its commit on (rule 20 after it); never cancelled by the request."""
    async with transaction:
        await uow.commit()
    if planned:
        if call.deadline_at is not None:
            ctx.wakeup.wake_at(call.deadline_at)
        return call
    try:
        outcome = await ctx.engine.start(CallSetup.of(call))
    except asyncio.CancelledError:
        # Only a closing process cancels this (after its grace): the call never started.
        await _forget(ctx, call, StartOutcome.AGENT_UNREACHABLE)
        raise
    except Exception:  # an engine failure is rule 20's "any other failure", never a 500
        log.exception("engine failed to start call %s", call.id)
        outcome = StartOutcome.AGENT_UNREACHABLE
    if outcome is not StartOutcome.RINGING:
        await _forget(ctx, call, outcome)
        raise CallNotStarted(_not_started_message(outcome))
    return call


def _not_started_message(outcome: StartOutcome) -> str:
    if outcome is StartOutcome.AGENT_BUSY:
        return Messages.AGENT_BUSY
    return Messages.AGENT_UNREACHABLE


async def _forget(ctx: Context, call: Call, outcome: StartOutcome) -> None:
    """Rule 20 answers 400, and a 400 leaves no trace in the calls and the agents. Its
    placement was committed and told, though: the log ends the call (``started`` false),
    unless the engine's own report ended it first."""
    async with ctx.transaction() as uow:
        stored = await uow.calls.get(call.id, for_update=True)
        if stored is not None and stored.is_active:
            now = ctx.clock.now()
            reason = (
                Reason.NUMBER_BUSY if outcome is StartOutcome.AGENT_BUSY else Reason.CALL_FAILED
            )
            stored.end(CallResult.failure(Party.ORIGINATOR, reason), now)
            by = EndedBy.AGENT if outcome is StartOutcome.AGENT_BUSY else EndedBy.SWITCHBOARD
            uow.events.extend(ending_events(stored, Ending(by), now, started=False))
        for agent_id in call.participants():
            agent = await uow.agents.get(call.account_key, agent_id, for_update=True)
            if agent is not None:
                undo_reservation(agent, call.id)
                await uow.agents.save(agent)
        await uow.calls.delete(call.id)
        await uow.commit()


async def _readable_call(
    ctx: Context, uow: UnitOfWork, account_key: str, call_id: str, *, for_update: bool = False
) -> Call:
    call = await uow.calls.get(call_id, for_update=for_update)
    if call is None or call.account_key != account_key or not ctx.retained(call):
        raise NotFound()
    return call


async def get_call(ctx: Context, account_key: str, call_id: str) -> Call:
    async with ctx.transaction(write=False) as uow:
        return await _readable_call(ctx, uow, account_key, call_id)


async def set_recording(ctx: Context, account_key: str, call_id: str, value: str | None) -> str:
    async with ctx.transaction() as uow:
        call = await _readable_call(ctx, uow, account_key, call_id, for_update=True)
        status = _recording_status(value)
        if not call.is_active:
            raise RuleViolation(Messages.CALL_NOT_IN_PROGRESS)
        call.recording_status = status
        call.recording_set_by_client = True
        await uow.calls.save(call)
        uow.events.append(
            of_call(RecordingChanged, call, ctx.clock.now(), recording_status=status.value)
        )
        await uow.commit()
    await apply_recording(ctx, call)
    return status.value


def _recording_status(value: str | None) -> RecordingStatus:
    for status in (RecordingStatus.PAUSED, RecordingStatus.STARTED):
        if value is not None and value.lower() == status.value.lower():
            return status
    raise RuleViolation(Messages.RECORDING_VALUE)


async def set_disposition(
    ctx: Context, account_key: str, call_id: str, code: str | None, agent_id: str | None
) -> str:
    async with ctx.transaction() as uow:
        call = await _readable_call(ctx, uow, account_key, call_id, for_update=True)
        if code is None or not code.strip():
            raise RuleViolation(Messages.DISPOSITION_MISSING)
        if len(code) > 255:
            raise RuleViolation(Messages.DISPOSITION_TOO_LONG)
        if len(code) < 3:
            raise RuleViolation(Messages.DISPOSITION_TOO_SHORT)
        if agent_id and agent_id not in call.participants():
            raise RuleViolation(Messages.NOT_A_PARTICIPANT)
        call.disposition_code = code
        await uow.calls.save(call)
        account = await _account(uow, account_key)
        now = ctx.clock.now()
        for participant in call.participants():
            agent = await uow.agents.get(account_key, participant, for_update=True)
            if agent is None or agent.awaiting_disposition != call.id:
                continue
            agent.awaiting_disposition = None
            if wrapup_may_end(agent, now):
                end_wrapup(agent, account)
            await uow.agents.save(agent)
        uow.events.append(
            of_call(DispositionSet, call, now, disposition_code=code, agent_id=agent_id or None)
        )
        await uow.commit()
    return code


async def end_call(
    ctx: Context, account_key: str, call_id: str, by: Party, *, wait_s: float = 5.0
) -> Call:
    """Hang a call up as if the agent (Originator) or the destination put the phone down.

    This process's engine ends the call itself when it may drive it (any simulator call, or
    a call this node placed); otherwise the request is left as a deadline due now for the
    node that owns the call, whose deadline loop is woken through its doorbell, and this
    waits up to ``wait_s`` for the call to end.
    """
    async with ctx.transaction(write=False) as uow:
        call = await _readable_call(ctx, uow, account_key, call_id)
    if not call.is_active:
        raise RuleViolation(Messages.CALL_NOT_IN_PROGRESS)
    if drivable(ctx, call):
        await ctx.engine.hangup(CallSetup.of(call), by)
    else:
        async with ctx.uow() as uow:
            await uow.calls.set_deadline(call.id, ctx.clock.now(), HANGUP_TAG + by.value)
            doorbell = await uow.nodes.doorbell(call.node_id)
            await uow.commit()
        # The serving process of that node id (this one, or another: a one-shot CLI process
        # shares the server's node id) wakes at its doorbell's ring.
        if doorbell is not None and ctx.doorbell is not None:
            await ctx.doorbell.ring(doorbell)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + wait_s
    while True:
        current = await get_call(ctx, account_key, call_id)
        if not current.is_active or loop.time() >= give_up:
            return current
        await asyncio.sleep(0.05)


async def list_calls(ctx: Context, account_key: str) -> list[Call]:
    async with ctx.transaction(write=False) as uow:
        if await uow.accounts.get(account_key) is None:
            raise UnknownEntity(f"unknown account {account_key!r}")
        return [c for c in await uow.calls.list(account_key) if ctx.retained(c)]
