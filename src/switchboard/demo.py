"""The demo account of VCC's examples, for ``serve --demo``."""

from __future__ import annotations

import shlex

from switchboard.domain.agents import AgentState
from switchboard.domain.calls import CallResult, Party, Reason
from switchboard.domain.errors import AlreadyExists
from switchboard.service import agents, calls, provisioning
from switchboard.service.context import Context
from switchboard.service.progress import CallProgress
from switchboard.service.provisioning import AccountOptions, AgentOptions

DEMO_KEY = "a1b2c3d4e5"
DEMO_AGENTS = ("1234", "4567", "5464")
DEMO_GROUPS = {"030": ("1234", "4567", "5464"), "200": ("4567",), "400": ("5464",)}
DEMO_NUMBERS = ("01256636451", "08008888888")
FIRST_EXAMPLE = '{ "from": { "agentId": "1234" }, "to": { "telephoneNumber": "02072068888" } }'


async def prepare_demo(ctx: Context, base_url: str) -> list[tuple[str, str]]:
    """Make sure the demo account exists, end its open calls, set its agents Ready; return the
    lines to print: API token (when created), a bearer token and a curl command."""
    lines: list[tuple[str, str]] = []
    try:
        secret = await provisioning.create_account(ctx, DEMO_KEY, AccountOptions())
        lines.append(("API token", secret))
    except AlreadyExists:
        lines.append(
            (
                "API token",
                f"unchanged; `switchboard accounts new-api-token {DEMO_KEY}` makes a new one",
            )
        )
    for number in DEMO_NUMBERS:
        try:
            await provisioning.add_number(ctx, DEMO_KEY, number, default=number == DEMO_NUMBERS[0])
        except AlreadyExists:
            pass
    for agent_id in DEMO_AGENTS:
        try:
            await provisioning.add_agent(ctx, DEMO_KEY, agent_id, AgentOptions())
        except AlreadyExists:
            pass
    for group_id, members in DEMO_GROUPS.items():
        await provisioning.add_group(ctx, DEMO_KEY, group_id, members)
    progress = CallProgress(ctx)
    for call in await calls.list_calls(ctx, DEMO_KEY):
        if call.is_active:
            await progress.ended(call.id, CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED))
    for agent_id in DEMO_AGENTS:
        await agents.set_agent_state(ctx, DEMO_KEY, agent_id, AgentState.READY)
    bearer, _ = await provisioning.issue_operator_token(ctx, DEMO_KEY)
    lines.append(("Bearer token", bearer))
    curl = " ".join(
        [
            "curl -X POST",
            shlex.quote(f"{base_url}/v0/{DEMO_KEY}/calls/"),
            "-d",
            shlex.quote(FIRST_EXAMPLE),
            "-H",
            shlex.quote(f"Authorization: Bearer {bearer}"),
            "-H",
            shlex.quote("Content-Type: application/json; version=6"),
        ]
    )
    lines.append(("Try", curl))
    return lines
