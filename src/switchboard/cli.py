"""The operator commands (``../shared/spec/operations.md``): ``switchboard --help``.

Errors go to standard error with exit status 1 (bad input) or 2 (usage); a user's mistake
never prints a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from switchboard import __version__
from switchboard.cli_output import (
    account_row,
    agent_row,
    call_row,
    delivery_row,
    emit,
    webhook_row,
)
from switchboard.domain.agents import AgentState, PostCallState
from switchboard.domain.calls import Party
from switchboard.domain.errors import SwitchboardError
from switchboard.service import agents, calls, keys, provisioning, webhooks
from switchboard.service.provisioning import AccountOptions, AgentOptions

if TYPE_CHECKING:
    from switchboard.bootstrap import Runtime
    from switchboard.config import Settings

# Settings (pydantic), storage and the server are imported inside the commands that use
# them, so that ``--help`` and one-shot commands start fast.

T = TypeVar("T")


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def settings_of(ctx: click.Context, **overrides: Any) -> Settings:
    from switchboard.config import ConfigError, load_settings

    root = ctx.find_root().params
    try:
        return load_settings(
            root.get("config"),
            database_url=ctx.params.get("database") or root.get("database"),
            **overrides,
        )
    except ConfigError as exc:
        fail(str(exc))
        raise AssertionError from exc  # unreachable: fail() exits


def run(ctx: click.Context, action: Callable[[Runtime], Awaitable[T]]) -> T:
    """Build the runtime, run one use-case, close; translate our errors to exit status 1."""
    from switchboard.bootstrap import build
    from switchboard.config import ConfigError

    settings = settings_of(ctx)

    async def main() -> T:
        runtime = await build(settings, open_engine=False)
        try:
            return await action(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(main())
    except (ConfigError, SwitchboardError) as exc:
        fail(str(exc))
        raise AssertionError from exc


database_option = click.option(
    "--database", metavar="URL", help="SQLAlchemy URL (SWITCHBOARD_DATABASE_URL)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(dir_okay=False), help="A TOML settings file.")
@database_option
@click.version_option(__version__, prog_name="switchboard")
def main(config: str | None, database: str | None) -> None:
    """Switchboard: self-hosted call placement serving the VCC V0 call API."""


# --------------------------------------------------------------------------- serve


def _run_loop(main: Awaitable[None]) -> None:
    """The server's loop: uvloop where it is installed (a dependency), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        asyncio.run(main)  # type: ignore[arg-type]
        return
    uvloop.run(main)  # type: ignore[arg-type]


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--demo", is_flag=True, help="Provision the demo account of VCC's examples.")
@database_option
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, demo: bool, database: str | None) -> None:
    """Serve the V0 API (and drive calls) until interrupted."""
    from switchboard.config import ConfigError
    from switchboard.server import serve as run_server

    settings = settings_of(ctx)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        _run_loop(run_server(settings, host, port, demo))
    except (ConfigError, SwitchboardError, OSError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


# --------------------------------------------------------------------------- accounts


def account_options(create: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        opts = [
            click.option("--country", help="ISO country for national numbers (GB)."),
            click.option("--region", help="Region label (emea)."),
            click.option("--ccxml/--no-ccxml", default=None, help="Call control on or off."),
            click.option("--recording/--no-recording", default=None, help="Record calls."),
            click.option("--wrapup-seconds", type=float, help="Outbound wrap-up time (180)."),
            click.option(
                "--agent-timeout", type=float, help="Agent leg no-answer seconds, 1-180 (15)."
            ),
            click.option(
                "--destination-timeout", type=float, help="Destination no-answer seconds (60)."
            ),
            click.option(
                "--post-call-state",
                type=click.Choice(["Ready", "ReadyOutbound", "Unchanged"], case_sensitive=False),
            ),
            click.option("--enforce-dispositions/--no-enforce-dispositions", default=None),
            click.option("--outbound-in-wrapup/--no-outbound-in-wrapup", default=None),
            click.option("--allow-premium/--no-allow-premium", default=None),
            click.option("--deny-prefix", multiple=True, help="Refuse numbers with this prefix."),
            database_option,
        ]
        for opt in reversed(opts):
            f = opt(f)
        return f

    return decorate


def _account_options(params: dict[str, Any]) -> AccountOptions:
    post = params.get("post_call_state")
    return AccountOptions(
        country=params.get("country"),
        region=params.get("region"),
        ccxml=params.get("ccxml"),
        record_calls=params.get("recording"),
        wrapup_seconds=params.get("wrapup_seconds"),
        agent_timeout_s=params.get("agent_timeout"),
        destination_timeout_s=params.get("destination_timeout"),
        post_call_state=PostCallState.parse(post) if post else None,
        enforce_dispositions=params.get("enforce_dispositions"),
        outbound_in_wrapup=params.get("outbound_in_wrapup"),
        allow_premium=params.get("allow_premium"),
        deny_prefixes=list(params["deny_prefix"]) if params.get("deny_prefix") else None,
    )


@main.group()
def accounts() -> None:
    """Accounts and their API tokens."""


@accounts.command("create")
@click.argument("key")
@account_options(create=True)
@click.pass_context
def accounts_create(ctx: click.Context, /, key: str, **params: Any) -> None:
    """Create an account; prints its API authentication token."""
    secret = run(ctx, lambda rt: provisioning.create_account(rt.ctx, key, _account_options(params)))
    click.echo(secret)


@accounts.command("set")
@click.argument("key")
@account_options(create=False)
@click.pass_context
def accounts_set(ctx: click.Context, /, key: str, **params: Any) -> None:
    """Change an account's settings."""
    run(ctx, lambda rt: provisioning.update_account(rt.ctx, key, _account_options(params)))


@accounts.command("new-api-token")
@click.argument("key")
@database_option
@click.pass_context
def accounts_new_api_token(ctx: click.Context, key: str, database: str | None) -> None:
    """Make a new API token; access tokens issued before it stop working."""
    click.echo(run(ctx, lambda rt: provisioning.new_api_token(rt.ctx, key)))


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True)
@database_option
@click.pass_context
def accounts_list(ctx: click.Context, as_json: bool, database: str | None) -> None:
    """List accounts and their settings."""
    found = run(ctx, lambda rt: provisioning.list_accounts(rt.ctx))
    rows = [account_row(a) for a in found]
    emit(
        rows,
        as_json,
        ["key", "region", "country", "ccxml", "recordCalls", "wrapupSeconds", "callbackNumbers"],
    )


# --------------------------------------------------------------------------- agents


@main.group("agents")
def agents_group() -> None:
    """Agents, their phones and states."""


def _state(value: str | None) -> AgentState | None:
    if value is None:
        return None
    try:
        return AgentState.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="STATE") from exc


@agents_group.command("add")
@click.argument("key")
@click.argument("agent_id")
@click.option("--name")
@click.option("--phone", metavar="URI", help="sip:, tel: or sim: URI (default sim:answer).")
@click.option("--state", default=None, help="Initial state (Ready).")
@click.option("--callback-number", metavar="N", help="Default callback number.")
@click.option("--allowed-number", "allowed", multiple=True, metavar="N")
@database_option
@click.pass_context
def agents_add(ctx: click.Context, /, key: str, agent_id: str, **params: Any) -> None:
    """Add an agent to an account."""
    options = AgentOptions(
        name=params["name"],
        phone=params["phone"],
        state=_state(params["state"]),
        callback_number=params["callback_number"],
        allowed_numbers=params["allowed"] or None,
    )
    run(ctx, lambda rt: provisioning.add_agent(rt.ctx, key, agent_id, options))


@agents_group.command("set")
@click.argument("key")
@click.argument("agent_id")
@click.option("--name")
@click.option("--phone", metavar="URI")
@click.option("--callback-number", metavar="N")
@click.option("--allowed-number", "allowed", multiple=True, metavar="N")
@database_option
@click.pass_context
def agents_set(ctx: click.Context, /, key: str, agent_id: str, **params: Any) -> None:
    """Change an agent's name, phone or callback numbers."""
    options = AgentOptions(
        name=params["name"],
        phone=params["phone"],
        callback_number=params["callback_number"],
        allowed_numbers=params["allowed"] or None,
    )
    run(ctx, lambda rt: provisioning.update_agent(rt.ctx, key, agent_id, options))


@agents_group.command("state", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("agent_id")
@click.argument("state")
@database_option
@click.pass_context
def agents_state(
    ctx: click.Context, key: str, agent_id: str, state: str, database: str | None
) -> None:
    """Set an agent's state (a name in any case, or its code)."""
    parsed = _state(state)
    assert parsed is not None
    run(ctx, lambda rt: agents.set_agent_state(rt.ctx, key, agent_id, parsed))


@agents_group.command("list")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True)
@database_option
@click.pass_context
def agents_list(ctx: click.Context, key: str, as_json: bool, database: str | None) -> None:
    """List an account's agents."""
    found = run(ctx, lambda rt: provisioning.list_agents(rt.ctx, key))
    rows = [agent_row(a) for a in found]
    emit(rows, as_json, ["id", "name", "state", "phone", "currentCall"])


# --------------------------------------------------------------------------- groups, numbers


@main.group()
def groups() -> None:
    """Agent groups."""


@groups.command("add")
@click.argument("key")
@click.argument("group_id")
@click.argument("agent_ids", nargs=-1, required=True)
@database_option
@click.pass_context
def groups_add(
    ctx: click.Context, key: str, group_id: str, agent_ids: tuple[str, ...], database: str | None
) -> None:
    """Create a group, or add members to it."""
    run(ctx, lambda rt: provisioning.add_group(rt.ctx, key, group_id, agent_ids))


@groups.command("list")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True)
@database_option
@click.pass_context
def groups_list(ctx: click.Context, key: str, as_json: bool, database: str | None) -> None:
    """List an account's groups."""
    found = run(ctx, lambda rt: provisioning.list_groups(rt.ctx, key))
    emit([{"id": g, "members": m} for g, m in found.items()], as_json, ["id", "members"])


@main.group()
def numbers() -> None:
    """Callback numbers."""


@numbers.command("add")
@click.argument("key")
@click.argument("number")
@click.option("--default", "is_default", is_flag=True, help="Make it the account's default.")
@database_option
@click.pass_context
def numbers_add(
    ctx: click.Context, key: str, number: str, is_default: bool, database: str | None
) -> None:
    """Add a callback number to an account."""
    run(ctx, lambda rt: provisioning.add_number(rt.ctx, key, number, default=is_default))


# --------------------------------------------------------------------------- calls, token


@main.group("calls")
def calls_group() -> None:
    """Calls in progress and retained."""


@calls_group.command("list")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True)
@database_option
@click.pass_context
def calls_list(ctx: click.Context, key: str, as_json: bool, database: str | None) -> None:
    """List an account's calls, newest first."""
    found = run(ctx, lambda rt: calls.list_calls(rt.ctx, key))
    rows = [call_row(c) for c in found]
    emit(rows, as_json, ["id", "agentId", "to", "phase", "result"])


@calls_group.command("end")
@click.argument("key")
@click.argument("call_id")
@click.option(
    "--by", type=click.Choice(["agent", "destination"]), default="agent", show_default=True
)
@database_option
@click.pass_context
def calls_end(ctx: click.Context, key: str, call_id: str, by: str, database: str | None) -> None:
    """Hang a call up as if the agent or the destination put the phone down."""
    from switchboard.service.ids import normalise_guid

    guid = normalise_guid(call_id)
    if guid is None:
        fail(f"call id: not a GUID: {call_id!r}")
    party = Party.ORIGINATOR if by == "agent" else Party.DESTINATION
    ended = run(ctx, lambda rt: calls.end_call(rt.ctx, key, str(guid), party))
    if ended.is_active:
        fail(f"call {ended.id} has not ended yet: is the server that placed it running?")


@main.command()
@click.argument("key")
@database_option
@click.pass_context
def token(ctx: click.Context, key: str, database: str | None) -> None:
    """Print a fresh bearer access token for an account."""
    access, _ = run(ctx, lambda rt: provisioning.issue_operator_token(rt.ctx, key))
    click.echo(access)


# --------------------------------------------------------------------------- keys


@main.group("keys")
def keys_group() -> None:
    """The keys that sign access tokens (a key file, or SWITCHBOARD_SECRET_KEY)."""


@keys_group.command("rotate")
@click.option(
    "--retire-now",
    is_flag=True,
    help="Old keys stop verifying at once (a leaked key): every token issued before fails.",
)
@database_option
@click.pass_context
def keys_rotate(ctx: click.Context, retire_now: bool, database: str | None) -> None:
    """Make a new signing key; tokens signed by the old one work until they expire."""

    async def rotate(rt: Runtime) -> Any:
        return keys.rotate_signing_key(rt.ctx, retire_now=retire_now)

    done = run(ctx, rotate)
    click.echo(f"signing key: {done.new_kid}")
    for kid, until in sorted(done.retiring.items()):
        click.echo(f"verifying until {until.isoformat(timespec='seconds')}: {kid}")
    for kid in done.dropped:
        click.echo(f"dropped: {kid}")


# --------------------------------------------------------------------------- webhooks


@main.group("webhooks")
def webhooks_group() -> None:
    """Webhook subscriptions: signed CloudEvents POSTed to a receiver (docs/events.md)."""


@webhooks_group.command("add")
@click.argument("key")
@click.argument("url")
@click.option(
    "--events",
    metavar="TYPE,...",
    help="Only these event types (call.ended or com.switchboard.call.ended); default: all.",
)
@click.option(
    "--secret",
    metavar="BASE64",
    help="The signing key in Base64 (16 to 512 bytes); default: a new random key, printed.",
)
@database_option
@click.pass_context
def webhooks_add(
    ctx: click.Context,
    key: str,
    url: str,
    events: str | None,
    secret: str | None,
    database: str | None,
) -> None:
    """Subscribe URL to the account's events; prints the subscription id (and the key)."""
    types = [part for part in (events or "").split(",") if part.strip()]
    added = run(ctx, lambda rt: webhooks.add_subscription(rt.ctx, key, url, types, secret))
    click.echo(f"subscription: {added.subscription.id}")
    if added.generated_secret is not None:
        click.echo(f"secret: {added.generated_secret}")


@webhooks_group.command("list")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True)
@database_option
@click.pass_context
def webhooks_list(ctx: click.Context, key: str, as_json: bool, database: str | None) -> None:
    """List an account's subscriptions."""
    found = run(ctx, lambda rt: webhooks.list_subscriptions(rt.ctx, key))
    emit([webhook_row(s) for s in found], as_json, ["id", "url", "events", "createdAt"])


@webhooks_group.command("remove")
@click.argument("key")
@click.argument("subscription_id")
@database_option
@click.pass_context
def webhooks_remove(
    ctx: click.Context, key: str, subscription_id: str, database: str | None
) -> None:
    """Remove a subscription (and its delivery log)."""
    run(ctx, lambda rt: webhooks.remove_subscription(rt.ctx, key, subscription_id))
    click.echo(f"removed: {subscription_id}")


@webhooks_group.command("deliveries")
@click.argument("key")
@click.argument("subscription_id")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
@database_option
@click.pass_context
def webhooks_deliveries(
    ctx: click.Context,
    key: str,
    subscription_id: str,
    limit: int,
    as_json: bool,
    database: str | None,
) -> None:
    """A subscription's delivery log, newest first."""
    found = run(ctx, lambda rt: webhooks.deliveries(rt.ctx, key, subscription_id, limit))
    columns = ["eventId", "attempt", "status", "responseCode", "error", "startedAt"]
    emit([delivery_row(d) for d in found], as_json, columns)


@webhooks_group.command("redeliver")
@click.argument("key")
@click.argument("subscription_id")
@click.argument("event_id")
@database_option
@click.pass_context
def webhooks_redeliver(
    ctx: click.Context, key: str, subscription_id: str, event_id: str, database: str | None
) -> None:
    """Send an event to the subscription again (a running server does, within a second)."""
    run(ctx, lambda rt: webhooks.redeliver(rt.ctx, key, subscription_id, event_id))
    click.echo(f"queued: {event_id}")
