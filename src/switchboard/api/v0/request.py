"""What a V0 handler receives once the generic checks (route to size) have passed."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import Headers

from switchboard.service.context import Context


@dataclass(frozen=True)
class V0Request:
    ctx: Context
    params: dict[str, str]
    headers: Headers
    body: bytes
    version: int
    base_url: str
    client_address: str = ""

    @property
    def account_key(self) -> str:
        return self.params["account"]
