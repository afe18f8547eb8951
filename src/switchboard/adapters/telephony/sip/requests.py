"""The requests RFC 3261 builds from other requests, written once: a leg's first INVITE, the
CANCEL of an INVITE (section 9.1) and the ACK of a non-2xx final (section 17.1.1.3).

A CANCEL and a non-2xx ACK belong to the INVITE's transaction: they copy its Request-URI,
top Via (same branch), From, Call-ID, CSeq number and Route; the ACK takes the To of the
response (with its tag), the CANCEL the INVITE's own To.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard.adapters.telephony.sip import sdp
from switchboard.adapters.telephony.sip.message import Request, Response

if TYPE_CHECKING:  # the transaction layer uses this module and must not import addressing
    from switchboard.adapters.telephony.sip.addressing import LegPlan


def initial_invite(
    plan: LegPlan,
    *,
    via: str,
    contact: str,
    allow: str,
    user_agent: str,
    call_id: str,
    local_tag: str,
    cseq: int,
    offer: bytes | None,
    auth: tuple[str, str] | None = None,
    session_expires_s: float = 0,
) -> Request:
    request = Request(method="INVITE", uri=str(plan.request_uri))
    request.add("Via", via)
    if plan.routes:
        request.add("Route", ", ".join(plan.routes))
    request.add("Max-Forwards", "70")
    request.add("From", f"{plan.from_value};tag={local_tag}")
    request.add("To", plan.to_value)
    request.add("Call-ID", call_id)
    request.add("CSeq", f"{cseq} INVITE")
    request.add("Contact", contact)
    request.add("Allow", allow)
    request.add("User-Agent", user_agent)
    if session_expires_s > 0:  # RFC 4028: we support session timers and ask for one
        request.add("Supported", "timer")
        request.add("Session-Expires", str(int(session_expires_s)))
    for name, value in plan.headers:
        request.add(name, value)
    if auth is not None:
        request.add(*auth)
    if offer is not None:
        request.add("Content-Type", sdp.CONTENT_TYPE)
        request.body = offer
    return request


def _same_transaction(method: str, invite: Request, to_value: str) -> Request:
    request = Request(method=method, uri=invite.uri)
    request.add("Via", invite.values("Via")[0])
    for route in invite.lines("Route"):
        request.add("Route", route)
    request.add("Max-Forwards", "70")
    request.add("From", invite.get("From") or "")
    request.add("To", to_value)
    request.add("Call-ID", invite.call_id)
    request.add("CSeq", f"{invite.cseq[0]} {method}")
    return request


def cancel_of(invite: Request) -> Request:
    return _same_transaction("CANCEL", invite, invite.get("To") or "")


def ack_of_failure(invite: Request, response: Response) -> Request:
    return _same_transaction("ACK", invite, response.get("To") or "")
