"""Where each leg of a call is sent, and what it says about who is calling.

Numbers go to the trunk as ``sip:+E164@trunkhost[:port]`` (``;transport=tcp`` when the trunk is
TCP), through the outbound proxy when one is configured (a pre-loaded Route). An agent's phone
is a ``sip:`` URI (a static contact, sent to directly) or a ``tel:+E164`` number (through the
trunk). Trunk requests carry the trunk's credentials and extra headers.

The destination sees the presented CLID in From (and in P-Asserted-Identity when configured);
without one, From is anonymous (RFC 3261 8.1.1.3). The agent's phone sees the number it is
about to be connected to, so it knows what it is answering.

Known holes: no ``sips:`` (TLS) phones, and no per-account trunks.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.adapters.telephony.sip.auth import Credentials
from switchboard.adapters.telephony.sip.config import SipConfig
from switchboard.adapters.telephony.sip.dialog import target_of
from switchboard.adapters.telephony.sip.message import SipParseError
from switchboard.adapters.telephony.sip.resolver import srv_name
from switchboard.adapters.telephony.sip.transport import Target, is_ip
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
    # RFC 3263: the SRV name to look the first hop up by (the trunk named without a port),
    # and the hops to try after ``target`` on 503 or a timeout, once looked up.
    srv: str | None = None
    alternatives: tuple[Target, ...] = ()

    @property
    def transport(self) -> str:
        return self.target.transport


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
        params: dict[str, str | None] = {}
        if config.trunk_transport == "tcp":
            params["transport"] = "tcp"
        uri = SipUri(
            "sip",
            config.trunk_host,
            number,
            None,
            config.trunk_port,
            params,
        )
        routes: tuple[str, ...] = ()
        srv: str | None = None
        if config.trunk_proxy:
            proxy = SipUri.parse(config.trunk_proxy)
            proxy.params.setdefault("lr", None)
            routes = (f"<{proxy}>",)
            target = target_of(proxy)
        else:
            target = Target(config.trunk_transport, config.trunk_host, config.trunk_port or 5060)
            if config.trunk_port is None and not is_ip(config.trunk_host):
                srv = srv_name(config.trunk_host, config.trunk_transport)
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
            uri, target, f"<{uri}>", from_value, routes, tuple(headers), credentials, srv
        )

    def for_phone(self, phone: str, *, caller: str | None) -> LegPlan:
        """An agent's phone: a static ``sip:`` contact or a ``tel:`` number."""
        try:
            uri = SipUri.parse(phone)
        except SipParseError as exc:
            raise UnroutablePhone(f"not a phone URI: {phone!r}") from exc
        if uri.scheme == "tel":
            return self.for_number(uri.host, caller=caller)
        if uri.scheme != "sip":
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
