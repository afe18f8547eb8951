"""Switchboard's own API under ``/api/v1``: the event log and the event stream.

Authenticated with the V0 bearer tokens, for the account in the path (401 without a valid
token, 403 for another account's). Errors are ``{"code": ..., "message": ...}`` with a stable
code (``api.errors.V1_CODES``). Paths match exactly (this API has no VCC past to be lenient
for), with or without a trailing slash.

    GET /api/v1/accounts/{key}/events?after=CURSOR&limit=N    a page, and the ``next`` cursor
    GET /api/v1/accounts/{key}/events   (Accept: text/event-stream)   the stream
    GET /api/v1/accounts/{key}/events/stream                          the stream
    GET /api/v1/accounts/{key}/calls/{id}/events                      a call's events
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from switchboard.api.bearer import bearer
from switchboard.api.errors import v1_error, v1_error_response
from switchboard.api.v1 import events
from switchboard.api.v1.request import V1Request
from switchboard.domain.errors import InvalidParameter, SwitchboardError
from switchboard.service.auth import authorise
from switchboard.service.context import Context

log = logging.getLogger(__name__)

V1_PREFIX = "/api/v1/"


# A handler answers with a response, or ``None`` when it has answered itself (a stream).
Handler = Callable[[V1Request], Awaitable[Response | None]]

_SEGMENT = "([^/]+)"
ROUTES: tuple[tuple[re.Pattern[str], tuple[str, ...], Handler], ...] = (
    (
        re.compile(f"/api/v1/accounts/{_SEGMENT}/events"),
        ("account",),
        events.account_events,
    ),
    (
        re.compile(f"/api/v1/accounts/{_SEGMENT}/events/stream"),
        ("account",),
        events.stream,
    ),
    (
        re.compile(f"/api/v1/accounts/{_SEGMENT}/calls/{_SEGMENT}/events"),
        ("account", "call"),
        events.call_events,
    ),
)


def _match(path: str) -> tuple[dict[str, str], Handler] | None:
    for pattern, names, handler in ROUTES:
        found = pattern.fullmatch(path)
        if found is not None:
            return dict(zip(names, found.groups(), strict=True)), handler
    return None


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"")
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError as exc:
        raise InvalidParameter("the query string is not UTF-8") from exc


class V1App:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self._dispatch(scope, receive, send)
        except SwitchboardError as exc:
            if exc.message and isinstance(exc, InvalidParameter):
                log.debug("bad parameter on %s: %s", scope["path"], exc.message)
            response = v1_error_response(exc)
        except Exception:
            log.exception("unexpected failure on %s %s", scope["method"], scope["path"])
            response = v1_error("internal_error", "An error has occurred.", 500)
        if response is not None:
            await response(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> Response | None:
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        matched = _match(path)
        if matched is None:
            return v1_error("not_found", "The requested resource was not found.", 404)
        params, handler = matched
        if scope["method"].upper() != "GET":
            return v1_error(
                "method_not_allowed",
                f"The requested resource does not support http method '{scope['method']}'.",
                405,
                {"Allow": "GET"},
            )
        headers = Headers(scope=scope)
        await authorise(self.ctx, bearer(headers), params["account"])
        request = V1Request(self.ctx, scope, receive, send, params, headers, _query(scope))
        return await handler(request)
