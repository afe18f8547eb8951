"""Where legs are sent and who they say is calling."""

from __future__ import annotations

import pytest

from switchboard.adapters.telephony.sip.addressing import (
    ANONYMOUS,
    Addressing,
    TrunkLookup,
    UnroutablePhone,
)
from switchboard.adapters.telephony.sip.config import SipConfig
from switchboard.adapters.telephony.sip.controller import ThirdPartyCall
from switchboard.adapters.telephony.sip.dialog import target_of
from switchboard.adapters.telephony.sip.locate import Located
from switchboard.adapters.telephony.sip.transitions import TRANSITIONS
from switchboard.adapters.telephony.sip.transport import Target
from switchboard.adapters.telephony.sip.uri import SipUri


def addressing(**settings: object) -> Addressing:
    base: dict[str, object] = {"bind_host": "127.0.0.1", "trunk_host": "trunk.example"}
    base.update(settings)
    return Addressing(SipConfig(**base), "192.0.2.10")  # type: ignore[arg-type]


def test_numbers_go_to_the_trunk_with_the_clid_in_from() -> None:
    plan = addressing(
        trunk_port=5080,
        trunk_transport="tcp",
        p_asserted_identity=True,
        trunk_headers={"X-Account": "acme"},
    ).for_number("+441632960123", caller="+441632960001")
    assert str(plan.request_uri) == "sip:+441632960123@trunk.example:5080;transport=tcp"
    assert plan.target == Target("tcp", "trunk.example", 5080)
    assert plan.from_value == "<sip:+441632960001@192.0.2.10>"
    assert ("P-Asserted-Identity", "<sip:+441632960001@192.0.2.10>") in plan.headers
    assert ("X-Account", "acme") in plan.headers


def test_without_a_clid_the_call_is_anonymous_and_asserts_nothing() -> None:
    plan = addressing(p_asserted_identity=True).for_number("441632960123", caller=None)
    assert str(plan.request_uri) == "sip:+441632960123@trunk.example"
    assert plan.from_value == ANONYMOUS
    assert plan.headers == ()


def test_outbound_proxy_is_a_preloaded_loose_route() -> None:
    plan = addressing(
        trunk_proxy="sip:sbc1.example:5070",
        from_domain="acme.example",
        trunk_username="u",
        trunk_password="p",
    ).for_number("+44", caller="+1")
    assert plan.routes == ("<sip:sbc1.example:5070;lr>",)
    assert plan.target == Target("udp", "sbc1.example", 5070)
    assert plan.from_value == "<sip:+1@acme.example>"
    assert plan.credentials is not None and plan.credentials.username == "u"


def test_agent_phones_static_contact_or_tel_through_the_trunk() -> None:
    direct = addressing().for_phone("sip:1001@10.0.0.7:5062;transport=tcp", caller="+4420")
    assert direct.target == Target("tcp", "10.0.0.7", 5062)
    assert direct.credentials is None
    assert direct.from_value == "<sip:+4420@192.0.2.10>"
    via_trunk = addressing().for_phone("tel:+441632960555", caller=None)
    assert str(via_trunk.request_uri) == "sip:+441632960555@trunk.example"


@pytest.mark.parametrize(
    "phone", ["sim:answer", "sips:1001@host", "sip:1001@host;transport=ws", "not a uri"]
)
def test_unusable_phones(phone: str) -> None:
    with pytest.raises(UnroutablePhone):
        addressing().for_phone(phone, caller=None)


def test_numbers_need_a_trunk() -> None:
    with pytest.raises(UnroutablePhone):
        addressing(trunk_host=None).for_number("+441632960123", caller=None)


def test_every_transition_names_an_action_the_controller_has() -> None:
    for table in TRANSITIONS.values():
        for _, action in table.values():
            assert callable(getattr(ThirdPartyCall, f"_{action}", None)), action


@pytest.mark.parametrize(
    "settings",
    [
        {"trunk_transport": "sctp"},
        {"t1_ms": 0},
        {"bind_host": "0.0.0.0"},
        {"trunk_username": "u"},
        {"listen_udp": False, "listen_tcp": False},
    ],
)
def test_bad_configuration_fails_loudly(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SipConfig(**settings)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- TLS and discovery

TLS = {"listen_tls": True, "tls_cert_file": "ours.pem", "tls_key_file": "ours.key"}


def test_a_tls_trunk_gets_sips_and_its_certificate_must_name_the_trunk() -> None:
    plan = addressing(trunk_transport="tls", **TLS).for_number("+441632960123", caller=None)
    assert str(plan.request_uri) == "sips:+441632960123@trunk.example"
    assert plan.target == Target("tls", "trunk.example", 5061, "trunk.example")
    assert plan.lookup == TrunkLookup("trunk.example", None, "tls")


def test_a_trunk_named_by_host_without_a_transport_is_discovered() -> None:
    plan = addressing().for_number("+441632960123", caller=None)
    assert plan.lookup == TrunkLookup("trunk.example", None, None)
    found = Located("tls", (Target("tls", "192.0.2.1", 5061, "trunk.example"),))
    over_tls = Addressing.over(plan, found)
    assert str(over_tls.request_uri) == "sips:+441632960123@trunk.example"
    assert over_tls.to_value == "<sips:+441632960123@trunk.example>"
    assert over_tls.target == found.targets[0]
    assert over_tls.lookup is None
    over_tcp = Addressing.over(plan, Located("tcp", (Target("tcp", "192.0.2.2", 5060),)))
    assert str(over_tcp.request_uri) == "sip:+441632960123@trunk.example;transport=tcp"


def test_a_numeric_trunk_without_a_transport_is_udp_and_needs_no_dns() -> None:
    plan = addressing(trunk_host="192.0.2.5").for_number("+441632960123", caller=None)
    assert plan.lookup is None
    assert plan.target == Target("udp", "192.0.2.5", 5060)


def test_a_sips_phone_goes_over_tls_when_we_listen_on_tls() -> None:
    plan = addressing(**TLS).for_phone("sips:1001@pbx.example", caller=None)
    assert plan.target == Target("tls", "pbx.example", 5061, "pbx.example")


def test_a_tls_record_route_is_followed_over_tls() -> None:
    assert target_of(SipUri.parse("sip:192.0.2.7:5071;transport=tls;lr")) == Target(
        "tls", "192.0.2.7", 5071, "192.0.2.7"
    )
    assert target_of(SipUri.parse("sips:edge.example;lr")).port == 5061


@pytest.mark.parametrize(
    "settings",
    [
        {"trunk_transport": "tls"},  # the trunk's BYE would have nowhere to come
        {"listen_tls": True},  # no certificate to serve
        {"tls_cert_file": "ours.pem"},  # a certificate without its key
        {"trunk_proxy": "sips:edge.example;lr"},
        {"trunk_proxy": "sip:edge.example;transport=tls;lr"},
    ],
)
def test_tls_configuration_that_cannot_work_fails_loudly(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SipConfig(**settings)  # type: ignore[arg-type]
