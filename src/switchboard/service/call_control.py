"""Switchboard's own call control: finding an account's calls a page at a time, and hanging
a call up whatever its state."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from switchboard.domain.agents import is_agent_id
from switchboard.domain.calls import Call, Party, Phase
from switchboard.domain.errors import InvalidParameter, RuleViolation
from switchboard.service import calls
from switchboard.service.context import Context
from switchboard.service.ports import CallQuery

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

# The status filter's words: one per phase, and ``active`` for every phase but the last.
STATUSES: dict[str, tuple[Phase, ...]] = {
    **{phase.value: (phase,) for phase in Phase},
    "active": tuple(p for p in Phase if p is not Phase.ENDED),
}


@dataclass(frozen=True)
class CallPage:
    calls: list[Call]
    next_cursor: str | None  # None: this is the last page


def encode_cursor(call: Call) -> str:
    """Opaque to clients: the last call's (created_at, id), in URL-safe Base64."""
    raw = f"{call.created_at.astimezone(UTC).isoformat()}|{call.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        created, call_id = raw.split("|", 1)
        at = datetime.fromisoformat(created)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidParameter("cursor: not a cursor this API gave") from exc
    if at.tzinfo is None or not call_id:
        raise InvalidParameter("cursor: not a cursor this API gave")
    return at, call_id


def parse_statuses(text: str) -> tuple[Phase, ...]:
    """A comma-separated list of status words."""
    found: list[Phase] = []
    for word in (w.strip().lower() for w in text.split(",")):
        if word not in STATUSES:
            known = ", ".join(STATUSES)
            raise InvalidParameter(f"status: expected one or more of {known}, got {word!r}")
        found += [p for p in STATUSES[word] if p not in found]
    return tuple(found)


def parse_time(name: str, text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidParameter(f"{name}: expected an ISO 8601 time, got {text!r}") from exc
    if at.tzinfo is None:
        raise InvalidParameter(f"{name}: give the time zone (e.g. Z or +01:00)")
    return at


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text[:5]) <= MAX_LIMIT:
        raise InvalidParameter(f"limit: expected a whole number from 1 to {MAX_LIMIT}")
    return int(text)


async def destination(ctx: Context, account_key: str, text: str) -> tuple[str | None, str | None]:
    """The destination filter: the number read as at placement (in the account's country)
    when it is one, and the text as a destination agent's id when it may be one."""
    async with ctx.transaction(write=False) as uow:
        account = await uow.accounts.get(account_key, cached=True)
    info = ctx.numbers.parse(text, account.country if account else "GB")
    e164 = info.e164 if info is not None and info.valid else None
    agent_id = text if is_agent_id(text) else None
    if e164 is None and agent_id is None:
        return text, None  # matches nothing stored, as the client would expect
    return e164, agent_id


async def find_calls(ctx: Context, query: CallQuery, cursor: str | None = None) -> CallPage:
    """One page, newest first; the cursor continues after the page's last call. Calls past
    their retention are left out (they may still be in storage until the purge)."""
    if cursor is not None:
        query = replace(query, before=decode_cursor(cursor))
    texts = [query.agent_id, query.group_id, query.reference, *(query.destination or ())]
    if any(text is not None and "\x00" in text for text in texts):
        # No stored value has a NUL (PostgreSQL cannot even compare one): nothing matches.
        return CallPage([], None)
    # One more than asked tells whether another page follows without a second query.
    async with ctx.transaction(write=False) as uow:
        found = await uow.calls.find(replace(query, limit=query.limit + 1))
    page = found[: query.limit]
    more = len(found) > query.limit
    kept = [call for call in page if ctx.retained(call)]
    return CallPage(kept, encode_cursor(page[-1]) if more and page else None)


async def hang_up(ctx: Context, account_key: str, call_id: str, *, wait_s: float = 5.0) -> Call:
    """End the call as if the agent put the phone down, in whatever state it is: the engine
    sends CANCEL to a ringing leg and BYE to an answered one (through the owner node's
    doorbell when another node holds the dialogs). Idempotent: an ended call is answered as
    it is. Returns the call as it stands after at most ``wait_s`` (still active only when the
    owner node did not act in time)."""
    call = await calls.get_call(ctx, account_key, call_id)
    if not call.is_active:
        return call
    try:
        return await calls.end_call(ctx, account_key, call_id, Party.ORIGINATOR, wait_s=wait_s)
    except RuleViolation:  # it ended between the read and the hang-up
        return await calls.get_call(ctx, account_key, call_id)
