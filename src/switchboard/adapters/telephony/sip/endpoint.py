"""The user agent core: matches what arrives to transactions and dialogs, answers the rest.

Responses go to the client transaction of their branch; a 2xx retransmitted after its INVITE
transaction is gone goes to the dialog usage (the leg) with that Call-ID and From tag, which
re-sends its ACK. Requests: a retransmission is absorbed by its server transaction; an ACK
ends the retransmission of the response it acknowledges; a request with a To tag goes to the
leg that owns the dialog, or gets 481; out of dialog, OPTIONS gets 200 (a keep-alive probe),
an INVITE 403 (we place calls, we do not take them), other methods 481/405/501.

Before anything is matched the top Via of a request is stamped with ``received`` and, when the
peer asked for it, ``rport`` (RFC 3581); responses go back to the source address for ``rport``
and over the same connection for TCP.

Known holes: no loop detection (482) or Max-Forwards check, no 420 for unknown Require options,
and a UDP request over the path MTU is not moved to TCP (RFC 3261 18.1.1).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from switchboard.adapters.telephony.sip.clock import Clock
from switchboard.adapters.telephony.sip.config import SipConfig
from switchboard.adapters.telephony.sip.message import (
    Request,
    Response,
    SipParseError,
    split_values,
)
from switchboard.adapters.telephony.sip.tls import TlsFiles, client_context, server_context
from switchboard.adapters.telephony.sip.transaction import (
    ClientTransaction,
    ClientUser,
    InviteClientTransaction,
    NonInviteClientTransaction,
    ServerTransaction,
    State,
    Timers,
    new_branch,
    server_key,
)
from switchboard.adapters.telephony.sip.transport import Target, Transports
from switchboard.adapters.telephony.sip.uri import Via, tag_of

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"
_REASONS = {
    100: "Trying",
    180: "Ringing",
    200: "OK",
    403: "Forbidden",
    405: "Method Not Allowed",
    481: "Call/Transaction Does Not Exist",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
}
_OTHER_METHODS = {"REGISTER", "SUBSCRIBE", "NOTIFY", "MESSAGE", "REFER", "PUBLISH", "PRACK"}


class DialogUsage(Protocol):
    """What owns a dialog: a leg of a call."""

    def request_received(self, tx: ServerTransaction, request: Request) -> None: ...

    def stray_response(self, response: Response) -> None: ...


def make_response(
    request: Request, status: int, reason: str | None = None, *, to_tag: str | None = None
) -> Response:
    """A response echoing Via, From, To (tagged when given), Call-ID and CSeq."""
    response = Response(status=status, reason=reason or _REASONS.get(status, "Unknown"))
    for via in request.lines("Via"):
        response.add("Via", via)
    response.add("From", request.get("From") or "")
    to_value = request.get("To") or ""
    if to_tag and status > 100 and tag_of(to_value) is None:
        to_value = f"{to_value};tag={to_tag}"
    response.add("To", to_value)
    response.add("Call-ID", request.call_id)
    response.add("CSeq", request.get("CSeq") or "")
    return response


class Endpoint:
    def __init__(self, config: SipConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.timers = Timers.of(config, clock)
        self.clock = self.timers.clock
        self.transports = Transports(
            config.bind_host,
            config.bind_port,
            self._received,
            udp=config.listen_udp,
            tcp=config.listen_tcp,
            clock=self.clock,
            dns_ttl_s=config.dns_ttl_s,
            tcp_idle_s=config.tcp_idle_s,
            max_inbound_tcp=config.max_inbound_tcp,
            **_tls_options(config),
            tcp_message_s=config.tcp_message_s,
        )
        self._clients: dict[tuple[str, str], ClientTransaction] = {}
        self._servers: dict[tuple[str, str, str], ServerTransaction] = {}
        self._accepted: dict[tuple[str, int], ServerTransaction] = {}
        self._usages: dict[tuple[str, str], DialogUsage] = {}

    async def open(self) -> None:
        await self.transports.open()

    async def close(self) -> None:
        for client in list(self._clients.values()):
            client.terminate()
        for server in list(self._servers.values()):
            server.terminate()
        await self.transports.close()

    # ----------------------------------------------------------------- our address

    @property
    def host(self) -> str:
        return self.config.advertised_host or self.config.bind_host

    @property
    def port(self) -> int:
        return self.config.advertised_port or self.transports.port

    @property
    def tls_port(self) -> int:
        return self.config.advertised_tls_port or self.transports.tls_port

    def via(self, transport: str) -> str:
        port = self.tls_port if transport == "tls" else self.port
        return f"SIP/2.0/{transport.upper()} {self.host}:{port};branch={new_branch()};rport"

    def contact(self, transport: str) -> str:
        """Where the peer sends its requests in the dialog. Over TLS a ``sips:`` URI on our TLS
        port (RFC 3261 8.1.1.8: a sips: Request-URI needs a sips: Contact; RFC 5630 deprecates
        ``transport=tls``)."""
        user = self.config.contact_user
        if transport == "tls":
            return f"<sips:{user}@{self.host}:{self.tls_port}>"
        suffix = ";transport=tcp" if transport == "tcp" else ""
        return f"<sip:{user}@{self.host}:{self.port}{suffix}>"

    # ----------------------------------------------------------------- sending

    def send_request(self, request: Request, target: Target, user: ClientUser) -> ClientTransaction:
        """Start a client transaction; the request carries its Via already."""
        kind = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        tx = kind(request, target, self.transports, self.timers, user, self._client_done)
        self._clients[tx.key] = tx
        tx.start()
        return tx

    def send_ack(self, ack: Request, target: Target) -> bytes:
        """An ACK of a 2xx is sent outside any transaction; returns the bytes for re-sending."""
        data = ack.to_bytes()
        self.transports.send(data, target)
        return data

    def resend(self, data: bytes, target: Target) -> None:
        self.transports.send(data, target)

    def respond(self, tx: ServerTransaction, response: Response) -> None:
        if tx.is_invite and 200 <= response.status < 300:
            self._accepted[(tx.request.call_id, tx.request.cseq[0])] = tx
        tx.respond(response)

    def register(self, key: tuple[str, str], usage: DialogUsage) -> None:
        self._usages[key] = usage

    def unregister(self, key: tuple[str, str], usage: DialogUsage) -> None:
        if self._usages.get(key) is usage:
            del self._usages[key]

    def unregister_later(self, key: tuple[str, str], usage: DialogUsage) -> None:
        """Keep answering retransmissions for 64*T1 after a dialog ended."""
        self.clock.call_later(self.timers.long_wait, self.unregister, key, usage)

    @property
    def active_usages(self) -> int:
        return len(self._usages)

    def sizes(self) -> dict[str, int]:
        """How much state the endpoint holds: all of it shrinks back to 0 when calls end."""
        return {
            "client_transactions": len(self._clients),
            "server_transactions": len(self._servers),
            "accepted": len(self._accepted),
            "usages": len(self._usages),
        }

    def _client_done(self, tx: ClientTransaction | ServerTransaction) -> None:
        if isinstance(tx, ClientTransaction) and self._clients.get(tx.key) is tx:
            del self._clients[tx.key]

    def _server_done(self, tx: ClientTransaction | ServerTransaction) -> None:
        if isinstance(tx, ServerTransaction):
            if self._servers.get(tx.key) is tx:
                del self._servers[tx.key]
            accepted_key = (tx.request.call_id, tx.request.cseq[0])
            if self._accepted.get(accepted_key) is tx:
                del self._accepted[accepted_key]

    # ----------------------------------------------------------------- receiving

    def _received(self, message: Request | Response, source: Target) -> None:
        try:
            if isinstance(message, Response):
                self._on_response(message)
            else:
                self._on_request(message, source)
        except SipParseError as exc:
            log.warning("dropped unusable message from %s: %s", source, exc)

    def _on_response(self, response: Response) -> None:
        branch = Via.parse(_top_via(response.values("Via"))).branch or ""
        method = response.cseq[1]
        tx = self._clients.get((branch, method))
        if tx is not None:
            tx.receive(response)
            return
        if method == "INVITE" and 200 <= response.status < 300:
            usage = self._usages.get((response.call_id, tag_of(response.get("From")) or ""))
            if usage is not None:
                usage.stray_response(response)
                return
        log.debug("response %s %s matches nothing; dropped", response.status, method)

    def _on_request(self, request: Request, source: Target) -> None:
        _stamp_via(request, source)
        if request.method == "ACK":
            self._on_ack(request)
            return
        key = server_key(request)
        existing = self._servers.get(key)
        if existing is not None:
            existing.retransmitted()
            return
        tx = ServerTransaction(
            request, _reply_target(request, source), self.transports, self.timers, self._server_done
        )
        self._servers[key] = tx
        if request.method == "CANCEL":
            self._on_cancel(tx, request, key)
            return
        to_tag = tag_of(request.get("To"))
        if to_tag is not None:
            usage = self._usages.get((request.call_id, to_tag))
            if usage is None:
                self.respond(tx, make_response(request, 481))
            else:
                usage.request_received(tx, request)
            return
        self._out_of_dialog(tx, request)

    def _out_of_dialog(self, tx: ServerTransaction, request: Request) -> None:
        method = request.method
        if method == "OPTIONS":
            response = make_response(request, 200, to_tag=new_branch()[-10:])
            response.add("Allow", ALLOW)
            response.add("Accept", "application/sdp")
            self.respond(tx, response)
        elif method == "INVITE":
            self.respond(tx, make_response(request, 403, to_tag=new_branch()[-10:]))
        elif method in ("BYE", "UPDATE", "INFO"):
            self.respond(tx, make_response(request, 481))
        elif method in _OTHER_METHODS:
            response = make_response(request, 405)
            response.add("Allow", ALLOW)
            self.respond(tx, response)
        else:
            self.respond(tx, make_response(request, 501))

    def _on_ack(self, request: Request) -> None:
        tx = self._servers.get(server_key(request))
        if tx is None:
            tx = self._accepted.pop((request.call_id, request.cseq[0]), None)
        if tx is not None:
            tx.ack_received()

    def _on_cancel(
        self, tx: ServerTransaction, request: Request, key: tuple[str, str, str]
    ) -> None:
        invite = self._servers.get((key[0], key[1], "INVITE"))
        if invite is None:
            self.respond(tx, make_response(request, 481))
            return
        self.respond(tx, make_response(request, 200))
        if invite.state is State.PROCEEDING:
            self.respond(invite, make_response(invite.request, 487, to_tag=new_branch()[-10:]))


def _tls_options(config: SipConfig) -> dict[str, Any]:
    """The transports' TLS contexts; a file that cannot be used fails here, at start."""
    files = TlsFiles(
        config.tls_ca_file, config.tls_cert_file, config.tls_key_file, config.tls_verify_hostname
    )
    options: dict[str, Any] = {}
    if files != TlsFiles():
        # Otherwise the transports make the default one (the system's CAs) on first use:
        # loading every CA costs tens of milliseconds, wasted where TLS is never used.
        options["tls_client"] = client_context(files)
    if config.listen_tls:
        options["tls_server"] = server_context(files)
        options["tls_port"] = config.tls_port
    return options


def _top_via(values: list[str]) -> str:
    """A Via header with no value in it (``Via: ,``) is unusable, not an IndexError."""
    if not values:
        raise SipParseError("empty Via")
    return values[0]


def _stamp_via(request: Request, source: Target) -> None:
    """RFC 3261 18.2.1 and RFC 3581: note where the request really came from."""
    for index, (name, value) in enumerate(request.headers):
        if name != "Via":
            continue
        values = split_values(value)
        via = Via.parse(_top_via(values))
        if via.host != source.host:
            via.params["received"] = source.host
        if "rport" in via.params and via.params["rport"] is None:
            via.params["rport"] = str(source.port)
        values[0] = str(via)
        request.headers[index] = (name, ", ".join(values))
        return


def _reply_target(request: Request, source: Target) -> Target:
    """RFC 3261 18.2.2: same connection for TCP; for UDP the source with rport, else the
    source address and the port in Via."""
    if source.transport != "udp":
        return source
    via = Via.parse(request.values("Via")[0])
    if "rport" in via.params:
        return source
    return Target("udp", source.host, via.port or 5060)
