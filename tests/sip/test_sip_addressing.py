"""Where legs are sent and who they say is calling."""

from __future__ import annotations

import pytest

from switchboard.adapters.telephony.sip.addressing import ANONYMOUS, Addressing, UnroutablePhone
from switchboard.adapters.telephony.sip.config import SipConfig
from switchboard.adapters.telephony.sip.controller import ThirdPartyCall
from switchboard.adapters.telephony.sip.transitions import TRANSITIONS
from switchboard.adapters.telephony.sip.transport import Target


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
