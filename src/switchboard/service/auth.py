"""Tokens: API credentials for bearer access tokens, and checking a bearer for an account."""

from __future__ import annotations

import hmac

from switchboard.domain.accounts import is_account_key
from switchboard.domain.errors import (
    AccountForbidden,
    InvalidAccessToken,
    InvalidClient,
    NotFound,
)
from switchboard.service.context import Context


async def issue_access_token(
    ctx: Context, client_id: str, secret: str, address: str = ""
) -> tuple[str, int]:
    """``address``: the client's, for the guessing limit (``service.guessing``)."""
    generation = await check_client(ctx, client_id, secret, address)
    return ctx.tokens.issue(client_id, generation, ctx.clock.now())


async def check_client(ctx: Context, client_id: str, secret: str, address: str = "") -> int:
    """The account's token generation when ``secret`` is its API token; else
    ``InvalidClient`` (a failure counted by the guessing limit)."""
    attempt = ctx.guessing.admit(client_id, address, ctx.clock.now().timestamp())
    if not is_account_key(client_id):  # names no account; never sent to the database
        attempt.failed(ctx.clock.now().timestamp())
        raise InvalidClient()
    try:
        async with ctx.transaction(write=False) as uow:
            credentials = await uow.accounts.credentials(client_id)
    except BaseException:
        attempt.succeeded()  # not a wrong guess: storage failed (or the request was dropped)
        raise
    if credentials is None or not ctx.hasher.matches(secret, credentials[0]):
        attempt.failed(ctx.clock.now().timestamp())
        raise InvalidClient()
    attempt.succeeded()
    return credentials[1]


async def authorise(ctx: Context, token: str, account_key: str) -> None:
    """401 for a token that is not valid now (revoked generations included), then 403 for a
    valid token on another account's path, whether or not that account exists."""
    holder, generation = ctx.tokens.verify(token, ctx.clock.now())
    async with ctx.transaction(write=False) as uow:
        credentials = await uow.accounts.credentials(holder)
    if credentials is None or credentials[1] != generation:
        raise InvalidAccessToken(token_sent=True)
    if holder != account_key:
        raise AccountForbidden()


def authorise_admin(ctx: Context, token: str) -> None:
    """The provisioning API's credential: ``NotFound`` while no administrator token is
    configured (the API is off and says nothing of itself), 401 for any other token. Compared
    in constant time, as bytes (``compare_digest`` on str takes ASCII only)."""
    if ctx.admin_token is None:
        raise NotFound()
    if not token or not hmac.compare_digest(token.encode(), ctx.admin_token.encode()):
        raise InvalidAccessToken(token_sent=bool(token))
