"""Use-cases on agents: details for the API, states by hand, and the end of wrap-up."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.domain.agents import Agent, AgentState, is_agent_id, set_state_by_hand
from switchboard.domain.errors import NotFound, UnknownEntity
from switchboard.domain.events import AgentStateChanged
from switchboard.domain.wrapup import end_wrapup, wrapup_may_end
from switchboard.service.context import Context


@dataclass(frozen=True)
class AgentDetail:
    agent_id: str
    current_call_id: str | None


async def agent_detail(ctx: Context, account_key: str, agent_id: str) -> AgentDetail:
    """The agent's current call, else its latest call still retained."""
    if not is_agent_id(agent_id):  # no agent has such an id (a NUL, a letter, 12 digits)
        raise NotFound()
    async with ctx.transaction(write=False) as uow:
        agent = await uow.agents.get(account_key, agent_id)
        if agent is None:
            raise NotFound()
        if agent.current_call_id is not None:
            return AgentDetail(agent.agent_id, agent.current_call_id)
        latest = await uow.calls.latest_for_agent(account_key, agent_id)
        if latest is not None and ctx.retained(latest):
            return AgentDetail(agent.agent_id, latest.id)
        return AgentDetail(agent.agent_id, None)


async def set_agent_state(
    ctx: Context, account_key: str, agent_id: str, state: AgentState
) -> Agent:
    async with ctx.transaction() as uow:
        agent = await uow.agents.get(account_key, agent_id, for_update=True)
        if agent is None:
            raise UnknownEntity(f"unknown agent {agent_id!r} in account {account_key!r}")
        previous = agent.state
        set_state_by_hand(agent, state)
        await uow.agents.save(agent)
        if previous is not state:
            uow.events.append(
                AgentStateChanged(
                    account_key=account_key,
                    at=ctx.clock.now(),
                    agent_id=agent_id,
                    state=state.label,
                    previous=previous.label,
                )
            )
        await uow.commit()
        return agent


async def finish_due_wrapups(ctx: Context) -> int:
    """Move agents whose wrap-up has run out (and owe no disposition) to the post-call state."""
    now = ctx.clock.now()
    async with ctx.uow(write=False) as uow:
        due = await uow.agents.due_wrapups(now)
    finished = 0
    for account_key, agent_id in due:
        async with ctx.transaction() as uow:
            agent = await uow.agents.get(account_key, agent_id, for_update=True)
            account = await uow.accounts.get(account_key, cached=True)
            if agent is None or account is None or not wrapup_may_end(agent, now):
                continue
            end_wrapup(agent, account)
            await uow.agents.save(agent)
            uow.events.append(
                AgentStateChanged(
                    account_key=account_key,
                    at=now,
                    agent_id=agent_id,
                    state=agent.state.label,
                    previous=AgentState.WRAPUP.label,
                )
            )
            await uow.commit()
            finished += 1
    return finished
