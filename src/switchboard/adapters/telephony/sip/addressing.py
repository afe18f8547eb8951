"""Where each leg of a call is sent, and what it says about who is calling.

Numbers go to the trunk as ``sip:+E164@trunkhost[:port]`` (``;transport=tcp`` when the trunk is
TCP, ``sips:`` when it is TLS), through the outbound proxy when one is configured (a pre-loaded
Route). Where the trunk is and over which transport is found by RFC 3263 (``locate.py``) when
its host is a name: the plan carries what to look up, and ``over`` fixes it once found.

An agent's phone is a ``sip:`` or ``sips:`` URI (a static contact, sent to directly) or a
``tel:+E164`` number (through the trunk). Trunk requests carry the trunk's credentials and
extra headers.

The destination sees the presented CLID in From (and in P-Asserted-Identity when configured);
without one, From is anonymous (RFC 3261 8.1.1.3). The agent's phone sees the number it is
about to be connected to, so it knows what it is answering.

Known holes: no per-account trunks, and no DNS discovery of an outbound proxy (its URI says
transport and port, else UDP/TCP 5060, TLS 5061).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from switchboard.adapters.telephony.sip.auth import Credentials
from switchboard.adapters.telephony.sip.config import SipConfig
from switchboard.adapters.telephony.sip.dialog import target_of
from switchboard.adapters.telephony.sip.locate import DEFAULT_PORTS, Located, needs_dns
from switchboard.adapters.telephony.sip.message import SipParseError
from switchboard.adapters.telephony.sip.transport import Target
from switchboard.adapters.telephony.sip.uri import NameAddr, SipUri

ANONYMOUS = '"Anonymous" <sip:anonymous@anonymous.invalid>'


class UnroutablePhone(ValueError):
    """A phone or number this engine cannot send a call to."""


@dataclass(frozen=True)
class LegPlan:
    request_uri: SipUri
    target: Target  # the first hop
    to_value: str
    from_value: str  # without tag
    routes: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    credentials: Credentials | None = None
    # RFC 3263: what to look up before sending (a trunk named by host), and the hops to try
    # after ``target`` on 503 or a timeout, once looked up.
    lookup: TrunkLookup | None = None
    alternatives: tuple[Target, ...] = ()

    @property
    def transport(self) -> str:
        return self.target.transport


@dataclass(frozen=True)
class TrunkLookup:
    host: str
    port: int | None
    transport: str | None  # None: discover (NAPTR, SRV)


def trunk_uri(uri: SipUri, transport: str) -> SipUri:
    """The Request-URI for the trunk over ``transport``: sips: for TLS (RFC 3261 26.2.1)."""
    params = {name: value for name, value in uri.params.items() if name != "transport"}
    if transport == "tcp":
        params["transport"] = "tcp"
    scheme = "sips" if transport == "tls" else "sip"
    return SipUri(scheme, uri.host, uri.user, None, uri.port, params)


class Addressing:
    def __init__(self, config: SipConfig, default_domain: str) -> None:
        self._config = config
        self._domain = config.from_domain or default_domain

    def for_number(self, e164: str, *, caller: str | None) -> LegPlan:
        config = self._config
        if config.trunk_host is None:
            raise UnroutablePhone("no trunk is configured for telephone numbers")
        number = e164 if e164.startswith("+") else f"+{e164}"
        if not number[1:].isascii() or not number[1:].isdigit():
            raise UnroutablePhone(f"not an E.164 number: {e164!r}")
        host, port = config.trunk_host, config.trunk_port
        routes: tuple[str, ...] = ()
        lookup: TrunkLookup | None = None
        if config.trunk_proxy:
            proxy = SipUri.parse(config.trunk_proxy)
            proxy.params.setdefault("lr", None)
            routes = (f"<{proxy}>",)
            target = target_of(proxy)
            transport = config.trunk_transport or target.transport
        else:
            # A numeric address with no transport configured: UDP (RFC 3263 section 4.1).
            transport = config.trunk_transport or "udp"
            server_name = host if transport == "tls" else None
            target = Target(transport, host, port or DEFAULT_PORTS[transport], server_name)
            if needs_dns(host):
                lookup = TrunkLookup(host, port, config.trunk_transport)
        uri = trunk_uri(SipUri("sip", host, number, None, port, {}), transport)
        credentials = None
        if config.trunk_username is not None and config.trunk_password is not None:
            credentials = Credentials(
                config.trunk_username, config.trunk_password, config.trunk_realm
            )
        headers = [*config.trunk_headers.items()]
        from_value = self._identity(caller)
        if config.p_asserted_identity and caller:
            headers.append(("P-Asserted-Identity", from_value))
        return LegPlan(
            uri, target, f"<{uri}>", from_value, routes, tuple(headers), credentials, lookup
        )

    @staticmethod
    def over(plan: LegPlan, located: Located) -> LegPlan:
        """The plan once RFC 3263 found the transport and the targets."""
        uri = trunk_uri(plan.request_uri, located.transport)
        return replace(
            plan,
            request_uri=uri,
            to_value=f"<{uri}>",
            target=located.targets[0],
            alternatives=located.targets[1:],
            lookup=None,
        )

    def for_phone(self, phone: str, *, caller: str | None) -> LegPlan:
        """An agent's phone: a static ``sip:`` contact or a ``tel:`` number."""
        try:
            uri = SipUri.parse(phone)
        except SipParseError as exc:
            raise UnroutablePhone(f"not a phone URI: {phone!r}") from exc
        if uri.scheme == "tel":
            return self.for_number(uri.host, caller=caller)
        if uri.scheme == "sips" and not self._config.listen_tls:
            raise UnroutablePhone(f"a sips: phone needs SWITCHBOARD_SIP_LISTEN_TLS: {phone!r}")
        if uri.scheme not in ("sip", "sips"):
            raise UnroutablePhone(f"unsupported phone URI scheme: {phone!r}")
        try:
            target = target_of(uri)
        except SipParseError as exc:
            raise UnroutablePhone(str(exc)) from exc
        from_value = (
            self._identity(caller)
            if caller
            else (f"<sip:{self._config.contact_user}@{self._domain}>")
        )
        return LegPlan(uri, target, f"<{uri}>", from_value)

    def _identity(self, number: str | None) -> str:
        if not number:
            return ANONYMOUS
        user = number if number.startswith("+") else f"+{number}"
        return str(NameAddr(SipUri("sip", self._domain, user)))
