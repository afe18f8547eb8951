"""Dialogs (RFC 3261 section 12): what two user agents share after a 2xx, and how a request
inside one is addressed.

A dialog is created on our side as the UAC, from our INVITE and the 2xx that answered it: the
route set is the 2xx's Record-Route reversed, the remote target its Contact. Requests inside it
(ACK of a 2xx, BYE, re-INVITE) carry our From and the peer's To with both tags, the next local
CSeq (the ACK reuses the INVITE's), and are addressed by loose routing (RFC 3261 12.2.1.1):
Request-URI = remote target and Route = route set, or the strict-routing form when the first
route has no ``lr``. ``next_hop`` is where the bytes go: the first route, else the target.

Known holes: early dialogs are not kept (nothing is sent inside one), and a dialog's route set
is never refreshed (RFC 3261 only sets it once).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from switchboard.adapters.telephony.sip.message import Request, Response, SipParseError
from switchboard.adapters.telephony.sip.transport import Target
from switchboard.adapters.telephony.sip.uri import NameAddr, SipUri, tag_of

DEFAULT_PORT = 5060
DEFAULT_TLS_PORT = 5061


def target_of(uri: SipUri) -> Target:
    """The transport address a URI points at (RFC 3263 without DNS: maddr, port, transport).

    A ``sips:`` URI goes over TLS whatever its transport parameter says (RFC 5630: TLS on
    every hop); so does ``transport=tls``, which older proxies still put in Record-Route."""
    if uri.scheme not in ("sip", "sips"):
        raise SipParseError(f"cannot send to a {uri.scheme}: URI")
    host = uri.params.get("maddr") or uri.host
    transport = "tls" if uri.scheme == "sips" else uri.transport
    if transport not in ("udp", "tcp", "tls"):
        raise SipParseError(f"unsupported transport {transport}")
    port = uri.port or (DEFAULT_TLS_PORT if transport == "tls" else DEFAULT_PORT)
    # The certificate must name the URI's host (RFC 5922), even when maddr says where to go.
    return Target(transport, host, port, uri.host if transport == "tls" else None)


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_party: str  # our From value, tag included
    remote_party: str  # the peer's To value, tag included
    remote_target: SipUri
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 1
    remote_cseq: int | None = None

    @classmethod
    def as_uac(cls, request: Request, response: Response) -> Dialog:
        """From the INVITE we sent and a 2xx that answered it."""
        remote_party = response.get("To") or ""
        remote_tag = tag_of(remote_party) or ""
        contact = response.first_value("Contact")
        target = NameAddr.parse(contact).uri if contact else SipUri.parse(request.uri)
        local_party = request.get("From") or ""
        return cls(
            call_id=request.call_id,
            local_tag=tag_of(local_party) or "",
            remote_tag=remote_tag,
            local_party=local_party,
            remote_party=remote_party,
            remote_target=target,
            route_set=list(reversed(response.values("Record-Route"))),
            local_cseq=request.cseq[0],
        )

    @property
    def key(self) -> tuple[str, str]:
        return self.call_id, self.local_tag

    def next_hop(self) -> Target:
        if self.route_set:
            return target_of(NameAddr.parse(self.route_set[0]).uri)
        return target_of(self.remote_target)

    def request(self, method: str, *, cseq: int | None = None) -> Request:
        """A request inside the dialog, without Via (the endpoint stamps it on sending).

        ``cseq`` is given for the ACK of a 2xx (the INVITE's number); otherwise the local
        sequence moves on by one."""
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        uri, routes = self._addressing()
        request = Request(method=method, uri=uri)
        if routes:
            request.add("Route", ", ".join(routes))
        request.add("Max-Forwards", "70")
        request.add("From", self.local_party)
        request.add("To", self.remote_party)
        request.add("Call-ID", self.call_id)
        request.add("CSeq", f"{cseq} {method}")
        return request

    def _addressing(self) -> tuple[str, list[str]]:
        if not self.route_set:
            return str(self.remote_target), []
        first = NameAddr.parse(self.route_set[0]).uri
        if "lr" in first.params:
            return str(self.remote_target), list(self.route_set)
        # Strict routing (RFC 2543 proxies): the first route becomes the Request-URI.
        stripped = SipUri(
            first.scheme,
            first.host,
            first.user,
            None,
            first.port,
            {k: v for k, v in first.params.items() if k not in ("method", "ttl")},
        )
        return str(stripped), [*self.route_set[1:], f"<{self.remote_target}>"]

    def accepts_remote_cseq(self, number: int) -> bool:
        """RFC 3261 12.2.2: a lower CSeq than the last one is out of order (answer 500)."""
        if self.remote_cseq is not None and number < self.remote_cseq:
            return False
        self.remote_cseq = number
        return True

    def refresh_target(self, message: Request | Response) -> None:
        contact = message.first_value("Contact")
        if contact:
            self.remote_target = NameAddr.parse(contact).uri
