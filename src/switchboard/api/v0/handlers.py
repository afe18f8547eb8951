"""The V0 endpoints: parse, call the use-case, render. Checks live in the use-cases."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl

from starlette.responses import Response

from switchboard.api.errors import json_response
from switchboard.api.v0 import idempotent, render
from switchboard.api.v0.binding import (
    bind_disposition,
    bind_place_call,
    bind_recording,
    media_type,
)
from switchboard.api.v0.request import V0Request
from switchboard.domain.errors import InvalidRequest, NotFound, UnsupportedGrantType
from switchboard.service import agents, auth, calls
from switchboard.service.ids import normalise_guid


def _call_id(req: V0Request) -> str:
    call_id = normalise_guid(req.params["call"])
    if call_id is None:
        raise NotFound()
    return call_id


async def place_call(req: V0Request) -> Response:
    key = req.headers.get("idempotency-key")
    if key is not None:
        return await idempotent.place_call_once(req, key)
    body = bind_place_call(req.body, req.version)
    call = await calls.place_call(req.ctx, req.account_key, body)
    return render.created(call, req.base_url)


async def get_call(req: V0Request) -> Response:
    call = await calls.get_call(req.ctx, req.account_key, _call_id(req))
    return json_response(render.call_detail(call, req.base_url))


async def set_recording(req: V0Request) -> Response:
    value = bind_recording(req.body)
    status = await calls.set_recording(req.ctx, req.account_key, _call_id(req), value)
    return json_response({"recordingStatus": status}, 202)


async def set_disposition(req: V0Request) -> Response:
    body = bind_disposition(req.body)
    code = await calls.set_disposition(
        req.ctx, req.account_key, _call_id(req), body.code, body.agent_id
    )
    return json_response({"dispositionCode": code})


async def get_agent(req: V0Request) -> Response:
    detail = await agents.agent_detail(req.ctx, req.account_key, req.params["agent"])
    return json_response(
        render.agent_detail(req.account_key, detail.agent_id, detail.current_call_id, req.base_url)
    )


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """HTTP Basic, compared raw (not form-decoded)."""
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep and client_id else None


async def issue_token(req: V0Request) -> Response:
    """RFC 6749 client credentials, checked in the contract's order."""
    if media_type(req.headers.get("content-type")).lower() != "application/x-www-form-urlencoded":
        raise InvalidRequest()
    try:
        form = dict(parse_qsl(req.body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError as exc:
        raise InvalidRequest() from exc
    grant = form.get("grant_type")
    if not grant:
        raise InvalidRequest()
    if grant != "client_credentials":
        raise UnsupportedGrantType()
    credentials = _basic_credentials(req.headers.get("authorization"))
    if credentials is None and form.get("client_id") and form.get("client_secret") is not None:
        credentials = (form["client_id"], form["client_secret"])
    if credentials is None:
        raise InvalidRequest()
    token, lifetime = await auth.issue_access_token(req.ctx, *credentials, req.client_address)
    return json_response(
        {"access_token": token, "token_type": "Bearer", "expires_in": lifetime},
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
