"""The telephony engine port's contract, run over every engine: the SIP engine (against SIPp
peers, over UDP) and the simulator.

Each test asks the harness for a call that behaves a certain way (the phones answer, the agent
is busy, the destination is busy, the destination rings on); the harness sets up what that
means for its engine (SIPp scenarios, or ``sim:`` phones and simulator numbers) and plays the
service: it records signals and fires scheduled deadlines, passing the phase storage would
hold.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.domain.calls import CallResult, EndedBy, Ending, Party, Reason
from switchboard.service.ports import CallSetup, StartOutcome, TelephonyEngine
from tests.sip.sip_harness import RECEIVE_BYE, DeadlineDriver, FakeSignals, SipHarness, now

ANSWERED_NUMBER = "+442072068888"


class Behaviour(enum.Enum):
    CONNECTS = "both phones answer; nobody hangs up on their own"
    AGENT_BUSY = "the agent's phone is busy"
    DESTINATION_BUSY = "the agent answers, the destination is busy"
    DESTINATION_RINGS = "the agent answers, the destination rings on"


class EngineHarness:
    name: str
    engine: TelephonyEngine
    signals: FakeSignals
    driver: DeadlineDriver

    async def prepare(self, behaviour: Behaviour) -> CallSetup:
        raise NotImplementedError

    async def start(self, setup: CallSetup) -> StartOutcome:
        self.driver.setups[setup.call_id] = setup
        return await self.engine.start(setup)

    def current(self, call_id: str) -> CallSetup:
        return self.driver.current(call_id)

    async def verify(self) -> None:
        """Whatever the far ends observed was right (the SIPp scenarios passed)."""

    async def aclose(self) -> None:
        await self.driver.stop()
        await self.engine.close()


class SimulatorHarness(EngineHarness):
    name = "simulator"

    def __init__(self, engine_class: Any) -> None:
        self.signals = FakeSignals()
        self.engine = engine_class(now, answer_ms=50, talk_seconds=60.0)
        self.engine.bind(self.signals)
        self.driver = DeadlineDriver(self.engine, self.signals)
        self.driver.start()
        self._counter = 0

    async def prepare(self, behaviour: Behaviour) -> CallSetup:
        await self.engine.open()
        self._counter += 1
        agent, number = {
            Behaviour.CONNECTS: ("sim:answer?after=50", ANSWERED_NUMBER),
            Behaviour.AGENT_BUSY: ("sim:busy", ANSWERED_NUMBER),
            Behaviour.DESTINATION_BUSY: ("sim:answer?after=50", "+442072060486"),
            Behaviour.DESTINATION_RINGS: ("sim:answer?after=50", "+442072060408"),
        }[behaviour]
        return CallSetup(
            call_id=f"sim-{self._counter}",
            agent_phone=agent,
            destination_e164=number,
            destination_phone=None,
            presented_clid_e164="+441632960001",
            agent_timeout_s=5.0,
            destination_timeout_s=20.0,
        )


class SipEngineHarness(EngineHarness):
    name = "sip"

    def __init__(self, workdir: Path) -> None:
        self._sip = SipHarness(workdir, "udp")
        self.signals = self._sip.signals

    async def prepare(self, behaviour: Behaviour) -> CallSetup:
        sip = self._sip
        if behaviour is Behaviour.AGENT_BUSY:
            agent = await sip.peer("reject.xml", PROVISIONAL="", CODE="486", REASON="Busy Here")
            trunk = None
        else:
            # Flow IV, as every call to a person gets: the agent is held until the destination
            # answers, then re-INVITEd with its offer.
            connects = behaviour is Behaviour.CONNECTS
            agent = await sip.peer(
                "agent_flow4.xml" if connects else "agent_held.xml", HANGUP=RECEIVE_BYE
            )
            if connects:
                trunk = await sip.peer("trunk_flow4.xml", ORIGIN="trunk", HANGUP=RECEIVE_BYE)
            elif behaviour is Behaviour.DESTINATION_BUSY:
                trunk = await sip.peer("reject.xml", PROVISIONAL="", CODE="486", REASON="Busy Here")
            else:
                trunk = await sip.peer("noanswer.xml")
        self.engine = await sip.open_engine(trunk=trunk)
        assert sip.driver is not None
        self.driver = sip.driver
        return sip.setup(
            agent.uri(), number=ANSWERED_NUMBER, agent_timeout_s=5.0, destination_timeout_s=20.0
        )

    async def verify(self) -> None:
        await self._sip.assert_peers_passed()

    async def aclose(self) -> None:
        await self._sip.aclose()


@pytest.fixture(params=[pytest.param("sip", marks=pytest.mark.sip), "simulator"])
async def engine_harness(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[EngineHarness]:
    harness: EngineHarness
    if request.param == "sip":
        from tests.support.sipp import sipp_available

        if not sipp_available():
            pytest.skip("sipp not found: install the Debian package sip-tester")
        harness = SipEngineHarness(tmp_path)
    else:
        simulator = pytest.importorskip("switchboard.adapters.telephony.simulator")
        harness = SimulatorHarness(simulator.SimulatorEngine)
    try:
        yield harness
    finally:
        await harness.aclose()


async def test_a_call_rings_connects_and_ends_when_the_agent_hangs_up(
    engine_harness: EngineHarness,
) -> None:
    setup = await engine_harness.prepare(Behaviour.CONNECTS)
    signals = engine_harness.signals

    assert await engine_harness.start(setup) is StartOutcome.RINGING
    await signals.wait_for("destination_answered", setup.call_id)
    assert signals.kinds(setup.call_id) == ["agent_answered", "destination_answered"]

    await engine_harness.engine.hangup(engine_harness.current(setup.call_id), Party.ORIGINATOR)
    assert await signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.ORIGINATOR)
    assert len(signals.results(setup.call_id)) == 1
    # A hang-up asked of the engine is the client's (the API or the CLI asked for it).
    assert signals.endings[setup.call_id] == Ending(EndedBy.CLIENT)
    await engine_harness.verify()


async def test_a_busy_agent_fails_the_start_and_is_never_reported_ended(
    engine_harness: EngineHarness,
) -> None:
    setup = await engine_harness.prepare(Behaviour.AGENT_BUSY)

    assert await engine_harness.start(setup) is StartOutcome.AGENT_BUSY
    await engine_harness.verify()
    await asyncio.sleep(0.1)
    assert engine_harness.signals.kinds(setup.call_id) == []


async def test_a_busy_destination_ends_the_call_as_number_busy(
    engine_harness: EngineHarness,
) -> None:
    setup = await engine_harness.prepare(Behaviour.DESTINATION_BUSY)

    assert await engine_harness.start(setup) is StartOutcome.RINGING
    assert await engine_harness.signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.DESTINATION, Reason.NUMBER_BUSY
    )
    assert engine_harness.signals.kinds(setup.call_id) == ["agent_answered", "ended"]
    result = engine_harness.signals.results(setup.call_id)[0]
    ending = engine_harness.signals.endings[setup.call_id] or Ending.of(result)
    assert ending.by is EndedBy.DESTINATION
    # The SIP engine says which status ended it; the simulator has none to give.
    assert ending.sip_status == (486 if engine_harness.name == "sip" else None)
    await engine_harness.verify()


async def test_hanging_up_while_the_destination_rings_is_a_normal_originator_failure(
    engine_harness: EngineHarness,
) -> None:
    setup = await engine_harness.prepare(Behaviour.DESTINATION_RINGS)
    signals = engine_harness.signals

    assert await engine_harness.start(setup) is StartOutcome.RINGING
    await signals.wait_for("agent_answered", setup.call_id)
    await asyncio.sleep(0.2)
    await engine_harness.engine.hangup(engine_harness.current(setup.call_id), Party.ORIGINATOR)
    assert await signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.ORIGINATOR, Reason.NORMAL
    )
    await engine_harness.verify()


async def test_an_unknown_call_is_reported_ended_rather_than_left_active(
    engine_harness: EngineHarness,
) -> None:
    """After a restart, a deadline or hang-up for a call the engine never saw."""
    setup = await engine_harness.prepare(Behaviour.CONNECTS)
    lost = CallSetup(
        call_id="lost",
        agent_phone=setup.agent_phone,
        destination_e164=ANSWERED_NUMBER,
        destination_phone=None,
        presented_clid_e164=None,
        agent_timeout_s=5.0,
        destination_timeout_s=20.0,
    )

    await engine_harness.engine.on_deadline(lost, "no-such-tag")
    assert engine_harness.signals.results("lost") == [
        CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED)
    ]
