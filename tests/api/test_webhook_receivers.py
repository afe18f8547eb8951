"""Receivers Switchboard will not call. A subscription's URL is an account's to choose, so a
delivery never connects to this machine, link-local addresses (a cloud's metadata service) or
the other networks of ``SWITCHBOARD_WEBHOOK_DENY_NETWORKS``, unless
``SWITCHBOARD_WEBHOOK_ALLOW_NETWORKS`` lets it. Checked where the connection is made, on the
addresses the name resolved to: a real receiver on 127.0.0.1 gets nothing, by address or by
the name ``localhost``, and the delivery log says why."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from switchboard.adapters.webhooks import ReceiverNetworks
from switchboard.config import WEBHOOK_DENIED_BY_DEFAULT, ConfigError, load_settings
from tests.support.harness import Harness, close_harness, open_harness
from tests.support.webhook_receiver import Receiver

KEY = "a1b2c3d4e5"
SECRET = base64.b64encode(bytes(range(32))).decode()
CALL = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "::ffff:127.0.0.1",  # IPv4-mapped: the same loopback
        "169.254.169.254",  # the metadata service of many clouds
        "fe80::1%eth0",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "255.255.255.255",
    ],
)
def test_the_default_refuses_this_machine_link_local_and_multicast(address: str) -> None:
    why = ReceiverNetworks(WEBHOOK_DENIED_BY_DEFAULT).refusal(address)
    assert why is not None and "where webhooks are not delivered" in why


@pytest.mark.parametrize("address", ["203.0.113.7", "10.1.2.3", "192.168.0.10", "2001:db8::1"])
def test_the_default_lets_public_and_private_networks_through(address: str) -> None:
    # Private networks are where an on-premises CRM listens; a multi-tenant host denies them.
    assert ReceiverNetworks(WEBHOOK_DENIED_BY_DEFAULT).refusal(address) is None


def test_allowed_networks_come_first_and_denied_ones_can_be_added() -> None:
    networks = ReceiverNetworks(
        [*WEBHOOK_DENIED_BY_DEFAULT, "10.0.0.0/8"], allow=["127.0.0.1/32", "10.9.0.0/16"]
    )
    assert networks.refusal("127.0.0.1") is None
    assert networks.refusal("127.0.0.2") is not None
    assert networks.refusal("10.1.2.3") is not None
    assert networks.refusal("10.9.8.7") is None


def test_a_bad_network_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_WEBHOOK_ALLOW_NETWORKS", '["10.0.0.0/33"]')
    with pytest.raises(ConfigError, match=r"10\.0\.0\.0/33"):
        load_settings()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver(secret=SECRET).start()
    try:
        yield r
    finally:
        await r.stop()


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[Harness]:
    """The service's default: no network allowed beyond the defaults (the harness allows
    127.0.0.1 for the other webhook tests)."""
    harness = await open_harness(tmp_path, webhook_allow_networks=[], webhook_max_attempts=2)
    try:
        yield harness
    finally:
        await close_harness(harness)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_receiver_on_this_machine_gets_nothing_and_the_log_says_why(
    guarded: Harness, receiver: Receiver, host: str
) -> None:
    sb = guarded
    url = receiver.url.replace("127.0.0.1", host)
    added = await sb.client.post(
        f"/api/v1/accounts/{KEY}/webhooks",
        json={"url": url, "secret": SECRET, "events": ["call.placed"]},
        headers=await sb.headers(),
    )
    assert added.status_code == 201, added.text
    assert (await sb.place(CALL)).status_code == 201
    dispatcher = sb.runtime.webhooks
    assert dispatcher is not None
    await dispatcher.pass_once()
    await sb.advance(3600)  # past every backoff: the second attempt, then the dead letter
    await dispatcher.pass_once()
    assert receiver.requests == []  # no connection was made, let alone a request
    log = (
        await sb.client.get(
            f"/api/v1/accounts/{KEY}/webhooks/{added.json()['id']}/deliveries",
            headers=await sb.headers(),
        )
    ).json()["deliveries"]
    assert {d["status"] for d in log} <= {"failed", "dead"} and log[0]["status"] == "dead"
    assert all(d["responseCode"] is None for d in log)
    assert all("where webhooks are not delivered" in d["error"] for d in log), log
