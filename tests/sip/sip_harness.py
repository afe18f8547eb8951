"""What the SIP tests share: a recorder of the engine's signals, and SIPp peers around an engine.

``FakeSignals`` stands in for the service: it records every signal in order and lets a test
await one. ``SipHarness`` starts SIPp peers from ``scenarios/`` and an engine pointed at them,
and plays the service's deadline loop: when a deadline the engine scheduled comes, it calls
``on_deadline`` (one deadline per call, as storage keeps it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from switchboard.adapters.telephony.sip import SipConfig, SipEngine
from switchboard.adapters.telephony.sip.resolver import Resolver
from switchboard.domain.calls import CallResult, Ending, Phase
from switchboard.service.ports import CallSetup, Deadline, StartOutcome
from tests.support.sipp import SippPeer, free_port

SCENARIOS = Path(__file__).parent / "scenarios"
DEFAULT_NUMBER = "+441632960123"

# @HANGUP@ blocks for the UAS scenarios: wait for the controller's BYE, or send one ourselves.
RECEIVE_BYE = """
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
"""


def send_bye(after_ms: int = 200) -> str:
    return f"""
  <pause milliseconds="{after_ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$local_party];tag=[pid]SIPpTagSB[call_number]
      To: [$remote_party]
      Call-ID: [call_id]
      CSeq: 10 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""


RINGING = """
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTagSB[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
"""


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Signal:
    kind: str  # "schedule", "agent_answered", "destination_answered", "ended"
    call_id: str
    payload: Any = None


_MOVES = ("agent_answered", "destination_answered", "ended")


class FakeSignals:
    """Records ``CallSignals`` in order; a test awaits the one it expects."""

    def __init__(self) -> None:
        self.log: list[Signal] = []
        self.endings: dict[str, Ending | None] = {}
        self._changed = asyncio.Event()

    def _record(self, signal: Signal) -> None:
        self.log.append(signal)
        self._changed.set()

    async def schedule(self, call_id: str, due_at: datetime, tag: str) -> None:
        self._record(Signal("schedule", call_id, (due_at, tag)))

    async def agent_ringing(self, call_id: str) -> None:
        self._record(Signal("agent_ringing", call_id))

    async def destination_ringing(self, call_id: str) -> None:
        self._record(Signal("destination_ringing", call_id))

    async def agent_answered(
        self,
        call_id: str,
        then: Deadline | None = None,
        fired: Deadline | None = None,
        *,
        destination_ringing: bool = False,
    ) -> None:
        self._record(Signal("agent_answered", call_id))
        if then is not None:  # written with the change, as storage does
            await self.schedule(call_id, then.due_at, then.tag)

    async def destination_answered(
        self, call_id: str, then: Deadline | None = None, fired: Deadline | None = None
    ) -> None:
        self._record(Signal("destination_answered", call_id))
        if then is not None:
            await self.schedule(call_id, then.due_at, then.tag)

    async def ended(
        self,
        call_id: str,
        result: CallResult,
        fired: Deadline | None = None,
        ending: Ending | None = None,
    ) -> None:
        self._record(Signal("ended", call_id, result))
        self.endings[call_id] = ending

    def kinds(self, call_id: str) -> list[str]:
        """The signals that move the call (not its deadlines, nor the ringing reports)."""
        return [s.kind for s in self.log if s.call_id == call_id and s.kind in _MOVES]

    def ringing(self, call_id: str) -> list[str]:
        return [s.kind for s in self.log if s.call_id == call_id and s.kind.endswith("ringing")]

    def results(self, call_id: str) -> list[CallResult]:
        return [s.payload for s in self.log if s.call_id == call_id and s.kind == "ended"]

    def schedules(self, call_id: str) -> list[tuple[datetime, str]]:
        return [s.payload for s in self.log if s.call_id == call_id and s.kind == "schedule"]

    def phase(self, call_id: str) -> Phase:
        """The phase storage would hold, from the signals so far."""
        kinds = self.kinds(call_id)
        if "ended" in kinds:
            return Phase.ENDED
        if "destination_answered" in kinds:
            return Phase.CONNECTED
        if "agent_answered" in kinds:
            return Phase.DESTINATION_RINGING
        return Phase.AGENT_RINGING

    async def wait_until(self, predicate: Callable[[], bool], within: float = 15.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_for(self, kind: str, call_id: str, within: float = 15.0) -> None:
        await self.wait_until(lambda: kind in self.kinds(call_id), within)

    async def wait_ended(self, call_id: str, within: float = 15.0) -> CallResult:
        await self.wait_for("ended", call_id, within)
        return self.results(call_id)[0]


class DeadlineDriver:
    """The service's deadline loop in miniature: fires each call's latest scheduled deadline."""

    def __init__(self, engine: Any, signals: FakeSignals) -> None:
        self._engine = engine
        self._signals = signals
        self.setups: dict[str, CallSetup] = {}
        self._fired: set[tuple[str, datetime, str]] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def current(self, call_id: str) -> CallSetup:
        return replace(self.setups[call_id], phase=self._signals.phase(call_id))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            for call_id in list(self.setups):
                if self._signals.phase(call_id) is Phase.ENDED:
                    continue
                schedules = self._signals.schedules(call_id)
                if not schedules:
                    continue
                due, tag = schedules[-1]
                key = (call_id, due, tag)
                if due <= now() and key not in self._fired:
                    self._fired.add(key)
                    await self._engine.on_deadline(self.current(call_id), tag)


class SipHarness:
    def __init__(self, workdir: Path, transport: str) -> None:
        self.workdir = workdir
        self.transport = transport
        self.signals = FakeSignals()
        self.peers: list[SippPeer] = []
        self.engine: SipEngine | None = None
        self.driver: DeadlineDriver | None = None
        self._counter = 0

    async def peer(
        self, scenario: str, *, ring_ms: int = 100, timeout_s: float = 20.0, **values: str
    ) -> SippPeer:
        peer = SippPeer(
            SCENARIOS / scenario,
            self.workdir,
            transport=self.transport,
            values=values,
            ring_ms=ring_ms,
            timeout_s=timeout_s,
        )
        await peer.start()
        self.peers.append(peer)
        return peer

    async def open_engine(
        self, *, trunk: SippPeer | None = None, resolver: Resolver | None = None, **overrides: Any
    ) -> SipEngine:
        settings: dict[str, Any] = {
            "bind_host": "127.0.0.1",
            "bind_port": 0,
            "t1_ms": 50,
            "trunk_host": "127.0.0.1",
            "trunk_port": trunk.port if trunk else 9,
            "trunk_transport": self.transport,
            "deadline_grace_s": 2.0,
            # The SIPp trunk answers at once: flow I is allowed for the default number (and
            # the flow I scenarios expect it); every other destination gets flow IV.
            "flow_i_numbers": (DEFAULT_NUMBER,),
        }
        media = overrides.pop("media", None)  # a MediaAnchor: rtpengine between the parties
        settings.update(overrides)
        engine = SipEngine(SipConfig(**settings), now, resolver=resolver, media=media)
        engine.bind(self.signals)
        await engine.open()
        self.engine = engine
        self.driver = DeadlineDriver(engine, self.signals)
        self.driver.start()
        return engine

    def setup(
        self,
        agent_phone: str,
        *,
        number: str | None = DEFAULT_NUMBER,
        phone: str | None = None,
        clid: str | None = "+441632960001",
        agent_timeout_s: float = 5.0,
        destination_timeout_s: float = 10.0,
    ) -> CallSetup:
        self._counter += 1
        return CallSetup(
            call_id=f"call-{self._counter}",
            agent_phone=agent_phone,
            destination_e164=None if phone else number,
            destination_phone=phone,
            presented_clid_e164=clid,
            agent_timeout_s=agent_timeout_s,
            destination_timeout_s=destination_timeout_s,
        )

    def peer_uri_nobody_listens(self) -> str:
        suffix = ";transport=tcp" if self.transport == "tcp" else ""
        return f"sip:agent@127.0.0.1:{free_port()}{suffix}"

    def current(self, call_id: str) -> CallSetup:
        """The setup as storage would rebuild it now (with the phase the signals say)."""
        assert self.driver is not None
        return self.driver.current(call_id)

    async def start(self, setup: CallSetup) -> StartOutcome:
        assert self.engine is not None and self.driver is not None
        self.driver.setups[setup.call_id] = setup
        return await self.engine.start(setup)

    async def assert_peers_passed(self, within: float = 20.0) -> None:
        for peer in self.peers:
            status = await peer.wait(within)
            assert status == 0, f"sipp {peer.name} exited {status}:\n{peer.report()}"

    async def aclose(self) -> None:
        if self.driver is not None:
            await self.driver.stop()
        if self.engine is not None:
            await self.engine.close()
        for peer in self.peers:
            await peer.stop()
