"""Switchboard's own API under ``/api/v1``: a small router over the route tables of the
modules beside this one (``events``, ``calls``, ``provisioning``, ``webhooks``, ``openapi``);
add a module's ``ROUTES`` to ``ROUTES`` below.

Each route names who may call it (``request.Auth``): the account in its path, with the V0
bearer tokens (401 without a valid token, 403 for another account's); the administrator,
with ``SWITCHBOARD_ADMIN_TOKEN`` (the provisioning API answers 404 while it is unset); or
anyone. Errors are ``{"code": ..., "message": ...}`` with a stable code
(``api.errors.V1_CODES``). Paths match exactly, with or without a trailing slash; the
document of them all is served at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from switchboard.api.bearer import bearer
from switchboard.api.errors import v1_error, v1_error_response
from switchboard.api.v1 import calls, events, openapi, provisioning, webhooks
from switchboard.api.v1.request import ClientGone, Route, V1Request
from switchboard.domain.errors import InvalidParameter, SwitchboardError
from switchboard.service.auth import authorise, authorise_admin
from switchboard.service.context import Context

log = logging.getLogger(__name__)

V1_PREFIX = "/api/v1/"

_API: tuple[Route, ...] = (
    *events.ROUTES,
    *calls.ROUTES,
    *provisioning.ROUTES,
    *webhooks.ROUTES,
)
ROUTES: tuple[Route, ...] = (
    *_API,
    Route("/api/v1/openapi.json", "public", {"GET": openapi.handler(_API)}),
)


def _match(path: str) -> tuple[dict[str, str], Route] | None:
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if found is not None:
            return dict(zip(route.names, found.groups(), strict=True)), route
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
        except ClientGone:
            return
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
        params, route = matched
        headers = Headers(scope=scope)
        if route.auth == "admin":  # before the method: an API that is off says nothing
            authorise_admin(self.ctx, _bearer_or_empty(headers))
        method = scope["method"].upper()
        handler = route.methods.get(method)
        if handler is None:
            return v1_error(
                "method_not_allowed",
                f"The requested resource does not support http method '{scope['method']}'.",
                405,
                {"Allow": ", ".join(route.methods)},
            )
        if route.auth == "account":
            await authorise(self.ctx, bearer(headers), params["account"])
        request = V1Request(self.ctx, scope, receive, send, params, headers, _query(scope))
        answer = await handler(request)
        assert answer is None or isinstance(answer, Response)
        return answer


def _bearer_or_empty(headers: Headers) -> str:
    """The admin check tells "off" (404) from "wrong token" (401) itself."""
    try:
        return bearer(headers)
    except SwitchboardError:
        return ""
