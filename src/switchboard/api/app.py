"""The ASGI application: routing, the generic order of checks, and the error boundary.

Order (section 2): route → 404; method → 405; auth → 401/403; Content-Type on a POST → 415;
version → 406; size → 413; then the handler (JSON and types → 400; resource → 404; rules).
Literal path segments match in any case, with or without a trailing slash; account keys and
agent ids match exactly. Nothing escapes as a traceback: an unexpected failure is a 500 with
VCC's text, and is logged.

Requests and responses are Starlette's; routing is a small table here rather than Starlette's
``Router``, which matches paths case-sensitively and would answer 404/405 in its own words and
order.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from switchboard.api.bearer import bearer
from switchboard.api.content import ContentApp, is_content_path
from switchboard.api.errors import (
    error_response,
    internal_error,
    method_not_allowed,
    not_found,
    status_for,
)
from switchboard.api.v0 import handlers
from switchboard.api.v0.binding import check_content_type, negotiate_version
from switchboard.api.v0.request import V0Request
from switchboard.api.v1.app import V1_PREFIX, V1App
from switchboard.domain.errors import (
    PayloadTooLarge,
    RateLimited,
    SwitchboardError,
    UnstorableValue,
)
from switchboard.service.auth import authorise
from switchboard.service.context import Context

log = logging.getLogger(__name__)

MAX_BODY = 100 * 1024
Handler = Callable[[V0Request], Awaitable[Response]]


@dataclass(frozen=True)
class ApiConfig:
    public_base_url: str | None = None
    trust_forwarded: bool = False


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, Handler]
    authenticated: bool = True

    @property
    def allow(self) -> tuple[str, ...]:
        allowed = list(self.methods)
        if "GET" in self.methods:
            allowed.append("HEAD")
        allowed.append("OPTIONS")
        return tuple(allowed)


def _route(template: str, methods: dict[str, Handler], authenticated: bool = True) -> Route:
    """``/v0/{account}/calls``: literals match in any case, ``{name}`` one exact segment."""
    parts = []
    for segment in template.strip("/").split("/"):
        if segment.startswith("{"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(f"(?i:{re.escape(segment)})")
    return Route(re.compile("/" + "/".join(parts)), methods, authenticated)


ROUTES = (
    _route("/v0/oauth2/token", {"POST": handlers.issue_token}, authenticated=False),
    _route("/v0/{account}/calls", {"POST": handlers.place_call}),
    _route(
        "/v0/{account}/calls/{call}", {"GET": handlers.get_call, "POST": handlers.set_recording}
    ),
    _route("/v0/{account}/calls/{call}/dispositionCode", {"POST": handlers.set_disposition}),
    _route("/v0/{account}/agents/{agent}", {"GET": handlers.get_agent}),
)


def match(path: str) -> tuple[Route, dict[str, str]] | None:
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if found is not None:
            return route, found.groupdict()
    return None


class ClientDisconnected(Exception):
    """The client left before its body was complete: nothing is done, nothing is answered."""


async def _read_body(headers: Headers, receive: Receive) -> bytes:
    declared = headers.get("content-length")
    # Refused before a byte is read.
    if declared is not None and _longer_than(declared, MAX_BODY):
        raise PayloadTooLarge()
    chunks = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # A truncated body may still parse ('{"from": ...}' cut after a brace): acting
            # on it would place a call the client never finished asking for.
            raise ClientDisconnected()
        chunk: bytes = message.get("body", b"")
        chunks += chunk
        if len(chunks) > MAX_BODY:
            raise PayloadTooLarge()
        if not message.get("more_body", False):
            return chunks


def _longer_than(declared: str, limit: int) -> bool:
    """A Content-Length over ``limit``. ASCII digits only (``"²".isdigit()`` is true); the
    server rejects any other length before the app, so it is not judged here."""
    digits = declared.strip().lstrip("0")
    if not (digits.isascii() and digits.isdigit()):
        return False
    return len(digits) > len(str(limit)) or int(digits) > limit


class SwitchboardApp:
    """Works on the ASGI scope itself: Starlette's ``Request`` would parse the URL and wrap the
    body stream on every request, a tenth of a request's cost here."""

    def __init__(self, ctx: Context, config: ApiConfig | None = None) -> None:
        self.ctx = ctx
        self.config = config or ApiConfig()
        self.v1 = V1App(ctx)
        self.content = ContentApp(ctx)

    def base_url(self, scope: Scope, headers: Headers) -> str:
        if self.config.public_base_url:
            return self.config.public_base_url.rstrip("/")
        scheme = scope.get("scheme", "http")
        host = headers.get("host")
        if host is None:
            server = scope.get("server") or ("localhost", None)
            host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
        if self.config.trust_forwarded:
            scheme = headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
            host = headers.get("x-forwarded-host", host).split(",")[0].strip()
        return f"{scheme}://{host}"

    def client_address(self, scope: Scope, headers: Headers) -> str:
        """The peer's address; behind a trusted proxy, the last ``X-Forwarded-For`` entry
        (the one the proxy added: those before it are the client's to write)."""
        if self.config.trust_forwarded:
            forwarded = headers.get("x-forwarded-for")
            if forwarded:
                return forwarded.rsplit(",", 1)[-1].strip()
        client = scope.get("client")
        return str(client[0]) if client else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"].startswith(V1_PREFIX):
            # Switchboard's own API: its own routes, errors and streams (``api.v1``).
            await self.v1(scope, receive, send)
            return
        if is_content_path(scope["path"]):
            # VCC's Interaction Content API (recordings): its own routes and errors.
            await self.content(scope, receive, send)
            return
        try:
            response = await self._dispatch(scope, receive)
        except ClientDisconnected:
            log.debug("client left during its body: %s %s", scope["method"], scope["path"])
            return
        except SwitchboardError as exc:
            _log_error(scope, exc)
            response = error_response(exc)
        except Exception:
            log.exception("unexpected failure on %s %s", scope["method"], scope["path"])
            response = internal_error()
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _dispatch(self, scope: Scope, receive: Receive) -> Response:
        found = match(scope["path"])
        if found is None:
            return not_found()
        route, params = found
        method = scope["method"].upper()
        if method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": ", ".join(route.allow)})
        verb = "GET" if method == "HEAD" else method
        handler = route.methods.get(verb)
        if handler is None:
            return method_not_allowed(scope["method"], route.allow)
        headers = Headers(scope=scope)
        if not route.authenticated:
            try:
                body = await _read_body(headers, receive)
            except PayloadTooLarge:
                body = b"\xff"  # not form-encoded text: the token endpoint answers invalid_request
            return await handler(self._v0(scope, headers, params, body, 6))
        await authorise(self.ctx, bearer(headers), params["account"])
        limiter = self.ctx.limiter
        if limiter is None:
            return await self._authorised(scope, receive, headers, params, handler, method)
        # Every authenticated request of the account spends a token, and every answer to it
        # says what is left (draft-ietf-httpapi-ratelimit-headers).
        try:
            quota = await limiter.admit(
                self.ctx.uow, params["account"], self.ctx.clock.now().timestamp()
            )
        except RateLimited as exc:
            response = error_response(exc)
            quota = limiter.refused(exc.retry_after_s)
        else:
            try:
                response = await self._authorised(scope, receive, headers, params, handler, method)
            except SwitchboardError as exc:
                _log_error(scope, exc)
                response = error_response(exc)
        # Appended raw: neither name is set by anything before (``MutableHeaders`` would
        # search and lower-case the list for each).
        response.raw_headers.append((b"ratelimit-policy", limiter.policy_header))
        response.raw_headers.append(
            (b"ratelimit", f'"default";r={quota.remaining};t={quota.reset_s}'.encode())
        )
        return response

    async def _authorised(
        self,
        scope: Scope,
        receive: Receive,
        headers: Headers,
        params: dict[str, str],
        handler: Handler,
        method: str,
    ) -> Response:
        verb = "GET" if method == "HEAD" else method
        content_type = headers.get("content-type")
        if verb == "POST":
            check_content_type(content_type)
        version = negotiate_version(headers.get("accept"), content_type)
        body = await _read_body(headers, receive) if verb == "POST" else b""
        response = await handler(self._v0(scope, headers, params, body, version))
        if method == "HEAD":
            length = len(response.body)
            response = Response(
                status_code=response.status_code,
                headers={k: v for k, v in response.headers.items() if k != "content-length"},
            )
            response.headers["content-length"] = str(length)
        return response

    def _v0(
        self, scope: Scope, headers: Headers, params: dict[str, str], body: bytes, version: int
    ) -> V0Request:
        return V0Request(
            self.ctx,
            params,
            headers,
            body,
            version,
            self.base_url(scope, headers),
            self.client_address(scope, headers),
        )


def _log_error(scope: Scope, exc: SwitchboardError) -> None:
    """A client's mistake is not logged; what the operator must see is, once, without the
    client's data beyond the driver's first line."""
    status = status_for(exc)
    if isinstance(exc, UnstorableValue):
        log.warning("refused a value on %s %s: %s", scope["method"], scope["path"], exc.detail)
    elif status == 503:
        log.error("storage unavailable on %s %s: %s", scope["method"], scope["path"], exc)
    elif type(exc) is SwitchboardError or status == 500:
        log.exception("unexpected error on %s %s", scope["method"], scope["path"])


def create_app(ctx: Context, config: ApiConfig | None = None) -> SwitchboardApp:
    return SwitchboardApp(ctx, config)
