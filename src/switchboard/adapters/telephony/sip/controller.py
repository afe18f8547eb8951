"""Third-party call control (RFC 3725): one state machine joins the agent's phone and the
destination, by flow I or flow IV, and reports the call's progress through ``CallSignals``.

Flow I (``destination_timeout_s`` <= ``flow_i_max_ring_s``): INVITE the agent without SDP; its
2xx carries the offer, held unacknowledged; INVITE the destination with it; its 2xx carries the
answer: ACK the destination, then ACK the agent with the answer. The agent's phone gives up on
an unacknowledged 2xx after 64*T1 (32 s), hence the ring limit.

Flow IV (longer rings): INVITE the agent with a held offer and ACK at once; INVITE the
destination without SDP; its 2xx carries an offer: re-INVITE the agent with it (under our
origin line, next version); the agent's 2xx carries the answer: ACK the agent, then ACK the
destination with the answer.

Events come from the legs, from persisted deadlines (``on_deadline``), from the service
(``hangup``) and from the engine (start window, shutdown). ``transitions.TRANSITIONS`` says
which event moves which state where, and names the action here that does the I/O; anything
else is ignored. Events raised while an action runs are queued, so actions never nest.

Signals are sent in order, one after another, on a chain of tasks that waits until ``start``
has returned: the service is not asked to record a deadline for a call it is still creating.

Once connected, a new offer from either party (hold, resume, codec change) is relayed to the
other as a re-INVITE and its answer brought back (``leg_offered``); one relay at a time.

Early media (flow IV only): a provisional from the destination with SDP (183 Session
Progress) is relayed to the agent at once as a re-INVITE, as its 2xx would be; the agent's
answer stays with us (without PRACK or UPDATE we cannot give it to the destination before its
2xx), so the early media reaches the agent where the far end sends RTP to where it receives it
from (symmetric RTP, as SBCs do). One early re-INVITE at a time, each new description once; the
destination's 2xx re-INVITEs the agent again when the early one is done. In flow I the agent's
offer waits in its held 2xx for the final answer, so early media cannot be relayed.

Known holes: early media in flow I; the agent's early answer never reaches the destination.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from switchboard.adapters.media.anchor import AGENT, DESTINATION, CallMedia
from switchboard.adapters.telephony.sip import sdp
from switchboard.adapters.telephony.sip.addressing import LegPlan
from switchboard.adapters.telephony.sip.clock import Timer
from switchboard.adapters.telephony.sip.endpoint import Endpoint
from switchboard.adapters.telephony.sip.leg import Leg, LegState
from switchboard.adapters.telephony.sip.message import Request, Response
from switchboard.adapters.telephony.sip.transaction import ServerTransaction
from switchboard.adapters.telephony.sip.transitions import (
    AGENT_DEADLINE,
    DESTINATION_DEADLINE,
    TRANSITIONS,
    CallState,
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
    reason_for_sip_status,
)
from switchboard.domain.errors import StorageUnavailable
from switchboard.service.ports import CallSetup, CallSignals, StartOutcome

log = logging.getLogger(__name__)

BUSY_STATUSES = (486, 600)


class ThirdPartyCall:
    def __init__(
        self,
        setup: CallSetup,
        flow: Flow,
        agent: LegPlan,
        destination: LegPlan | None,
        *,
        endpoint: Endpoint,
        signals: CallSignals,
        now: Callable[[], datetime],
        grace_s: float,
        on_closed: Callable[[ThirdPartyCall], None],
        keepalive_s: float = 0.0,
        max_call_s: float = 0.0,
        media: CallMedia | None = None,
    ) -> None:
        self.setup = setup
        self.flow = flow
        self.state = CallState.AGENT_CALLING
        self.agent = Leg("agent", agent, endpoint, self)
        self.destination: Leg | None = None
        self._destination_plan = destination
        self._endpoint = endpoint
        self._signals = signals
        self._now = now
        self._grace = grace_s
        self._on_closed = on_closed
        self._table = TRANSITIONS[flow]
        self._queue: deque[Occurrence] = deque()
        self._dispatching = False
        self._fallbacks: list[Timer] = []
        self._keepalive_s = keepalive_s
        self._max_call_s = max_call_s
        self._connected_timers: list[Timer] = []
        loop = asyncio.get_running_loop()
        self.started: asyncio.Future[StartOutcome] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._gate = asyncio.Event()
        self._chain: asyncio.Task[None] | None = None
        self._ended_reported = False
        self._destination_rang = False
        # A mid-call offer being relayed: the leg it came on, its transaction and request.
        self._relay: tuple[Leg, ServerTransaction, Request] | None = None
        # Flow IV early media: the last description relayed, whether its re-INVITE is under
        # way, and the destination's final offer waiting for it.
        self._early_sdp: bytes | None = None
        self._early_pending = False
        self._final_offer: bytes | None = None
        # rtpengine between the parties (None: media goes phone to phone). Its steps run one
        # after another on a chain of tasks; what each gives back is then sent on.
        self.media = media
        self._media_tail: asyncio.Task[None] | None = None

    @property
    def call_id(self) -> str:
        return self.setup.call_id

    @property
    def signal_chain(self) -> asyncio.Task[None] | None:
        return self._chain

    def begin(self) -> None:
        offer = sdp.held_offer(self.agent.origin) if self.flow is Flow.IV else None
        self.agent.invite(offer)

    def open_gate(self) -> None:
        self._gate.set()

    # ----------------------------------------------------------------- the machine

    def dispatch(self, occurrence: Occurrence) -> None:
        self._queue.append(occurrence)
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._queue:
                self._step(self._queue.popleft())
        finally:
            self._dispatching = False

    def _step(self, occurrence: Occurrence) -> None:
        row = self._table.get((self.state, occurrence.event))
        if row is None:
            log.debug(
                "call %s: %s ignored in %s", self.call_id, occurrence.event.value, self.state.value
            )
            return
        before = self.state
        self.state, action = row
        log.debug(
            "call %s: %s -> %s on %s (%s)",
            self.call_id,
            before.value,
            self.state.value,
            occurrence.event.value,
            action,
        )
        try:
            getattr(self, f"_{action}")(occurrence)
        except Exception:
            log.exception("call %s: action %s failed", self.call_id, action)
            self.state = CallState.ENDED
            self._settle(StartOutcome.AGENT_UNREACHABLE)
            self._end(CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED))

    # ----------------------------------------------------------------- actions: the agent

    def _reached(self, _: Occurrence) -> None:
        self._settle(StartOutcome.RINGING)
        self._post(lambda: self._signals.agent_ringing(self.call_id))
        self._deadline(AGENT_DEADLINE, self.setup.agent_timeout_s, Event.AGENT_NO_ANSWER)

    def _start_failed(self, occurrence: Occurrence) -> None:
        busy = not occurrence.local and occurrence.status in BUSY_STATUSES
        self._settle(StartOutcome.AGENT_BUSY if busy else StartOutcome.AGENT_UNREACHABLE)
        self._quiet_end()

    def _abandon(self, _: Occurrence) -> None:
        self._settle(StartOutcome.AGENT_UNREACHABLE)
        self._quiet_end()

    def _hangup_while_starting(self, occurrence: Occurrence) -> None:
        self._settle(StartOutcome.AGENT_UNREACHABLE)
        self._end(CallResult.failure(occurrence.party, Reason.NORMAL), _BY_CLIENT)

    def _agent_bad_answer(self, _: Occurrence) -> None:
        self._settle(StartOutcome.RINGING)
        self._end(CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED))

    def _agent_failed(self, occurrence: Occurrence) -> None:
        result = CallResult.failure(Party.ORIGINATOR, _reason(occurrence))
        self._end(result, _failure(occurrence, self.agent, EndedBy.AGENT))

    def _agent_no_answer(self, _: Occurrence) -> None:
        self._end(CallResult.failure(Party.ORIGINATOR, Reason.NO_ANSWER))

    def _offer_to_destination(self, occurrence: Occurrence) -> None:
        """Flow I: the agent's 2xx holds the offer; its ACK waits for the answer."""
        assert occurrence.response is not None
        self._agent_answered()
        body = occurrence.response.body
        self._through(lambda m: m.offer(AGENT, body), body, self._dial)

    def _hold_and_dial(self, _: Occurrence) -> None:
        """Flow IV: the agent accepted the held stream; ACK it now, dial without SDP."""
        self.agent.ack(None)
        self.agent.rewrites_origin = True  # it knows the session by our held offer's o= line
        self._agent_answered()
        self._dial(None)

    def _agent_answered(self) -> None:
        self._settle(StartOutcome.RINGING)
        self._cancel_fallbacks()
        self._post(lambda: self._signals.agent_answered(self.call_id))

    def _dial(self, offer: bytes | None) -> None:
        plan = self._destination_plan
        if plan is None:
            self.dispatch(Occurrence(Event.DEST_FAILED, status=503, local=True))
            return
        self.destination = Leg("destination", plan, self._endpoint, self)
        self.destination.invite(offer)
        self._deadline(DESTINATION_DEADLINE, self.setup.destination_timeout_s, Event.DEST_NO_ANSWER)

    # ----------------------------------------------------------------- actions: the destination

    def _answer_to_agent(self, occurrence: Occurrence) -> None:
        """Flow I: the destination's 2xx holds the answer the agent's ACK is owed."""
        assert occurrence.response is not None and self.destination is not None
        self.destination.ack(None)
        body = occurrence.response.body

        def send(answer: bytes) -> None:
            self.agent.ack(answer)
            self._connected()

        self._through(lambda m: m.answer(AGENT, DESTINATION, body), body, send)

    def _reoffer_to_agent(self, occurrence: Occurrence) -> None:
        """Flow IV: the destination's 2xx holds an offer; its ACK waits for the agent."""
        assert occurrence.response is not None
        self._cancel_fallbacks()
        body = occurrence.response.body

        def send(rewritten: bytes) -> None:
            offer = sdp.with_origin(rewritten, self.agent.origin)
            if self._early_pending:
                self._final_offer = offer  # sent when the agent has answered the early one
            else:
                self.agent.reinvite(offer)

        self._through(lambda m: m.offer(DESTINATION, body), body, send)

    def _answer_to_destination(self, occurrence: Occurrence) -> None:
        assert occurrence.response is not None and self.destination is not None
        body = occurrence.response.body
        destination = self.destination

        def send(answer: bytes) -> None:
            destination.ack(answer)
            self._connected()

        self._through(lambda m: m.answer(DESTINATION, AGENT, body), body, send)

    def _connected(self) -> None:
        self._cancel_fallbacks()
        self._post(lambda: self._signals.destination_answered(self.call_id))
        clock = self._endpoint.clock
        if self._keepalive_s > 0:
            self._connected_timers.append(clock.call_later(self._keepalive_s, self._probe))
        if self._max_call_s > 0:
            self._connected_timers.append(
                clock.call_later(self._max_call_s, self.dispatch, Occurrence(Event.MAX_DURATION))
            )

    def _probe(self) -> None:
        """Ask both parties whether they are still there; a lost BYE cannot keep a call up."""
        if self.state is not CallState.CONNECTED:
            return
        self.agent.probe()
        if self.destination is not None:
            self.destination.probe()
        self._connected_timers.append(
            self._endpoint.clock.call_later(self._keepalive_s, self._probe)
        )

    def _dest_bad_answer(self, _: Occurrence) -> None:
        self._end(CallResult.failure(Party.DESTINATION, Reason.CALL_FAILED))

    def _dest_failed(self, occurrence: Occurrence) -> None:
        result = CallResult.failure(Party.DESTINATION, _reason(occurrence))
        self._end(result, _failure(occurrence, self.destination, EndedBy.DESTINATION))

    def _dest_no_answer(self, _: Occurrence) -> None:
        self._end(CallResult.failure(Party.DESTINATION, Reason.NO_ANSWER))

    def _reoffer_failed(self, occurrence: Occurrence) -> None:
        result = CallResult.failure(Party.ORIGINATOR, _reason(occurrence))
        self._end(result, _failure(occurrence, None, EndedBy.AGENT))

    # ----------------------------------------------------------------- actions: hanging up

    def _agent_gave_up(self, _: Occurrence) -> None:
        self._end(CallResult.failure(Party.ORIGINATOR, Reason.NORMAL))

    def _dest_gave_up(self, _: Occurrence) -> None:
        self._end(CallResult.failure(Party.DESTINATION, Reason.NORMAL))

    def _agent_hung_up(self, _: Occurrence) -> None:
        self._end(CallResult.hung_up(Party.ORIGINATOR), _bye(self.agent, EndedBy.AGENT))

    def _dest_hung_up(self, _: Occurrence) -> None:
        ending = _bye(self.destination, EndedBy.DESTINATION)
        self._end(CallResult.hung_up(Party.DESTINATION), ending)

    def _hangup_unconnected(self, occurrence: Occurrence) -> None:
        self._end(CallResult.failure(occurrence.party, Reason.NORMAL), _BY_CLIENT)

    def _hangup_connected(self, occurrence: Occurrence) -> None:
        self._end(CallResult.hung_up(occurrence.party), _BY_CLIENT)

    def _shutdown_unconnected(self, _: Occurrence) -> None:
        self._end(CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED), _BY_SWITCHBOARD)

    def _shutdown_connected(self, _: Occurrence) -> None:
        self._end(CallResult.hung_up(Party.ORIGINATOR), _BY_SWITCHBOARD)

    def _agent_lost(self, _: Occurrence) -> None:
        # Connected, then the agent's phone vanished: not a hang-up, and says whose side failed.
        self._end(CallResult("Success", Party.ORIGINATOR, Reason.CALL_FAILED), _BY_SWITCHBOARD)

    def _dest_lost(self, _: Occurrence) -> None:
        result = CallResult("Success", Party.DESTINATION, Reason.CALL_FAILED)
        self._end(result, _BY_SWITCHBOARD)

    def _max_duration(self, _: Occurrence) -> None:
        log.info("call %s: longer than %s s; hanging up", self.call_id, self._max_call_s)
        self._end(CallResult.hung_up(Party.ORIGINATOR), _BY_SWITCHBOARD)

    # ----------------------------------------------------------------- endings

    def _end(self, result: CallResult, ending: Ending | None = None) -> None:
        """``ending``: who ended the call, with the SIP status and Q.850 cause; by default
        what the result says (``Ending.of``)."""
        self._quiet_end()
        if not self._ended_reported:
            self._ended_reported = True
            told = ending or Ending.of(result)
            self._post(lambda: self._signals.ended(self.call_id, result, ending=told))

    def _quiet_end(self) -> None:
        self._cancel_fallbacks()
        for timer in self._connected_timers:
            timer.cancel()
        self._connected_timers.clear()
        self.agent.terminate()
        if self.destination is not None:
            self.destination.terminate()
        if self.media is not None:
            media = self.media
            self._media_tail = asyncio.ensure_future(self._finish_media(self._media_tail, media))
        self._check_closed()

    def _settle(self, outcome: StartOutcome) -> None:
        if not self.started.done():
            self.started.set_result(outcome)

    # ----------------------------------------------------------------- deadlines and signals

    def _deadline(self, tag: str, seconds: float, event: Event) -> None:
        due = self._now() + timedelta(seconds=seconds)
        self._post(lambda: self._signals.schedule(self.call_id, due, tag))
        self._fallbacks.append(
            self._endpoint.clock.call_later(seconds + self._grace, self.dispatch, Occurrence(event))
        )

    def _cancel_fallbacks(self) -> None:
        for handle in self._fallbacks:
            handle.cancel()
        self._fallbacks.clear()

    def _post(self, make: Callable[[], Awaitable[None]]) -> None:
        """Queue a signal after the ones before it (and after start() returned)."""
        self._chain = asyncio.ensure_future(self._run_signal(self._chain, make))

    async def _run_signal(
        self, previous: asyncio.Task[None] | None, make: Callable[[], Awaitable[None]]
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        else:
            await self._gate.wait()
        try:
            await make()
        except StorageUnavailable as exc:
            # Known, and said in one line: the database did not take the signal (down, or
            # this node's session ended while it was paused: its successor has the call).
            log.error("call %s: a signal was not stored: %s", self.call_id, exc)
        except Exception:
            log.exception("call %s: a signal failed", self.call_id)

    # ----------------------------------------------------------------- media

    def _through(
        self,
        step: Callable[[CallMedia], Awaitable[bytes]],
        body: bytes,
        then: Callable[[bytes], None],
    ) -> None:
        """Send ``body`` on with ``then``: at once without rtpengine; with it, as rtpengine
        rewrote it, after the steps before it."""
        if self.media is None:
            then(body)
            return
        media = self.media
        self._media_tail = asyncio.ensure_future(
            self._media_step(self._media_tail, step(media), then)
        )

    async def _media_step(
        self,
        previous: asyncio.Task[None] | None,
        step: Awaitable[bytes],
        then: Callable[[bytes], None],
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        body = await step  # CallMedia never raises for rtpengine: it passes the body as is
        if self.state is CallState.ENDED:
            return
        try:
            then(body)
        except Exception:
            log.exception("call %s: sending a description on failed", self.call_id)
            self.state = CallState.ENDED
            self._settle(StartOutcome.AGENT_UNREACHABLE)
            self._end(CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED))

    async def _finish_media(self, previous: asyncio.Task[None] | None, media: CallMedia) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            await media.finish()
        except Exception:
            log.exception("call %s: ending its media failed", self.call_id)

    @property
    def media_done(self) -> asyncio.Task[None] | None:
        """The last media step (the end of the call's media once it has ended)."""
        return self._media_tail

    # ----------------------------------------------------------------- from the legs

    def leg_progress(self, leg: Leg, status: int) -> None:
        if leg is self.agent and status > 100:
            self.dispatch(Occurrence(Event.AGENT_REACHED, status=status))
        elif (
            leg is self.destination
            and status > 100
            and not self._destination_rang
            and self.state is CallState.DEST_CALLING
        ):
            self._destination_rang = True  # 180 then 183, or several forks: told once
            self._post(lambda: self._signals.destination_ringing(self.call_id))

    def leg_early_media(self, leg: Leg, body: bytes) -> None:
        if (
            leg is not self.destination
            or self.flow is not Flow.IV
            or self.state is not CallState.DEST_CALLING
            or self._early_pending
            or body == self._early_sdp
        ):
            return
        self._early_sdp = body
        self._early_pending = True
        self._through(
            lambda m: m.offer(DESTINATION, body),
            body,
            lambda rewritten: self.agent.reinvite(sdp.with_origin(rewritten, self.agent.origin)),
        )

    def _early_done(self) -> bool:
        """The agent answered (or refused) an early-media re-INVITE: nothing more to do for
        it but send the destination's final offer if that came meanwhile."""
        if not self._early_pending:
            return False
        self._early_pending = False
        offer, self._final_offer = self._final_offer, None
        if offer is not None:
            self.agent.reinvite(offer)
        return True

    def leg_answered(self, leg: Leg, response: Response) -> None:
        has_sdp = sdp.has_media(response.body)
        if leg is self.agent:
            usable = has_sdp or self.flow is Flow.IV
            event = Event.AGENT_ANSWERED if usable else Event.AGENT_BAD_ANSWER
        else:
            event = Event.DEST_ANSWERED if has_sdp else Event.DEST_BAD_ANSWER
        self.dispatch(Occurrence(event, response=response, status=response.status))

    def leg_failed(self, leg: Leg, status: int, local: bool) -> None:
        event = Event.AGENT_FAILED if leg is self.agent else Event.DEST_FAILED
        self.dispatch(Occurrence(event, status=status, local=local))

    def leg_hung_up(self, leg: Leg) -> None:
        event = Event.AGENT_HUNG_UP if leg is self.agent else Event.DEST_HUNG_UP
        self.dispatch(Occurrence(event))

    def leg_lost(self, leg: Leg) -> None:
        self.dispatch(Occurrence(Event.AGENT_LOST if leg is self.agent else Event.DEST_LOST))

    def leg_offered(self, leg: Leg, tx: ServerTransaction, request: Request) -> bool:
        """A mid-call offer (hold, resume, codec change) goes to the other party as a
        re-INVITE, and its answer comes back (RFC 3725 section 6 relays both ways). Before
        the parties are joined the leg answers it as a refresh; while one relay is under way
        another offer waits (491, RFC 3261 14.2)."""
        other = self._other(leg)
        if self.state is not CallState.CONNECTED or other is None:
            return False
        if self._relay is not None:
            leg.refuse_offer(tx, request, 491)
            return True
        self._relay = (leg, tx, request)
        body = request.body
        self._through(
            lambda m: m.offer(_role(self, leg), body, to_role=_role(self, other)),
            body,
            lambda offer: other.reinvite(_toward(other, offer)),
        )
        return True

    def _other(self, leg: Leg) -> Leg | None:
        return self.destination if leg is self.agent else self.agent

    def _relay_done(self, leg: Leg, answer: bytes | None, status: int) -> bool:
        """The other party answered (or refused) a relayed offer: bring it back."""
        relay = self._relay
        if relay is None or relay[0] is leg:
            return False
        self._relay = None
        origin, tx, request = relay
        if answer is not None:
            body = answer
            self._through(
                lambda m: m.answer(_role(self, origin), _role(self, leg), body),
                body,
                lambda rewritten: origin.answer_offer(tx, request, _toward(origin, rewritten)),
            )
        else:
            # The party keeps the session it had. 491 is the other side's glare, which the
            # leg already retried; anything else the party need not know in detail.
            origin.refuse_offer(tx, request, status if status in (488, 491, 606) else 500)
        return True

    def leg_reoffer_answered(self, leg: Leg, response: Response) -> None:
        if leg is self.agent and self._early_pending:
            # The agent's early answer stays with us, but rtpengine needs it to send it media.
            body = response.body
            self._through(lambda m: m.answer(DESTINATION, AGENT, body), body, lambda _: None)
        if leg is self.agent and self._early_done():
            return
        if self._relay_done(leg, response.body if sdp.has_media(response.body) else None, 488):
            return
        if sdp.has_media(response.body):
            self.dispatch(Occurrence(Event.REOFFER_ANSWERED, response=response))
        else:
            self.dispatch(Occurrence(Event.REOFFER_FAILED, status=response.status, local=True))

    def leg_reoffer_failed(self, leg: Leg, status: int) -> None:
        if leg is self.agent and self._early_done():
            log.info("call %s: the agent refused early media (%s)", self.call_id, status)
            return
        if self._relay_done(leg, None, status):
            return
        self.dispatch(Occurrence(Event.REOFFER_FAILED, status=status))

    def leg_closed(self, leg: Leg) -> None:
        self._check_closed()

    def _check_closed(self) -> None:
        legs = [self.agent] if self.destination is None else [self.agent, self.destination]
        if self.state is not CallState.ENDED or self.closed.done():
            return
        if all(each.state is LegState.ENDED for each in legs):
            self.closed.set_result(None)
            self._on_closed(self)


_BY_CLIENT = Ending(EndedBy.CLIENT)
_BY_SWITCHBOARD = Ending(EndedBy.SWITCHBOARD)


def _failure(occurrence: Occurrence, leg: Leg | None, side: EndedBy) -> Ending:
    """A final failure: the party's own answer, or our timeout or transport error."""
    if occurrence.local:
        return _BY_SWITCHBOARD
    cause = leg.q850_cause if leg is not None else None
    return Ending(side, sip_status=occurrence.status, q850_cause=cause)


def _bye(leg: Leg | None, side: EndedBy) -> Ending:
    return Ending(side, q850_cause=leg.q850_cause if leg is not None else None)


def _reason(occurrence: Occurrence) -> Reason:
    """Section 4 of the spec from a SIP status; our own timeout or transport failure is a
    failed call, not a party's answer."""
    if occurrence.local:
        return Reason.CALL_FAILED
    return reason_for_sip_status(occurrence.status)


def _toward(leg: Leg, body: bytes) -> bytes:
    """What a party gets from us: under our o= line if that is how it knows the session."""
    return sdp.with_origin(body, leg.origin) if leg.rewrites_origin else body


def _role(call: ThirdPartyCall, leg: Leg) -> str:
    return AGENT if leg is call.agent else DESTINATION
