"""What an ``/api/v1`` handler receives once the route and the credential have been checked,
and the route table's entry type."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from switchboard.domain.errors import InvalidJson, InvalidParameter, PayloadTooLarge
from switchboard.service.context import Context

MAX_BODY = 64 * 1024

M = TypeVar("M", bound=BaseModel)


class ClientGone(Exception):
    """The client left before its body was complete: nothing is done, nothing answered."""


@dataclass(frozen=True)
class V1Request:
    ctx: Context
    scope: Scope
    receive: Receive
    send: Send
    params: dict[str, str]
    headers: Headers
    query: dict[str, str]

    @property
    def account_key(self) -> str:
        return self.params["account"]

    async def body(self) -> bytes:
        declared = self.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared[:9]) > MAX_BODY:
            raise PayloadTooLarge()
        chunks = b""
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                raise ClientGone()
            chunk: bytes = message.get("body", b"")
            chunks += chunk
            if len(chunks) > MAX_BODY:
                raise PayloadTooLarge()
            if not message.get("more_body", False):
                return chunks

    async def parse(self, model: type[M], *, empty_ok: bool = False) -> M:
        """The JSON body as ``model``; an empty body is ``{}`` where ``empty_ok``."""
        raw = await self.body()
        if not raw.strip() and empty_ok:
            raw = b"{}"
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidJson() from exc
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise InvalidParameter(f"{where}: {first['msg']}") from exc


# A handler answers with a response, or ``None`` when it has answered itself (a stream).
Handler = Callable[[V1Request], Awaitable[object]]
# Who may call a route: the account in its path (V0 bearer token), the administrator
# (``SWITCHBOARD_ADMIN_TOKEN``), or anyone.
Auth = Literal["account", "admin", "public"]


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Operation:
    """What the OpenAPI document says of a handler (``api.v1.openapi``): the models its
    answers are built from, by status (``None``: no body), and what it reads."""

    summary: str
    responses: dict[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: tuple[Query, ...] = ()
    stream: bool = False  # it may answer text/event-stream
    errors: tuple[int, ...] = ()  # error statuses of its own, beyond its route's


def operation(op: Operation) -> Callable[[Handler], Handler]:
    def mark(handler: Handler) -> Handler:
        handler.operation = op  # type: ignore[attr-defined]
        return handler

    return mark


_PARAMETER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Route:
    template: str  # "/api/v1/accounts/{account}/calls/{call}", as the OpenAPI paths
    auth: Auth
    methods: dict[str, Handler]

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(_PARAMETER.findall(self.template))

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(_PARAMETER.sub("([^/]+)", self.template))
