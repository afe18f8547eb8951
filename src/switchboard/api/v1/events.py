"""The event log and stream endpoints: parse, call the use-case, render (CloudEvents JSON,
built by ``service.cloudevents``)."""

from __future__ import annotations

from starlette.responses import Response

from switchboard.api.errors import json_response
from switchboard.api.v1.request import Operation, Query, Route, V1Request, operation
from switchboard.api.v1.schemas import CallEvents, EventPage
from switchboard.api.v1.sse import serve_stream
from switchboard.domain.errors import NotFound
from switchboard.service import event_log
from switchboard.service.cloudevents import cloud_event
from switchboard.service.ids import normalise_guid

EVENT_STREAM = "text/event-stream"
_CURSOR = Query(
    "after",
    "A position: the `next` of a page, or an event's stream id",
    {"type": "string", "pattern": "^[0-9]{1,18}$"},
)
_LIMIT = Query("limit", "Events per page", {"type": "integer"})


def _page(payload: object) -> Response:
    return json_response(payload, 200, {"Cache-Control": "no-store"})


def wants_stream(req: V1Request) -> bool:
    accept = req.headers.get("accept", "")
    return any(part.split(";")[0].strip().lower() == EVENT_STREAM for part in accept.split(","))


@operation(
    Operation(
        "A page of the account's events (or the stream, for Accept: text/event-stream)",
        {200: EventPage},
        query=(_CURSOR, _LIMIT),
        stream=True,
        errors=(410,),
    )
)
async def account_events(req: V1Request) -> Response | None:
    """A page of the account's events after ``after`` (0: from the oldest kept), or the
    stream when the client asks for ``text/event-stream``."""
    if wants_stream(req):
        await stream(req)
        return None
    after = event_log.parse_cursor(req.query.get("after")) or 0
    limit = event_log.parse_limit(req.query.get("limit"))
    found = await event_log.account_events(req.ctx, req.account_key, after, limit)
    next_cursor = found[-1].position if found else after
    return _page({"events": [cloud_event(each.event) for each in found], "next": str(next_cursor)})


@operation(Operation("A call's events, in order", {200: CallEvents}))
async def call_events(req: V1Request) -> Response:
    call_id = normalise_guid(req.params["call"])
    if call_id is None:
        raise NotFound()
    found = await event_log.call_events(req.ctx, req.account_key, call_id)
    return _page({"events": [cloud_event(each.event) for each in found]})


@operation(
    Operation(
        "The account's events as Server-Sent Events",
        {200: None},
        query=(_CURSOR,),
        stream=True,
        errors=(410,),
    )
)
async def stream(req: V1Request) -> None:
    """Server-Sent Events from after ``Last-Event-ID`` (a reconnecting client's), else after
    ``after``, else from now."""
    after = event_log.parse_cursor(req.headers.get("last-event-id"), name="Last-Event-ID")
    if after is None:
        after = event_log.parse_cursor(req.query.get("after"))
    if after is None:
        after = await event_log.latest_position(req.ctx, req.account_key)
    else:  # a client resuming: told before the stream opens if it has missed events
        await event_log.check_cursor(req.ctx, req.account_key, after)
    await serve_stream(req, after)
    return None


ROUTES = (
    Route("/api/v1/accounts/{account}/events", "account", {"GET": account_events}),
    Route("/api/v1/accounts/{account}/events/stream", "account", {"GET": stream}),
    Route("/api/v1/accounts/{account}/calls/{call}/events", "account", {"GET": call_events}),
)
