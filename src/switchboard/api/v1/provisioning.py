"""Provisioning over ``/api/v1``, for the administrator: accounts, their API tokens, agents
and their state, groups, callback numbers. The same use-cases as the CLI
(``service.provisioning``, ``service.agents``)."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import Response

from switchboard.api.errors import json_response
from switchboard.api.v1.request import Operation, Route, V1Request, operation
from switchboard.api.v1.schemas import (
    AccountCreated,
    AccountIn,
    AccountList,
    AccountOut,
    AccountSettings,
    AgentIn,
    AgentList,
    AgentOut,
    AgentSettings,
    AgentStateIn,
    ApiToken,
    CallbackNumberIn,
    CallbackNumberList,
    CallbackNumberOut,
    GroupList,
    GroupMembersIn,
    GroupOut,
    agent_state,
    post_call_state,
)
from switchboard.service import agents, provisioning
from switchboard.service.provisioning import AccountOptions, AgentOptions


def _answer(model: BaseModel, status: int = 200) -> Response:
    body = model.model_dump(mode="json", by_alias=True)
    return json_response(body, status, {"Cache-Control": "no-store"})


def _account_options(body: AccountSettings) -> AccountOptions:
    return AccountOptions(
        country=body.country,
        region=body.region,
        ccxml=body.ccxml,
        record_calls=body.record_calls,
        wrapup_seconds=body.wrapup_seconds,
        agent_timeout_s=body.agent_timeout,
        destination_timeout_s=body.destination_timeout,
        post_call_state=post_call_state(body.post_call_state),
        enforce_dispositions=body.enforce_dispositions,
        outbound_in_wrapup=body.outbound_in_wrapup,
        allow_premium=body.allow_premium,
        deny_prefixes=body.deny_prefixes,
    )


def _agent_options(body: AgentSettings) -> AgentOptions:
    return AgentOptions(
        name=body.name,
        phone=body.phone,
        state=agent_state(body.state) if isinstance(body, AgentIn) else None,
        callback_number=body.callback_number,
        allowed_numbers=body.allowed_numbers,
    )


# --------------------------------------------------------------------------- accounts


@operation(Operation("List the accounts", {200: AccountList}))
async def list_accounts(req: V1Request) -> Response:
    found = await provisioning.list_accounts(req.ctx)
    return _answer(AccountList(accounts=[AccountOut.of(a) for a in found]))


@operation(Operation("Create an account", {201: AccountCreated}, body=AccountIn))
async def create_account(req: V1Request) -> Response:
    body = await req.parse(AccountIn)
    token = await provisioning.create_account(req.ctx, body.key, _account_options(body))
    account = await provisioning.get_account(req.ctx, body.key)
    return _answer(AccountCreated(account=AccountOut.of(account), api_token=token), 201)


@operation(Operation("An account", {200: AccountOut}))
async def get_account(req: V1Request) -> Response:
    return _answer(AccountOut.of(await provisioning.get_account(req.ctx, req.account_key)))


@operation(Operation("Change an account's settings", {200: AccountOut}, body=AccountSettings))
async def update_account(req: V1Request) -> Response:
    body = await req.parse(AccountSettings)
    account = await provisioning.update_account(req.ctx, req.account_key, _account_options(body))
    return _answer(AccountOut.of(account))


@operation(Operation("Issue a new API token (the old one stops working)", {200: ApiToken}))
async def new_api_token(req: V1Request) -> Response:
    token = await provisioning.new_api_token(req.ctx, req.account_key)
    return _answer(ApiToken(account_key=req.account_key, api_token=token))


# --------------------------------------------------------------------------- agents


@operation(Operation("List an account's agents", {200: AgentList}))
async def list_agents(req: V1Request) -> Response:
    found = await provisioning.list_agents(req.ctx, req.account_key)
    return _answer(AgentList(agents=[AgentOut.of(a) for a in found]))


@operation(Operation("Add an agent", {201: AgentOut}, body=AgentIn))
async def add_agent(req: V1Request) -> Response:
    body = await req.parse(AgentIn)
    agent = await provisioning.add_agent(req.ctx, req.account_key, body.id, _agent_options(body))
    return _answer(AgentOut.of(agent), 201)


@operation(Operation("An agent", {200: AgentOut}))
async def get_agent(req: V1Request) -> Response:
    agent = await provisioning.get_agent(req.ctx, req.account_key, req.params["agent"])
    return _answer(AgentOut.of(agent))


@operation(Operation("Change an agent", {200: AgentOut}, body=AgentSettings))
async def update_agent(req: V1Request) -> Response:
    body = await req.parse(AgentSettings)
    key, agent_id = req.account_key, req.params["agent"]
    agent = await provisioning.update_agent(req.ctx, key, agent_id, _agent_options(body))
    return _answer(AgentOut.of(agent))


@operation(Operation("Set an agent's state", {200: AgentOut}, body=AgentStateIn))
async def set_agent_state(req: V1Request) -> Response:
    body = await req.parse(AgentStateIn)
    state = agent_state(body.state)
    assert state is not None
    key, agent_id = req.account_key, req.params["agent"]
    return _answer(AgentOut.of(await agents.set_agent_state(req.ctx, key, agent_id, state)))


# --------------------------------------------------------------------------- groups, numbers


@operation(Operation("List an account's groups", {200: GroupList}))
async def list_groups(req: V1Request) -> Response:
    found = await provisioning.list_groups(req.ctx, req.account_key)
    return _answer(GroupList(groups=[GroupOut(id=g, members=m) for g, m in found.items()]))


@operation(Operation("A group", {200: GroupOut}))
async def get_group(req: V1Request) -> Response:
    group_id = req.params["group"]
    members = await provisioning.get_group(req.ctx, req.account_key, group_id)
    return _answer(GroupOut(id=group_id, members=members))


@operation(Operation("Create a group, or add members to it", {200: GroupOut}, body=GroupMembersIn))
async def add_group_members(req: V1Request) -> Response:
    body = await req.parse(GroupMembersIn)
    group_id = req.params["group"]
    members = await provisioning.add_group(req.ctx, req.account_key, group_id, body.members)
    return _answer(GroupOut(id=group_id, members=members))


@operation(Operation("List an account's callback numbers", {200: CallbackNumberList}))
async def list_numbers(req: V1Request) -> Response:
    account = await provisioning.get_account(req.ctx, req.account_key)
    numbers = [CallbackNumberOut.of(n) for n in account.callback_numbers]
    return _answer(CallbackNumberList(numbers=numbers))


@operation(Operation("Add a callback number", {201: CallbackNumberOut}, body=CallbackNumberIn))
async def add_number(req: V1Request) -> Response:
    body = await req.parse(CallbackNumberIn)
    added = await provisioning.add_number(
        req.ctx, req.account_key, body.number, default=body.default
    )
    return _answer(CallbackNumberOut.of(added), 201)


_ACCOUNT = "/api/v1/accounts/{account}"
ROUTES = (
    Route("/api/v1/accounts", "admin", {"GET": list_accounts, "POST": create_account}),
    Route(_ACCOUNT, "admin", {"GET": get_account, "PATCH": update_account}),
    Route(f"{_ACCOUNT}/api-token", "admin", {"POST": new_api_token}),
    Route(f"{_ACCOUNT}/agents", "admin", {"GET": list_agents, "POST": add_agent}),
    Route(f"{_ACCOUNT}/agents/{{agent}}", "admin", {"GET": get_agent, "PATCH": update_agent}),
    Route(f"{_ACCOUNT}/agents/{{agent}}/state", "admin", {"PUT": set_agent_state}),
    Route(f"{_ACCOUNT}/groups", "admin", {"GET": list_groups}),
    Route(f"{_ACCOUNT}/groups/{{group}}", "admin", {"GET": get_group}),
    Route(f"{_ACCOUNT}/groups/{{group}}/members", "admin", {"POST": add_group_members}),
    Route(f"{_ACCOUNT}/numbers", "admin", {"GET": list_numbers, "POST": add_number}),
)
