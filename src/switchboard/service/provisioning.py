"""The operator's use-cases: accounts, agents, groups and callback numbers.

Input is checked here, with messages that name the field, because the CLI is not the only
caller (the demo set-up and the tests use these too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from switchboard.domain.accounts import AGENT_TIMEOUT_RANGE, Account, CallbackNumber, is_account_key
from switchboard.domain.agents import (
    Agent,
    AgentState,
    PostCallState,
    is_agent_id,
    set_state_by_hand,
)
from switchboard.domain.errors import AlreadyExists, ProvisioningError, UnknownEntity
from switchboard.domain.groups import is_group_id
from switchboard.domain.phones import check_phone_uri
from switchboard.service.context import Context
from switchboard.service.ports import UnitOfWork


@dataclass(frozen=True)
class AccountOptions:
    """Every field left ``None`` keeps the current (or default) value."""

    country: str | None = None
    region: str | None = None
    ccxml: bool | None = None
    record_calls: bool | None = None
    wrapup_seconds: float | None = None
    agent_timeout_s: float | None = None
    destination_timeout_s: float | None = None
    post_call_state: PostCallState | None = None
    enforce_dispositions: bool | None = None
    outbound_in_wrapup: bool | None = None
    allow_premium: bool | None = None
    deny_prefixes: list[str] | None = None


def _apply(account: Account, options: AccountOptions) -> Account:
    changes: dict[str, Any] = {
        f.name: getattr(options, f.name)
        for f in fields(options)
        if getattr(options, f.name) is not None
    }
    updated = replace(account, **changes)
    updated.country = updated.country.upper()
    if len(updated.country) != 2 or not updated.country.isalpha():
        raise ProvisioningError(f"country: expected a two-letter ISO code, got {updated.country!r}")
    low, high = AGENT_TIMEOUT_RANGE
    if not low <= updated.agent_timeout_s <= high:
        raise ProvisioningError(f"agent timeout: must be {low:g} to {high:g} seconds")
    if updated.destination_timeout_s <= 0:
        raise ProvisioningError("destination timeout: must be more than 0 seconds")
    if updated.wrapup_seconds < 0:
        raise ProvisioningError("wrap-up seconds: must not be negative")
    for prefix in updated.deny_prefixes:
        if not prefix or not all(c.isdigit() or c == "+" for c in prefix):
            raise ProvisioningError(f"deny prefix: expected digits, got {prefix!r}")
    return updated


async def _get_account(uow: UnitOfWork, key: str) -> Account:
    account = await uow.accounts.get(key)
    if account is None:
        raise UnknownEntity(f"unknown account {key!r}")
    return account


async def create_account(ctx: Context, key: str, options: AccountOptions) -> str:
    """Returns the new API authentication token (only its hash is stored)."""
    if not is_account_key(key):
        raise ProvisioningError(f"account key: expected 1 to 64 letters and digits, got {key!r}")
    account = _apply(Account(key=key), options)
    secret = ctx.hasher.new_secret()
    async with ctx.transaction() as uow:
        await uow.accounts.add(account, ctx.hasher.hash(secret))
        await uow.commit()
    return secret


async def update_account(ctx: Context, key: str, options: AccountOptions) -> Account:
    async with ctx.transaction() as uow:
        account = _apply(await _get_account(uow, key), options)
        await uow.accounts.save(account)
        await uow.commit()
    return account


async def new_api_token(ctx: Context, key: str) -> str:
    secret = ctx.hasher.new_secret()
    async with ctx.transaction() as uow:
        await _get_account(uow, key)
        await uow.accounts.rotate_api_token(key, ctx.hasher.hash(secret))
        await uow.commit()
    return secret


async def list_accounts(ctx: Context) -> list[Account]:
    async with ctx.transaction(write=False) as uow:
        return await uow.accounts.list()


async def get_account(ctx: Context, key: str) -> Account:
    async with ctx.transaction(write=False) as uow:
        return await _get_account(uow, key)


async def issue_operator_token(ctx: Context, key: str) -> tuple[str, int]:
    async with ctx.transaction(write=False) as uow:
        credentials = await uow.accounts.credentials(key)
    if credentials is None:
        raise UnknownEntity(f"unknown account {key!r}")
    return ctx.tokens.issue(key, credentials[1], ctx.clock.now())


def _callback_e164(ctx: Context, account: Account, number: str) -> str:
    info = ctx.numbers.parse(number, account.country)
    if info is None or not info.valid:
        raise ProvisioningError(f"number: {number!r} is not a valid number in {account.country}")
    return info.e164


async def add_number(
    ctx: Context, key: str, number: str, *, default: bool = False
) -> CallbackNumber:
    async with ctx.transaction() as uow:
        account = await _get_account(uow, key)
        e164 = _callback_e164(ctx, account, number)
        if account.callback_by_e164(e164) is not None:
            raise AlreadyExists(f"callback number {number!r} already exists in {key!r}")
        first = not account.callback_numbers
        added = CallbackNumber(number, e164, is_default=default or first)
        others = [replace(n, is_default=False) if default else n for n in account.callback_numbers]
        account.callback_numbers = [*others, added]
        await uow.accounts.save(account)
        await uow.commit()
    return added


@dataclass(frozen=True)
class AgentOptions:
    name: str | None = None
    phone: str | None = None
    state: AgentState | None = None
    callback_number: str | None = None
    allowed_numbers: Sequence[str] | None = None


def _apply_agent(ctx: Context, account: Account, agent: Agent, options: AgentOptions) -> None:
    if options.name is not None:
        agent.name = options.name
    if options.phone is not None:
        try:
            agent.phone = check_phone_uri(options.phone)
        except ValueError as exc:
            raise ProvisioningError(f"phone: {exc}") from exc
    if options.state is not None:
        set_state_by_hand(agent, options.state)
    if options.callback_number is not None:
        agent.callback_number = options.callback_number
    if options.allowed_numbers is not None:
        agent.allowed_numbers = list(options.allowed_numbers)
    known = {n.e164 for n in account.callback_numbers}
    for number in [agent.callback_number, *agent.allowed_numbers]:
        if number is not None and _callback_e164(ctx, account, number) not in known:
            raise ProvisioningError(
                f"callback number: {number!r} is not a callback number of {account.key!r}"
            )
    if agent.allowed_numbers and agent.callback_number is not None:
        allowed = {_callback_e164(ctx, account, n) for n in agent.allowed_numbers}
        if _callback_e164(ctx, account, agent.callback_number) not in allowed:
            raise ProvisioningError("allowed numbers: must include the default callback number")


async def add_agent(ctx: Context, key: str, agent_id: str, options: AgentOptions) -> Agent:
    if not is_agent_id(agent_id):
        raise ProvisioningError(f"agent id: expected 1 to 11 digits, got {agent_id!r}")
    async with ctx.transaction() as uow:
        account = await _get_account(uow, key)
        agent = Agent(account_key=key, agent_id=agent_id)
        _apply_agent(ctx, account, agent, options)
        await uow.agents.add(agent)
        await uow.commit()
    return agent


async def update_agent(ctx: Context, key: str, agent_id: str, options: AgentOptions) -> Agent:
    async with ctx.transaction() as uow:
        account = await _get_account(uow, key)
        agent = await uow.agents.get(key, agent_id, for_update=True)
        if agent is None:
            raise UnknownEntity(f"unknown agent {agent_id!r} in account {key!r}")
        _apply_agent(ctx, account, agent, replace(options, state=None))
        await uow.agents.save(agent)
        await uow.commit()
    return agent


async def list_agents(ctx: Context, key: str) -> list[Agent]:
    async with ctx.transaction(write=False) as uow:
        await _get_account(uow, key)
        return await uow.agents.list(key)


async def add_group(ctx: Context, key: str, group_id: str, agent_ids: Sequence[str]) -> list[str]:
    if not is_group_id(group_id):
        raise ProvisioningError(
            f"group id: expected a non-empty id without spaces or control characters,"
            f" got {group_id!r}"
        )
    async with ctx.transaction() as uow:
        await _get_account(uow, key)
        for agent_id in agent_ids:
            if await uow.agents.get(key, agent_id) is None:
                raise UnknownEntity(f"unknown agent {agent_id!r} in account {key!r}")
        await uow.groups.add_members(key, group_id, agent_ids)
        members = (await uow.groups.members(key, [group_id]))[group_id]
        await uow.commit()
    return members


async def list_groups(ctx: Context, key: str) -> dict[str, list[str]]:
    async with ctx.transaction(write=False) as uow:
        await _get_account(uow, key)
        return await uow.groups.list(key)


async def get_agent(ctx: Context, key: str, agent_id: str) -> Agent:
    async with ctx.transaction(write=False) as uow:
        await _get_account(uow, key)
        agent = await uow.agents.get(key, agent_id)
    if agent is None:
        raise UnknownEntity(f"unknown agent {agent_id!r} in account {key!r}")
    return agent


async def get_group(ctx: Context, key: str, group_id: str) -> list[str]:
    async with ctx.transaction(write=False) as uow:
        await _get_account(uow, key)
        if not await uow.groups.existing(key, [group_id]):
            raise UnknownEntity(f"unknown group {group_id!r} in account {key!r}")
        return (await uow.groups.members(key, [group_id]))[group_id]
