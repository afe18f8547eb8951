"""Idempotent retries of a placement: the ``Idempotency-Key`` header
(draft-ietf-httpapi-idempotency-key-header).

A key belongs to its account and lives ``ttl`` (24 h by default) from its first request. The
first request with a key reserves it in the placement's own transaction (``calls.place_call``
with ``idempotent``), together with the id the call will get: two identical requests at once,
in one process or in two on one database, make exactly one reservation and so one call; the
other is told the key is in flight (409). Once answered, the answer is stored and every later
request with the key and the same request (``fingerprint``) gets it again, marked replayed;
the key with another request is refused (422).

Answers kept: every answer the placement gave, success or a 4xx (the draft: replay what was
answered; a client that wants another try sends another key). Not kept: a 5xx or a failure
of the service (raised through, nothing stored: the retry runs again), and the idempotency
errors themselves.

Once begun, the first request runs to its end even if its client leaves (``Detached``): the
retry it makes will find the answer rather than a key in flight for good.

Known holes: a process that dies between the placement's commit and storing the answer
leaves the key in flight; after ``IN_FLIGHT_GRACE_S`` a retry answers from the call reserved
with the key (its 201, rendered again), or, if that call is gone (it never started and was
undone), goes on answering 409 until the key expires. The race loser of two identical
requests is told 409 even when the winner has already answered; its next retry replays.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

import orjson

from switchboard.domain.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    NotFound,
    SwitchboardError,
)
from switchboard.service.context import Context
from switchboard.service.ids import new_call_id
from switchboard.service.ports import IdempotentRequest, StoredResponse

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255
# A first request older than this that has stored no answer is taken for lost (its process
# died after committing): a placement answers within seconds.
IN_FLIGHT_GRACE_S = 60.0

Place = Callable[[IdempotentRequest], Awaitable[StoredResponse]]
Recover = Callable[[str], Awaitable[StoredResponse]]


def check_key(key: str) -> str:
    """1 to 255 printable ASCII characters (the draft's key is an sf-string: this is its
    alphabet without the quotes and escapes, which clients send bare)."""
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise InvalidIdempotencyKey()
    return key


def fingerprint(body: bytes) -> str:
    """The request's identity: its JSON body parsed and written again with sorted keys and
    no spaces (so whitespace and member order do not matter), or its exact bytes when it is
    not JSON (it will be refused, and the refusal replayed)."""
    try:
        canonical = b"json:" + orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, TypeError):
        canonical = b"raw:" + body
    return hashlib.sha256(canonical).hexdigest()


def held_by_another(held: IdempotentRequest, fingerprint: str) -> SwitchboardError:
    """What a request is told when the key is held by another live request."""
    if held.fingerprint != fingerprint:
        return IdempotencyKeyReused()
    return IdempotencyKeyInFlight()


async def once(
    ctx: Context,
    account_key: str,
    key: str,
    fingerprint: str,
    place: Place,
    recover: Recover,
) -> tuple[StoredResponse, bool]:
    """The answer to a request sent with ``key``, and whether it is a replay. ``place`` runs
    the placement with the reservation to make (raising what must not be kept); ``recover``
    renders the answer of a placed call from its id."""
    now = ctx.clock.now()
    async with ctx.uow(write=False) as uow:
        held = await uow.idempotency.get(account_key, key, now)
    if held is not None:
        return await _held(ctx, held, fingerprint, recover), True
    request = IdempotentRequest(
        account_key=account_key,
        key=key,
        fingerprint=fingerprint,
        call_id=new_call_id(),
        created_at=now,
        expires_at=now + timedelta(seconds=ctx.idempotency_ttl_s),
    )
    return await ctx.detached.run(_first(ctx, request, place)), False


async def _first(ctx: Context, request: IdempotentRequest, place: Place) -> StoredResponse:
    response = await place(request)
    await _keep(ctx, request, response)
    return response


async def _keep(ctx: Context, request: IdempotentRequest, response: StoredResponse) -> None:
    """Store the answer: on the reservation the placement committed, or, when it rolled
    back (a refusal), as a new answered request unless another holds the key by now."""
    try:
        async with ctx.uow() as uow:
            keys = uow.idempotency
            if not await keys.answer(request.account_key, request.key, request.call_id, response):
                await keys.reserve(replace(request, response=response), ctx.clock.now())
            await uow.commit()
    except SwitchboardError:
        # The client gets its answer; a retry finds the key in flight, then recovered.
        log.exception("could not store the answer of idempotency key %r", request.key)


async def _held(
    ctx: Context, held: IdempotentRequest, fingerprint: str, recover: Recover
) -> StoredResponse:
    if held.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if held.response is not None:
        return held.response
    if ctx.clock.now() - held.created_at < timedelta(seconds=IN_FLIGHT_GRACE_S):
        raise IdempotencyKeyInFlight()
    try:
        response = await recover(held.call_id)
    except NotFound as exc:
        raise IdempotencyKeyInFlight() from exc
    await _keep(ctx, held, response)
    return response
