"""Use-cases of the Interaction Content API (``interaction-content.md``): its tokens, the
search, one interaction, and its recording's bytes.

An interaction is a call placed through the V0 API with a finished recording; everything
shown comes from the recording's metadata (``service.ports.Recording``), which outlives the
call's own retention. A recording past its retention, another account's, one never made
(``TwoParty``, not recorded) or not finished yet is "not found", never "forbidden".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from switchboard.domain.errors import (
    ContentNotFound,
    ContentScopeMissing,
    InteractionNotFound,
    InvalidAccessToken,
    InvalidScope,
)
from switchboard.service.auth import check_client
from switchboard.service.content_query import SearchQuery
from switchboard.service.context import Context
from switchboard.service.ports import Recording

READ_SCOPE = "interaction-content:read"
# VCC's delete endpoints' scope: accepted on the token endpoint, grants nothing served here.
DELETE_SCOPE = "interaction-content:delete"
TOKEN_LIFETIME_S = 7200
CONTENT_KEY = "callRecording"
CONTENT_TYPE = "audio/wav"


async def issue_content_token(
    ctx: Context, client_id: str, secret: str, scope: str | None, address: str = ""
) -> tuple[str, int]:
    """Credentials first (401), then the scope (400), as the spec orders them."""
    generation = await check_client(ctx, client_id, secret, address)
    scopes = tuple((scope or "").split())
    if not scopes:
        raise InvalidScope("You must specify a scope")
    for name in scopes:
        if name not in (READ_SCOPE, DELETE_SCOPE):
            raise InvalidScope(f'"{name}" is an invalid scope')
    return ctx.tokens.issue(
        client_id,
        generation,
        ctx.clock.now(),
        scopes=tuple(dict.fromkeys(scopes)),
        lifetime_s=TOKEN_LIFETIME_S,
    )


async def content_reader(ctx: Context, token: str) -> str:
    """The account a bearer token reads for: 401 for a token not valid now (a new API token
    revokes it), 403 without the read scope, then 429 over the account's limit."""
    holder, generation, scopes = ctx.tokens.verify_scoped(token, ctx.clock.now())
    async with ctx.transaction(write=False) as uow:
        credentials = await uow.accounts.credentials(holder)
    if credentials is None or credentials[1] != generation:
        raise InvalidAccessToken(token_sent=True)
    if READ_SCOPE not in scopes:
        raise ContentScopeMissing()
    ctx.content_limit.admit(holder, ctx.clock.now().timestamp())
    return holder


@dataclass(frozen=True)
class Interaction:
    recording: Recording

    @property
    def guid(self) -> str:
        return self.recording.call_id

    @property
    def start(self) -> datetime:
        """When the call was placed, UTC, whole seconds."""
        placed = self.recording.placed_at or self.recording.started_at
        return placed.astimezone(UTC).replace(microsecond=0)

    @property
    def connect_from(self) -> str | None:
        return self.recording.presented_clid

    @property
    def connect_to(self) -> str | None:
        for party in self.recording.parties:
            if party.role != "agent":
                return party.number or party.agent_id
        return None

    @property
    def agent_ids(self) -> list[str]:
        """The calling agent, then a destination agent."""
        ordered = sorted(self.recording.parties, key=lambda p: p.role != "agent")
        return [p.agent_id for p in ordered if p.agent_id]

    def matches(self, query: SearchQuery) -> bool:
        if not query.start <= self.start <= query.end:
            return False
        if query.after is not None and (self.start, self.guid) <= (
            query.after.start,
            query.after.guid,
        ):
            return False
        if query.handling_agent_id is not None and query.handling_agent_id not in self.agent_ids:
            return False
        if query.connect_from is not None and not (self.connect_from or "").startswith(
            query.connect_from
        ):
            return False
        if query.connect_to is not None and not (self.connect_to or "").startswith(
            query.connect_to
        ):
            return False
        return query.direction in (None, "outbound")


async def search(
    ctx: Context, account_key: str, query: SearchQuery
) -> tuple[list[Interaction], str | None]:
    """One page, and the token of the next (None: nothing follows)."""
    if ctx.recordings is None:
        return [], None
    # The store lists by when recording started; an interaction's start is when its call was
    # placed, earlier: every recording of the account is looked at (the store's known hole).
    every = await ctx.recordings.list(account_key, limit=2**62)
    found = sorted(
        (
            item
            for item in map(Interaction, every)
            if _retained(ctx, item.recording) and item.matches(query)
        ),
        key=lambda item: (item.start, item.guid),
    )
    page = found[: query.limit]
    if len(found) <= query.limit:
        return page, None
    last = page[-1]
    return page, query.token_after(last.start, last.guid)


async def interaction(ctx: Context, account_key: str, guid: str) -> Interaction:
    recording = None
    if ctx.recordings is not None:
        recording = await ctx.recordings.get(account_key, guid)
    if recording is None or not _retained(ctx, recording):
        raise InteractionNotFound()
    return Interaction(recording)


def _retained(ctx: Context, recording: Recording) -> bool:
    """Past retention is gone even before the next purge (at most a minute away) deletes it."""
    limit = timedelta(seconds=ctx.recording_retention_s)
    return recording.ended_at + limit > ctx.clock.now()


async def open_content(
    ctx: Context, account_key: str, guid: str, content_key: str
) -> tuple[Interaction, BinaryIO]:
    """The recording's file, open (the caller closes it)."""
    found = await interaction(ctx, account_key, guid)
    if content_key.lower() != CONTENT_KEY.lower():
        raise ContentNotFound()
    assert ctx.recordings is not None  # interaction() found one
    audio = ctx.recordings.open_audio(account_key, guid)
    if audio is None:  # deleted since (retention)
        raise InteractionNotFound()
    return found, audio
