"""The bearer token of a request (RFC 6750), for V0 and ``/api/v1`` alike."""

from __future__ import annotations

from starlette.datastructures import Headers

from switchboard.domain.errors import InvalidAccessToken


def bearer(headers: Headers) -> str:
    header = headers.get("authorization")
    if header is None:
        raise InvalidAccessToken(token_sent=False)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidAccessToken(token_sent=bool(token.strip()))
    return token.strip()
