"""``POST /v0/{account}/calls`` with an ``Idempotency-Key``: the answers the use-case keeps
(``service.idempotency``) go out and come back here as plain status, headers and body."""

from __future__ import annotations

from starlette.responses import Response

from switchboard.api.errors import error_response, status_for
from switchboard.api.v0 import render
from switchboard.api.v0.binding import bind_place_call
from switchboard.api.v0.request import V0Request
from switchboard.domain.errors import IdempotencyError, SwitchboardError
from switchboard.service import calls, idempotency
from switchboard.service.ports import IdempotentRequest, StoredResponse

# What a replay repeats of the first answer besides its status and body. Not the rate-limit
# headers: those describe the account now, and every answer gets its own.
KEPT_HEADERS = frozenset({"content-type", "location"})


def _stored(response: Response) -> StoredResponse:
    headers = tuple((k, v) for k, v in response.headers.items() if k in KEPT_HEADERS)
    return StoredResponse(response.status_code, headers, bytes(response.body))


async def place_call_once(req: V0Request, key: str) -> Response:
    idempotency.check_key(key)

    async def place(reservation: IdempotentRequest) -> StoredResponse:
        try:
            body = bind_place_call(req.body, req.version)
            call = await calls.place_call(req.ctx, req.account_key, body, reservation)
        except IdempotencyError:
            raise
        except SwitchboardError as exc:
            if status_for(exc) >= 500:
                raise  # not an answer to keep: the retry runs again
            return _stored(error_response(exc))
        return _stored(render.created(call, req.base_url))

    async def recover(call_id: str) -> StoredResponse:
        call = await calls.get_call(req.ctx, req.account_key, call_id)
        return _stored(render.created(call, req.base_url))

    stored, replayed = await idempotency.once(
        req.ctx, req.account_key, key, idempotency.fingerprint(req.body), place, recover
    )
    response = Response(stored.body, stored.status, headers=dict(stored.headers))
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
