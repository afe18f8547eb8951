"""Calls over ``/api/v1``: an account's calls a page at a time, one call, and hang-up."""

from __future__ import annotations

from starlette.responses import Response

from switchboard.api.errors import json_response
from switchboard.api.v1.request import Operation, Query, Route, V1Request, operation
from switchboard.api.v1.schemas import CallOut, CallPage
from switchboard.domain.errors import NotFound
from switchboard.service import call_control, calls
from switchboard.service.call_control import MAX_LIMIT, parse_statuses, parse_time
from switchboard.service.ids import normalise_guid
from switchboard.service.ports import CallQuery

_STATUS_WORDS = ", ".join(call_control.STATUSES)
_TEXT = {"type": "string", "minLength": 1}
_TIME = {"type": "string", "format": "date-time"}
_FILTERS = (
    Query("status", f"Comma-separated: {_STATUS_WORDS}", _TEXT),
    Query("agent", "Calls the agent placed or was called on", _TEXT),
    Query("group", "Calls placed by the group's current members", _TEXT),
    Query("destination", "A number (any format the account's country reads) or agent id", _TEXT),
    Query("regarding", "The CRM reference given at placement", _TEXT),
    Query("from", "Placed at or after (RFC 3339)", _TIME),
    Query("until", "Placed before (RFC 3339)", _TIME),
    Query("limit", f"Calls per page, 1 to {MAX_LIMIT} (50)", {"type": "integer"}),
    Query("cursor", "The `next` of the previous page", _TEXT),
)


def _page(payload: object, status: int = 200) -> Response:
    return json_response(payload, status, {"Cache-Control": "no-store"})


def _call_id(req: V1Request) -> str:
    call_id = normalise_guid(req.params["call"])
    if call_id is None:
        raise NotFound()
    return call_id


async def _destination(req: V1Request, text: str) -> tuple[str | None, str | None]:
    return await call_control.destination(req.ctx, req.account_key, text)


@operation(Operation("List an account's calls, newest first", {200: CallPage}, query=_FILTERS))
async def list_calls(req: V1Request) -> Response:
    q = {name: value for name, value in req.query.items() if value != ""}
    query = CallQuery(
        account_key=req.account_key,
        limit=call_control.parse_limit(q.get("limit")),
        phases=parse_statuses(q["status"]) if "status" in q else None,
        agent_id=q.get("agent"),
        group_id=q.get("group"),
        destination=await _destination(req, q["destination"]) if "destination" in q else None,
        reference=q.get("regarding"),
        created_from=parse_time("from", q["from"]) if "from" in q else None,
        created_until=parse_time("until", q["until"]) if "until" in q else None,
    )
    page = await call_control.find_calls(req.ctx, query, q.get("cursor"))
    body = CallPage(calls=[CallOut.of(c) for c in page.calls], next=page.next_cursor)
    return _page(body.model_dump(mode="json", by_alias=True))


@operation(Operation("A call", {200: CallOut}))
async def get_call(req: V1Request) -> Response:
    call = await calls.get_call(req.ctx, req.account_key, _call_id(req))
    return _page(CallOut.of(call).model_dump(mode="json", by_alias=True))


@operation(
    Operation(
        "Hang a call up, in any state (idempotent)",
        {200: CallOut, 202: CallOut},
    )
)
async def hang_up(req: V1Request) -> Response:
    """200 with the ended call; 202 with the call still active when the node that holds it
    did not end it within the wait (it will: the request stays as its due deadline)."""
    call = await call_control.hang_up(req.ctx, req.account_key, _call_id(req))
    body = CallOut.of(call).model_dump(mode="json", by_alias=True)
    return _page(body, 202 if call.is_active else 200)


ROUTES = (
    Route("/api/v1/accounts/{account}/calls", "account", {"GET": list_calls}),
    Route("/api/v1/accounts/{account}/calls/{call}", "account", {"GET": get_call}),
    Route("/api/v1/accounts/{account}/calls/{call}/hangup", "account", {"POST": hang_up}),
)
