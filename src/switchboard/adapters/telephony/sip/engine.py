"""The SIP telephony engine: the ``TelephonyEngine`` port over our own SIP stack.

``start`` rings the agent and waits up to the start window for a provisional response
(RINGING; a 2xx counts too), a busy answer (486, 600: AGENT_BUSY) or anything else
(AGENT_UNREACHABLE). After RINGING, progress goes through the bound ``CallSignals``; before it,
nothing does, since the service deletes a call that did not start. 100 Trying does not count as
ringing: it is hop-by-hop and says nothing of the phone.

No-answer deadlines are persisted through ``signals.schedule`` and come back as
``on_deadline``; an in-process timer a little later backs each one up, and whichever comes
second finds nothing to do. The calls live in this process: after a restart ``on_deadline`` and
``hangup`` for a call we do not know report it ended as failed, so nothing stays active.

Known holes: calls do not survive a restart (their dialogs are in memory), and there is no
overload control (a start is refused only by the peer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from switchboard.adapters.media.anchor import MediaAnchor
from switchboard.adapters.telephony.sip.addressing import Addressing, LegPlan, UnroutablePhone
from switchboard.adapters.telephony.sip.clock import Clock
from switchboard.adapters.telephony.sip.config import SipConfig, number_listed
from switchboard.adapters.telephony.sip.controller import ThirdPartyCall
from switchboard.adapters.telephony.sip.endpoint import Endpoint
from switchboard.adapters.telephony.sip.locate import locate
from switchboard.adapters.telephony.sip.resolver import DnsResolver, Resolver
from switchboard.adapters.telephony.sip.transitions import (
    DEADLINE_EVENTS,
    Event,
    Flow,
    Occurrence,
)
from switchboard.domain.calls import (
    CallResult,
    EndedBy,
    Ending,
    Party,
    Reason,
    RecordingStatus,
)
from switchboard.service.ports import CallSetup, CallSignals, StartOutcome

log = logging.getLogger(__name__)

CLOSE_LINGER_S = 0.25
CLOSE_WAIT_S = 5.0


class SipEngine:
    name = "sip"
    # Dialogs live in this process: a restarted process cannot go on with them.
    survives_restart = False
    # Its reports come later (the phones answer when they do): deadlines are claimed first.
    consumes_deadlines = False

    def __init__(
        self,
        config: SipConfig,
        now: Callable[[], datetime],
        clock: Clock | None = None,
        resolver: Resolver | None = None,
        media: MediaAnchor | None = None,
    ) -> None:
        self.config = config
        # rtpengine between the parties (docs/recording.md); None: phone to phone.
        self.media = media
        self._now = now
        self._signals: CallSignals | None = None
        self._endpoint = Endpoint(config, clock)
        self._resolver = resolver
        self._addressing: Addressing | None = None
        self._calls: dict[str, ThirdPartyCall] = {}
        self._chains: set[asyncio.Task[None]] = set()
        self._open = False

    def bind(self, signals: CallSignals) -> None:
        self._signals = signals

    @property
    def signals(self) -> CallSignals:
        if self._signals is None:
            raise RuntimeError("SipEngine.bind() was not called")
        return self._signals

    @property
    def port(self) -> int:
        """The port we listen on (UDP and TCP), once open."""
        return self._endpoint.transports.port

    @property
    def tls_port(self) -> int:
        """The port we listen on for TLS, once open (0: not listening)."""
        return self._endpoint.transports.tls_port

    @property
    def calls_in_progress(self) -> int:
        return len(self._calls)

    def holding(self) -> list[str]:
        return list(self._calls)

    def sizes(self) -> dict[str, int]:
        """Every map the engine keeps, by name: all 0 some 64*T1 after the last call ended."""
        return {"calls": len(self._calls), "chains": len(self._chains), **self._endpoint.sizes()}

    async def open(self) -> None:
        await self._endpoint.open()
        if self.media is not None:
            await self.media.open()
        self._addressing = Addressing(self.config, self._endpoint.host)
        self._open = True
        log.info(
            "SIP engine listening on %s:%s (advertised %s:%s)",
            self.config.bind_host,
            self.port,
            self._endpoint.host,
            self._endpoint.port,
        )

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False
        calls = list(self._calls.values())
        for call in calls:
            call.dispatch(Occurrence(Event.SHUTDOWN))
        waiting = [call.closed for call in calls if not call.closed.done()]
        if waiting:
            await asyncio.wait(waiting, timeout=CLOSE_WAIT_S)
        chains = [task for call in calls if (task := call.signal_chain) is not None]
        chains += [task for call in calls if (task := call.media_done) is not None]
        chains += list(self._chains)
        if chains:
            await asyncio.wait(chains, timeout=CLOSE_WAIT_S)
        if calls:
            # Let peers finish with the BYEs just answered before their TCP connections go:
            # some (SIPp) count a connection closed in their last pause as a failed call.
            await asyncio.sleep(CLOSE_LINGER_S)
        self._calls.clear()
        await self._endpoint.close()
        if self.media is not None:
            await self.media.close()

    # ----------------------------------------------------------------- the port

    def plan_start(self, setup: CallSetup) -> None:
        """Only a real phone can tell: the placement calls ``start`` after committing."""
        return None

    async def start(self, setup: CallSetup) -> StartOutcome:
        if not self._open or self._addressing is None:
            raise RuntimeError("SipEngine.open() was not awaited")
        try:
            agent_plan = self._addressing.for_phone(
                setup.agent_phone, caller=setup.destination_e164
            )
        except UnroutablePhone as exc:
            log.warning("call %s: agent phone unusable: %s", setup.call_id, exc)
            return StartOutcome.AGENT_UNREACHABLE
        destination_plan = self._destination_plan(setup)
        if destination_plan is None:
            # Refused before the agent is rung: rule 20's "Please try again", nothing left.
            return StartOutcome.AGENT_UNREACHABLE
        agent_plan = await self._locate(agent_plan)
        destination_plan = await self._locate(destination_plan)
        call = ThirdPartyCall(
            setup,
            choose_flow(self.config, setup),
            agent_plan,
            destination_plan,
            endpoint=self._endpoint,
            signals=self.signals,
            now=self._now,
            grace_s=self.config.deadline_grace_s,
            on_closed=self._closed,
            keepalive_s=self.config.keepalive_s,
            max_call_s=self.config.max_call_s,
            media=self.media.for_call(setup) if self.media is not None else None,
        )
        self._calls[setup.call_id] = call
        try:
            call.begin()
            try:
                outcome = await asyncio.wait_for(
                    asyncio.shield(call.started), self.config.start_window_ms / 1000
                )
            except TimeoutError:
                call.dispatch(Occurrence(Event.START_EXPIRED))
                outcome = call.started.result()
            except asyncio.CancelledError:
                call.dispatch(Occurrence(Event.START_EXPIRED))  # nobody will hear of this call
                raise
        finally:
            call.open_gate()
        log.info("call %s: start %s (flow %s)", setup.call_id, outcome.value, call.flow.value)
        return outcome

    async def on_deadline(self, setup: CallSetup, tag: str) -> None:
        call = self._calls.get(setup.call_id)
        if call is None:
            await self._unknown(setup, f"deadline {tag}")
            return
        event = DEADLINE_EVENTS.get(tag)
        if event is None:
            log.warning("call %s: unknown deadline tag %r", setup.call_id, tag)
            return
        call.dispatch(Occurrence(event))

    async def hangup(self, setup: CallSetup, by: Party) -> None:
        call = self._calls.get(setup.call_id)
        if call is None:
            await self._unknown(setup, "hangup")
            return
        call.dispatch(Occurrence(Event.HANGUP, party=by))

    async def record(self, setup: CallSetup, status: RecordingStatus) -> RecordingStatus:
        """Without rtpengine nothing can record: the state stays the V0 field as set (as
        before rtpengine). With it, what the call's media really does."""
        if self.media is None:
            return status
        call = self._calls.get(setup.call_id)
        if call is None or call.media is None:
            log.warning(
                "call %s: recording %s for a call this engine does not hold",
                setup.call_id,
                status.value,
            )
            return RecordingStatus.STOPPED
        return await call.media.record(status)

    # ----------------------------------------------------------------- inside

    def _destination_plan(self, setup: CallSetup) -> LegPlan | None:
        assert self._addressing is not None
        caller = setup.presented_clid_e164
        try:
            if setup.destination_phone:
                return self._addressing.for_phone(setup.destination_phone, caller=caller)
            if setup.destination_e164:
                return self._addressing.for_number(setup.destination_e164, caller=caller)
        except UnroutablePhone as exc:
            log.error("call %s: destination unusable: %s", setup.call_id, exc)
            return None
        log.error("call %s: no destination", setup.call_id)
        return None

    async def _locate(self, plan: LegPlan) -> LegPlan:
        """RFC 3263 for a trunk named by host (``locate.py``): the transport, when not
        configured, and the targets, which the leg tries in order."""
        lookup = plan.lookup
        if lookup is None:
            return plan
        if self._resolver is None:
            self._resolver = DnsResolver(
                self._endpoint.clock,
                nameserver=self.config.dns_server,
                ttl_s=self.config.dns_ttl_s,
            )
        located = await locate(
            self._resolver,
            lookup.host,
            port=lookup.port,
            transport=lookup.transport,
            supported=self.supported_transports,
        )
        return Addressing.over(plan, located)

    @property
    def supported_transports(self) -> tuple[str, ...]:
        """What RFC 3263 discovery may choose, best first: TLS only when we listen on it (our
        sips: Contact must be reachable), UDP only when we have a UDP socket to send from."""
        config = self.config
        tls = ("tls",) if config.listen_tls else ()
        udp = ("udp",) if config.listen_udp else ()
        return (*tls, "tcp", *udp)

    def _closed(self, call: ThirdPartyCall) -> None:
        if self._calls.get(call.call_id) is call:
            del self._calls[call.call_id]
        for chain in (call.signal_chain, call.media_done):
            if chain is not None and not chain.done():
                self._chains.add(chain)
                chain.add_done_callback(self._chains.discard)

    async def _unknown(self, setup: CallSetup, what: str) -> None:
        """A call from before a restart, or already gone: make sure it is not left active."""
        log.info("call %s: %s for a call this engine does not hold", setup.call_id, what)
        await self.signals.ended(
            setup.call_id,
            CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED),
            ending=Ending(EndedBy.SWITCHBOARD),
        )


def choose_flow(config: SipConfig, setup: CallSetup) -> Flow:
    """Flow IV for people (every agent's phone, any number not listed); flow I only for a
    listed number known to answer at once, and only while the agent's held 2xx outlives the
    ring (RFC 3725 section 5; the phone gives up on an unacknowledged 2xx after 64*T1)."""
    number = setup.destination_e164
    if (
        setup.destination_phone is None
        and number is not None
        and number_listed(number, config.flow_i_numbers)
        and setup.destination_timeout_s <= config.flow_i_max_ring_s
    ):
        return Flow.I
    return Flow.IV
