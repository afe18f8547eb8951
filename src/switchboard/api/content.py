"""VCC's Interaction Content API, the part that lists and downloads call recordings
(``interaction-content.md``), so that VCC's sample downloader works with only its two base
URLs changed: ``http://HOST:PORT/Auth`` and ``http://HOST:PORT/interaction-content``.

    POST /Auth/connect/token                                          client credentials
    GET  /interaction-content/interactions?start=&end=&...            search, paged by token
    GET  /interaction-content/interactions/{guid}                     one interaction
    GET  /interaction-content/interactions/{guid}/content/{key}       the WAV (Range)

Order of checks (§3.0): route → method → auth (401, 403) → rate limit (429) → version (400)
→ GUID and query (400) → resource (404) → Range (416). Literal segments in any case, a
trailing slash accepted. Files are streamed in chunks read off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC
from typing import Any, BinaryIO
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from switchboard.api.bearer import bearer
from switchboard.api.errors import (
    content_error_response,
    content_token_error,
    json_response,
    message_response,
)
from switchboard.api.v0.binding import media_type
from switchboard.api.v0.handlers import _basic_credentials
from switchboard.domain.errors import (
    ContentBadRequest,
    InvalidRequest,
    NotFound,
    RangeNotSatisfiable,
    SwitchboardError,
    UnsupportedGrantType,
)
from switchboard.service import content
from switchboard.service.content import Interaction
from switchboard.service.content_query import parse_search
from switchboard.service.context import Context

log = logging.getLogger(__name__)

MAX_BODY = 100 * 1024
CHUNK = 64 * 1024
VERSIONS_ANY = (
    "Invalid api-version! Valid values: 'application/vnd.newvoicemedia.v2+json', "
    "'application/vnd.newvoicemedia.v3+json'"
)
VERSION_3 = "Invalid api-version! Valid values: 'application/vnd.newvoicemedia.v3+json'"
_VERSION = re.compile(r"application/vnd\.newvoicemedia\.v(\d+)\+json", re.IGNORECASE)
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CONTENT_KEY = re.compile(r"[0-9a-zA-Z!\-_.,*'()]{1,36}")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)

_I = "(?i:interaction-content/interactions)"
ROUTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile("/(?i:auth/connect/token)"), "token"),
    (re.compile(f"/{_I}"), "search"),
    (re.compile(f"/{_I}/(?P<guid>[^/]+)"), "interaction"),
    (re.compile(f"/{_I}/(?P<guid>[^/]+)/(?i:content)/(?P<key>[^/]+)"), "content"),
)


def is_content_path(path: str) -> bool:
    lowered = path[:21].lower()
    return lowered.startswith(("/interaction-content/", "/auth/")) or lowered.rstrip("/") in (
        "/interaction-content",
        "/auth",
    )


def _match(path: str) -> tuple[str, dict[str, str]] | None:
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    for pattern, name in ROUTES:
        found = pattern.fullmatch(path)
        if found is not None:
            return name, found.groupdict()
    return None


class Body:
    """A file's bytes (or a slice) to stream after the headers."""

    def __init__(self, file: BinaryIO, offset: int, length: int) -> None:
        self.file, self.offset, self.length = file, offset, length


Answer = tuple[Response, Body | None]


class ContentApp:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body: Body | None = None
        try:
            response, body = await self._dispatch(scope, receive)
        except SwitchboardError as exc:
            response = content_error_response(exc)
        except Exception:
            log.exception("unexpected failure on %s %s", scope["method"], scope["path"])
            response = message_response("An error has occurred.", 500)
        head = scope["method"].upper() == "HEAD"
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": response.raw_headers,
                }
            )
            if body is None:
                await send({"type": "http.response.body", "body": b"" if head else response.body})
            elif head:
                await send({"type": "http.response.body", "body": b""})
            else:
                await _stream(body, send)
        finally:
            if body is not None:
                body.file.close()

    async def _dispatch(self, scope: Scope, receive: Receive) -> Answer:
        found = _match(scope["path"])
        if found is None:
            return content_error_response(NotFound()), None
        name, params = found
        method = scope["method"].upper()
        headers = Headers(scope=scope)
        if name == "token":
            if method != "POST":
                return _method_not_allowed(scope["method"], "POST"), None
            return await self._token(scope, headers, receive), None
        if method not in ("GET", "HEAD"):
            return _method_not_allowed(scope["method"], "GET, HEAD"), None
        account = await content.content_reader(self.ctx, bearer(headers))
        _check_version(headers.get("accept"))
        if name == "search":
            query = parse_search(_query(scope))
            items, token = await content.search(self.ctx, account, query)
            payload = {
                "items": [_render(item) for item in items],
                "meta": {"nextContinuationToken": token},
            }
            return json_response(payload), None
        guid = _guid(params["guid"])
        if name == "interaction":
            return json_response(_render(await content.interaction(self.ctx, account, guid))), None
        key = params["key"]
        if _CONTENT_KEY.fullmatch(key) is None:
            raise ContentBadRequest("Parameter 'contentKey' is invalid.")
        item, file = await content.open_content(self.ctx, account, guid, key)
        try:
            return _file_answer(item, file, headers.get("range"))
        except BaseException:
            file.close()
            raise

    async def _token(self, scope: Scope, headers: Headers, receive: Receive) -> Response:
        try:
            form = await _form(headers, receive)
            if form.get("grant_type") != "client_credentials":
                raise UnsupportedGrantType()
            credentials = _basic_credentials(headers.get("authorization"))
            if credentials is None and form.get("client_id") and "client_secret" in form:
                credentials = (form["client_id"], form["client_secret"])
            if credentials is None:
                raise InvalidRequest()
            client = scope.get("client")
            token, lifetime = await content.issue_content_token(
                self.ctx, *credentials, form.get("scope"), str(client[0]) if client else ""
            )
        except SwitchboardError as exc:
            return content_token_error(exc)
        return json_response(
            {"token_type": "bearer", "access_token": token, "expires_in": lifetime},
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )


async def _form(headers: Headers, receive: Receive) -> dict[str, str]:
    """The form, or ``InvalidRequest`` (not form-encoded, not UTF-8, over 100 KiB)."""
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise InvalidRequest()
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            raise InvalidRequest()
        if not message.get("more_body", False):
            break
    if media_type(headers.get("content-type")).lower() != "application/x-www-form-urlencoded":
        raise InvalidRequest()
    try:
        return dict(reversed(parse_qsl(body.decode("utf-8"), keep_blank_values=True)))
    except UnicodeDecodeError as exc:
        raise InvalidRequest() from exc


def _method_not_allowed(method: str, allow: str) -> Response:
    return message_response(
        f"The requested resource does not support http method '{method}'.",
        405,
        {"Allow": allow},
    )


def _check_version(accept: str | None) -> None:
    for part in (accept or "").split(","):
        found = _VERSION.fullmatch(part.split(";", 1)[0].strip())
        if found is not None:
            if int(found.group(1)) != 3:
                raise ContentBadRequest(VERSION_3)
            return
    raise ContentBadRequest(VERSIONS_ANY)


def _guid(text: str) -> str:
    if len(text) != 36:
        raise ContentBadRequest("GUID must be 36 characters in length")
    if _GUID.fullmatch(text) is None:
        raise ContentBadRequest(f"GUID '{text}' is not a valid UUID string")
    return text.lower()


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("utf-8", errors="replace")
    # The first of a repeated name counts.
    return dict(reversed(parse_qsl(raw, keep_blank_values=True)))


def _stamp(value: Any) -> str:
    return str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _render(item: Interaction) -> dict[str, Any]:
    recording = item.recording
    return {
        "guid": item.guid,
        "start": _stamp(item.start),
        "connectFrom": item.connect_from,
        "connectTo": item.connect_to,
        "direction": "outbound",
        "handlingAgents": [{"id": agent} for agent in item.agent_ids],
        "content": [
            {
                "contentKey": content.CONTENT_KEY,
                "type": content.CONTENT_KEY,
                "contentType": content.CONTENT_TYPE,
                "contentLength": recording.size_bytes,
                "lastModified": _stamp(recording.ended_at.astimezone(UTC)),
                "properties": {},
            }
        ],
    }


def _file_answer(item: Interaction, file: BinaryIO, range_header: str | None) -> Answer:
    size = file.seek(0, 2)
    headers = {"Accept-Ranges": "bytes", "Content-Type": content.CONTENT_TYPE}
    wanted = _range(range_header, size)
    if wanted is None:
        headers["Content-Length"] = str(size)
        return Response(status_code=200, headers=headers), Body(file, 0, size)
    first, last = wanted
    headers["Content-Length"] = str(last - first + 1)
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return Response(status_code=206, headers=headers), Body(file, first, last - first + 1)


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """One satisfiable range (first, last), None for the whole file (no header, several
    ranges, bad syntax), or ``RangeNotSatisfiable`` (RFC 9110 §14)."""
    if header is None:
        return None
    found = _RANGE.fullmatch(header.strip())
    if found is None:
        return None
    first_text, last_text = found.groups()
    if not first_text:
        if not last_text:
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None  # invalid: ignored
    if first >= size:
        raise RangeNotSatisfiable(size)
    return first, min(last, size - 1)


async def _stream(body: Body, send: Send) -> None:
    file, remaining = body.file, body.length
    await asyncio.to_thread(file.seek, body.offset)
    while remaining > 0:
        chunk = await asyncio.to_thread(file.read, min(CHUNK, remaining))
        if not chunk:  # the file shrank (deleted and replaced): end what was promised early
            break
        remaining -= len(chunk)
        await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
    if remaining > 0:
        await send({"type": "http.response.body", "body": b"", "more_body": False})
