"""Use-cases on the outbox: a call's events, an account's events after a cursor, and
waiting for more (the stream).

A cursor is the position of the last event seen, in decimal: positions grow in commit order
within an account (not consecutively: one count serves every account), so "after N" misses
nothing and repeats nothing, however many processes write, as long as what followed N is
still kept. When some of it has been purged (retention), the reader is told
(``EventsExpired``) rather than served what is left: cursor 0 means "from the oldest kept"
and never expires.
"""

from __future__ import annotations

from switchboard.domain.errors import EventsExpired, InvalidParameter, NotFound
from switchboard.domain.events import LoggedEvent
from switchboard.service.context import Context
from switchboard.service.ports import UnitOfWork

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def parse_cursor(text: str | None, *, name: str = "after") -> int | None:
    """``None`` when absent; ``InvalidParameter`` for anything but a position."""
    if text is None:
        return None
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise InvalidParameter(f"{name}: expected a cursor (a position from an event's id)")
    return int(text)


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text[:5]) <= MAX_LIMIT:
        raise InvalidParameter(f"limit: expected a whole number from 1 to {MAX_LIMIT}")
    return int(text)


async def call_events(ctx: Context, account_key: str, call_id: str) -> list[LoggedEvent]:
    """The call's events in order; ``NotFound`` for a call the account never had (or whose
    events are past their retention)."""
    async with ctx.transaction(write=False) as uow:
        found = await uow.outbox.of_call(account_key, call_id)
        if found:
            return found
        call = await uow.calls.get(call_id)
    if call is None or call.account_key != account_key:
        raise NotFound()
    return []


async def account_events(
    ctx: Context, account_key: str, after: int, limit: int
) -> list[LoggedEvent]:
    """The account's events after the cursor; ``EventsExpired`` when some that followed it
    were purged."""
    async with ctx.transaction(write=False) as uow:
        await _still_kept(uow, account_key, after)
        return await uow.outbox.after(account_key, after, limit)


async def check_cursor(ctx: Context, account_key: str, after: int) -> None:
    """``EventsExpired`` when events that followed ``after`` were purged."""
    async with ctx.transaction(write=False) as uow:
        await _still_kept(uow, account_key, after)


async def _still_kept(uow: UnitOfWork, account_key: str, after: int) -> None:
    if after and after < await uow.outbox.purged_through(account_key):
        raise EventsExpired()


async def latest_position(ctx: Context, account_key: str) -> int:
    async with ctx.transaction(write=False) as uow:
        return await uow.outbox.last_position(account_key)
