"""What an ``/api/v1`` handler receives once the route and the token have been checked."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from switchboard.service.context import Context


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
