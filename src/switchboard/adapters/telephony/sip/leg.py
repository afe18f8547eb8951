"""One leg of a third-party call: our INVITE to one party and the dialog it makes.

The leg does the SIP a controller should not have to think about, and reports only what
changes the call (``LegObserver``):

- the 2xx is held unacknowledged until the controller calls ``ack`` (flow I holds the agent's
  while the destination rings); the ACK is sent by the dialog (new branch, remote target,
  route set) and re-sent for every retransmitted 2xx;
- ``terminate`` gets rid of the leg whatever its state: it waits for a provisional before a
  CANCEL (RFC 3261 9.1), ACKs and BYEs a 2xx that crosses the CANCEL, ACKs a held 2xx (with an
  answer rejecting every stream when that 2xx carried an offer) before the BYE;
- a 401/407 from the trunk is answered once per request with digest credentials;
- requests from the peer inside the dialog are answered: BYE 200 (and reported); a re-INVITE
  or UPDATE with a new description (a new o= version) is offered to the observer, which relays
  it and answers through ``answer_offer``/``refuse_offer``; a session refresh (same o=) gets
  200 with our current SDP for this leg; INFO and OPTIONS 200;
- our re-INVITE answered 491 (glare) is sent again after 2.1-4 s (RFC 3261 14.1: we chose the
  Call-ID), up to three times.

After ``terminate`` the observer hears nothing more but ``leg_closed``.

Known holes: a second 2xx from another fork is ACKed and hung up rather than kept; no PRACK
(RFC 3262: a 183 that requires 100rel is taken as unreliable); a re-INVITE without SDP is
answered locally.
"""

from __future__ import annotations

import enum
import logging
import random
import secrets
from typing import Protocol

from switchboard.adapters.telephony.sip import sdp, session_timer
from switchboard.adapters.telephony.sip.addressing import LegPlan
from switchboard.adapters.telephony.sip.auth import DigestClient
from switchboard.adapters.telephony.sip.clock import Timer
from switchboard.adapters.telephony.sip.dialog import Dialog
from switchboard.adapters.telephony.sip.endpoint import ALLOW, Endpoint, make_response
from switchboard.adapters.telephony.sip.message import Request, Response
from switchboard.adapters.telephony.sip.requests import cancel_of, initial_invite
from switchboard.adapters.telephony.sip.session_timer import SessionTimer
from switchboard.adapters.telephony.sip.transaction import (
    ClientTransaction,
    Failure,
    ServerTransaction,
    State,
)
from switchboard.adapters.telephony.sip.transport import Target
from switchboard.adapters.telephony.sip.uri import tag_of

log = logging.getLogger(__name__)

TIMEOUT_STATUS = 408  # RFC 3261 8.1.3.1: a timeout is treated as 408
TRANSPORT_STATUS = 503  # ... and a transport error as 503
GLARE_WAIT_S = (2.1, 4.0)  # RFC 3261 14.1, for the owner of the Call-ID (always us)
GLARE_TRIES = 3


class LegState(enum.Enum):
    IDLE = "idle"
    CALLING = "calling"  # INVITE sent, no provisional yet: a CANCEL must wait
    EARLY = "early"  # a provisional came: may CANCEL
    ANSWERED = "answered"  # a 2xx came; its ACK is held for the controller
    CONFIRMED = "confirmed"  # ACK sent
    ENDING = "ending"  # CANCEL or BYE sent
    ENDED = "ended"


class LegObserver(Protocol):
    def leg_progress(self, leg: Leg, status: int) -> None: ...

    def leg_early_media(self, leg: Leg, body: bytes) -> None:
        """A provisional (183 Session Progress, most often) carried an SDP with media."""

    def leg_answered(self, leg: Leg, response: Response) -> None: ...

    def leg_failed(self, leg: Leg, status: int, local: bool) -> None:
        """A final non-2xx (``local`` is False), or a timeout or transport error (True)."""

    def leg_hung_up(self, leg: Leg) -> None: ...

    def leg_reoffer_answered(self, leg: Leg, response: Response) -> None: ...

    def leg_reoffer_failed(self, leg: Leg, status: int) -> None: ...

    def leg_lost(self, leg: Leg) -> None:
        """The party did not answer a keep-alive probe: its phone or dialog is gone."""

    def leg_offered(self, leg: Leg, tx: ServerTransaction, request: Request) -> bool:
        """The party made a new offer inside the dialog (hold, resume, a codec change); True
        when the observer takes it (relays it and will answer through ``answer_offer``)."""

    def leg_closed(self, leg: Leg) -> None: ...


class Leg:
    def __init__(self, name: str, plan: LegPlan, endpoint: Endpoint, observer: LegObserver) -> None:
        self.name = name
        self.plan = plan
        self._endpoint = endpoint
        self._observer = observer
        self.call_id = f"{secrets.token_hex(12)}@{endpoint.host}"
        self.local_tag = secrets.token_hex(6)
        self.origin = sdp.Origin(endpoint.host)
        self.state = LegState.IDLE
        self.dialog: Dialog | None = None
        self.local_sdp: bytes | None = None  # what this party last got from us
        self.remote_sdp: bytes | None = None  # what we last got from this party
        # Whether what this party gets from us goes under our own o= line (flow IV's agent,
        # who first got our held offer) rather than as the other party wrote it.
        self.rewrites_origin = False
        self.answer: Response | None = None  # the held 2xx
        # The Q.850 cause of the final failure or the BYE that ended this leg (RFC 3326).
        self.q850_cause: int | None = None
        self._cseq = 1
        self._offer: bytes | None = None  # the body of our INVITE (None: a delayed offer)
        self._invite: Request | None = None
        self._invite_tx: ClientTransaction | None = None
        self._reinvite_tx: ClientTransaction | None = None
        self._reoffer: bytes | None = None
        self._bye_tx: ClientTransaction | None = None
        self._probe_tx: ClientTransaction | None = None
        self._acks: dict[int, tuple[bytes, Target]] = {}
        self._end_requested = False
        self._auth_tries: dict[str, int] = {}
        self._digest = DigestClient(plan.credentials) if plan.credentials else None
        self._guard: Timer | None = None
        self._glare: Timer | None = None
        self._glare_tries = 0
        # RFC 4028: the negotiated session timer (None: the peer runs none), its wake-up, and
        # our refresh under way.
        self.session: SessionTimer | None = None
        self._session_wake: Timer | None = None
        self._refresh_tx: ClientTransaction | None = None
        # RFC 3263 4.3: where the INVITE goes now, and the targets left after it.
        self._target = plan.target
        self._alternatives = list(plan.alternatives)

    @property
    def key(self) -> tuple[str, str]:
        return self.call_id, self.local_tag

    def __repr__(self) -> str:
        return f"<Leg {self.name} {self.state.value} {self.call_id}>"

    # ----------------------------------------------------------------- orders

    def invite(self, offer: bytes | None) -> None:
        """Send the INVITE, with an SDP offer or without one (delayed offer)."""
        assert self.state is LegState.IDLE
        self._offer = offer
        self.local_sdp = offer
        self.state = LegState.CALLING
        self._endpoint.register(self.key, self)
        self._send_invite(auth=None)

    def ack(self, answer: bytes | None) -> None:
        """Acknowledge the held 2xx, with the SDP answer it is owed when it carried an offer."""
        if self.state is not LegState.ANSWERED or self.dialog is None or self._invite is None:
            return
        self._send_dialog_ack(self._invite.cseq[0], answer, self._invite)
        if answer is not None:
            self.local_sdp = answer
        self.answer = None
        self.state = LegState.CONFIRMED
        self._arm_session()

    def reinvite(self, offer: bytes) -> None:
        """Send the party a new offer inside the dialog (flow IV's second INVITE)."""
        if self.state is not LegState.CONFIRMED or self.dialog is None:
            self._observer.leg_reoffer_failed(self, 481)
            return
        self._reoffer = offer
        self._glare_tries = 0
        self._send_reinvite(self._invite)

    def _send_reinvite(self, credentials_from: Request | None) -> None:
        self._glare = None
        if self.dialog is None or self._reoffer is None or self._end_requested:
            return
        request = self.dialog.request("INVITE")
        self._stamp(request, credentials_from)
        request.add("Contact", self._endpoint.contact(self.plan.transport))
        self._ask_for_timer(request)
        request.add("Content-Type", sdp.CONTENT_TYPE)
        request.body = self._reoffer
        self._reinvite_tx = self._endpoint.send_request(request, self.dialog.next_hop(), self)

    def probe(self) -> None:
        """An in-dialog OPTIONS: any final answer but 408/481 says the party is still there.
        A party with a session timer is watched by the timer instead."""
        if self.state is not LegState.CONFIRMED or self.dialog is None or self._probe_tx:
            return
        if self.session is not None:
            return
        request = self.dialog.request("OPTIONS")
        self._stamp(request, None)
        self._probe_tx = self._endpoint.send_request(request, self.dialog.next_hop(), self)

    def answer_offer(self, tx: ServerTransaction, request: Request, answer: bytes) -> None:
        """Answer the party's mid-call offer with what the other party answered."""
        self.remote_sdp = request.body
        self.local_sdp = answer
        self._endpoint.respond(tx, self._ok(request, answer))

    def refuse_offer(self, tx: ServerTransaction, request: Request, status: int) -> None:
        """Refuse the party's mid-call offer; the session stays as it was (RFC 3261 14.2)."""
        self._endpoint.respond(tx, make_response(request, status))

    def terminate(self) -> None:
        """Get rid of the leg, whatever its state; nothing but ``leg_closed`` follows."""
        self._end_requested = True
        state = self.state
        if state is LegState.IDLE:
            self._ended()
        elif state is LegState.EARLY:
            self._send_cancel()
        elif state is LegState.ANSWERED:
            answer = None
            if self._offer is None and self.answer is not None:
                answer = sdp.reject_all(self.answer.body, self.origin)
            self.ack(answer)
            self._send_bye()
        elif state is LegState.CONFIRMED:
            self._send_bye()
        # CALLING: wait for a provisional (then CANCEL), a 2xx (then ACK and BYE) or the end.

    # ----------------------------------------------------------------- sending

    def _send_invite(self, auth: tuple[str, str] | None) -> None:
        endpoint = self._endpoint
        transport = self.plan.transport
        self._invite = initial_invite(
            self.plan,
            via=endpoint.via(transport),
            contact=endpoint.contact(transport),
            allow=ALLOW,
            user_agent=endpoint.config.user_agent,
            call_id=self.call_id,
            local_tag=self.local_tag,
            cseq=self._cseq,
            offer=self._offer,
            auth=auth,
            session_expires_s=endpoint.config.session_expires_s,
        )
        self._invite_tx = endpoint.send_request(self._invite, self._target, self)

    def _stamp(self, request: Request, credentials_from: Request | None) -> None:
        """Via first; the INVITE's credentials on requests in its dialog (RFC 3261 22.1)."""
        request.headers.insert(0, ("Via", self._endpoint.via(self.plan.transport)))
        if credentials_from is not None:
            for name in ("Authorization", "Proxy-Authorization"):
                value = credentials_from.get(name)
                if value is not None:
                    request.add(name, value)

    def _send_dialog_ack(self, cseq: int, body: bytes | None, source: Request) -> None:
        assert self.dialog is not None
        ack = self.dialog.request("ACK", cseq=cseq)
        self._stamp(ack, source)
        if body is not None:
            ack.add("Content-Type", sdp.CONTENT_TYPE)
            ack.body = body
        target = self.dialog.next_hop()
        self._acks[cseq] = (self._endpoint.send_ack(ack, target), target)

    def _send_cancel(self) -> None:
        """RFC 3261 9.1: same Request-URI, Call-ID, From, To, CSeq number, top Via, Route."""
        invite = self._invite
        if invite is None:
            self._ended()
            return
        self.state = LegState.ENDING
        cancel = cancel_of(invite)
        self._endpoint.send_request(cancel, self._target, self)
        # If no final response comes for the INVITE, give up on it after 64*T1 (RFC 3261 9.1).
        self._guard = self._endpoint.clock.call_later(self._endpoint.timers.long_wait, self._ended)

    def _send_bye(self, auth: tuple[str, str] | None = None) -> None:
        if self.dialog is None:
            self._ended()
            return
        self.state = LegState.ENDING
        bye = self.dialog.request("BYE")
        self._stamp(bye, None)
        if auth is not None:
            bye.add(*auth)
        self._bye_tx = self._endpoint.send_request(bye, self.dialog.next_hop(), self)

    def _ended(self) -> None:
        if self.state is LegState.ENDED:
            return
        self.state = LegState.ENDED
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None
        if self._glare is not None:
            self._glare.cancel()
            self._glare = None
        if self._session_wake is not None:
            self._session_wake.cancel()
            self._session_wake = None
        for tx in (self._invite_tx, self._reinvite_tx):
            # After a provisional an INVITE transaction waits for its final response with no
            # timer of its own (RFC 3261 17.1.1.2): the leg that gives up on it takes it along.
            if tx is not None and tx.state is State.PROCEEDING:
                tx.terminate()
        self._invite = None
        self.answer = None
        self._endpoint.unregister_later(self.key, self)
        self._observer.leg_closed(self)

    # ----------------------------------------------------------------- responses

    def response_received(self, tx: ClientTransaction, response: Response) -> None:
        if tx is self._invite_tx:
            self._invite_response(response)
        elif tx is self._reinvite_tx:
            self._reinvite_response(response)
        elif tx is self._bye_tx and response.status >= 200:
            if self._retry_with_auth(tx, response):
                return
            self._ended()
        elif tx is self._probe_tx and response.status >= 200:
            self._probe_tx = None
            if response.status in (408, 481) and not self._end_requested:
                self._observer.leg_lost(self)
        elif tx is self._refresh_tx:
            self._refresh_response(tx, response)

    def transaction_failed(self, tx: ClientTransaction, failure: Failure) -> None:
        status = TIMEOUT_STATUS if failure is Failure.TIMEOUT else TRANSPORT_STATUS
        if tx is self._invite_tx and self.state in (
            LegState.CALLING,
            LegState.EARLY,
            LegState.ENDING,
        ):
            if self._fail_over(failure.name.lower()):
                return
            ending = self._end_requested
            self._ended()
            if not ending:
                self._observer.leg_failed(self, status, True)
        elif tx is self._reinvite_tx:
            self._reinvite_tx = None
            if not self._end_requested:
                self._observer.leg_reoffer_failed(self, status)
        elif tx is self._bye_tx:
            self._ended()
        elif tx is self._probe_tx:
            self._probe_tx = None
            if not self._end_requested:
                self._observer.leg_lost(self)
        elif tx is self._refresh_tx:
            self._refresh_tx = None
            log.info("%s: session refresh failed (%s); ending the call", self, failure.name)
            if not self._end_requested:
                self._observer.leg_lost(self)

    def _invite_response(self, response: Response) -> None:
        status = response.status
        if status < 200:
            if self.state is LegState.CALLING:
                self.state = LegState.EARLY
                if self._end_requested:
                    self._send_cancel()
                    return
            if not self._end_requested:
                self._observer.leg_progress(self, status)
                if status > 100 and sdp.has_media(response.body):
                    self._observer.leg_early_media(self, response.body)
        elif status < 300:
            self._invite_2xx(response)
        elif self.state in (LegState.CALLING, LegState.EARLY, LegState.ENDING):
            assert self._invite_tx is not None
            if not self._end_requested and self._retry_with_auth(self._invite_tx, response):
                return
            if status == 503 and self._fail_over("503"):
                return
            ending = self._end_requested
            self.q850_cause = response.q850_cause()
            self._ended()
            if not ending:
                self._observer.leg_failed(self, status, False)

    def _invite_2xx(self, response: Response) -> None:
        if self.dialog is not None:
            if tag_of(response.get("To")) != self.dialog.remote_tag:
                self._shed_fork(response)
            else:
                self._reack(response)
            return
        if self.state not in (LegState.CALLING, LegState.EARLY, LegState.ENDING):
            return
        assert self._invite is not None
        self.dialog = Dialog.as_uac(self._invite, response)
        self.answer = response
        self.session = session_timer.from_answer(response)
        if sdp.has_media(response.body):
            self.remote_sdp = response.body
        self.state = LegState.ANSWERED
        if self._end_requested:
            self.terminate()  # the 2xx crossed our CANCEL: ACK it and hang up
            return
        self._observer.leg_answered(self, response)

    def _reack(self, response: Response) -> None:
        sent = self._acks.get(response.cseq[0])
        if sent is not None:
            data, target = sent
            self._endpoint.resend(data, target)

    def _shed_fork(self, response: Response) -> None:
        """Another fork answered too: acknowledge it and hang it up at once."""
        if self._invite is None:
            return
        fork = Dialog.as_uac(self._invite, response)
        ack = fork.request("ACK", cseq=self._invite.cseq[0])
        self._stamp(ack, self._invite)
        if self._offer is None:
            ack.add("Content-Type", sdp.CONTENT_TYPE)
            ack.body = sdp.reject_all(response.body, self.origin)
        self._endpoint.send_ack(ack, fork.next_hop())
        bye = fork.request("BYE")
        self._stamp(bye, None)
        self._endpoint.send_request(bye, fork.next_hop(), _Ignore())

    def stray_response(self, response: Response) -> None:
        """A 2xx retransmitted after its transaction ended: ACK it again."""
        if self.dialog is not None and tag_of(response.get("To")) == self.dialog.remote_tag:
            self._reack(response)

    def _reinvite_response(self, response: Response) -> None:
        status = response.status
        if status < 200:
            return
        tx = self._reinvite_tx
        if 200 <= status < 300:
            if self.dialog is None or tx is None:
                return
            if response.cseq[0] in self._acks:
                self._reack(response)
                return
            self.dialog.refresh_target(response)
            self._send_dialog_ack(response.cseq[0], None, tx.request)
            if self._end_requested:
                return
            self._refreshed(response)
            self.local_sdp = self._reoffer
            if sdp.has_media(response.body):
                self.remote_sdp = response.body
            self._observer.leg_reoffer_answered(self, response)
            return
        if tx is not None and not self._end_requested and self._retry_with_auth(tx, response):
            return
        if status == 491 and not self._end_requested and self._glare_tries < GLARE_TRIES:
            # RFC 3261 14.1: our re-INVITE met one from the party. We chose the Call-ID, so
            # we own it: try again after 2.1 to 4 s (the party, if it retries, waits 0-2 s).
            self._glare_tries += 1
            delay = random.uniform(*GLARE_WAIT_S)
            self._glare = self._endpoint.clock.call_later(delay, self._send_reinvite, None)
            return
        self._reinvite_tx = None
        if not self._end_requested:
            self._observer.leg_reoffer_failed(self, status)

    def _fail_over(self, why: str) -> bool:
        """RFC 3263 4.3: the INVITE again (a new transaction) to the next target found by
        SRV, after a 503, a timeout or a transport error; True when one went out."""
        if self._end_requested or not self._alternatives or self.dialog is not None:
            return False
        failed, self._target = self._target, self._alternatives.pop(0)
        log.info("%s: %s from %s; trying %s", self, why, failed, self._target)
        self._cseq += 1
        self._auth_tries.clear()
        self.state = LegState.CALLING
        self._send_invite(auth=None)
        return True

    def _retry_with_auth(self, tx: ClientTransaction, response: Response) -> bool:
        """Answer a 401/407 once for this request; True when a new request went out."""
        if response.status not in (401, 407) or self._digest is None:
            return False
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        field = "Authorization" if response.status == 401 else "Proxy-Authorization"
        method = tx.request.method
        challenge = self._digest.strongest(response.lines(header))
        if challenge is None:
            log.info("%s: no challenge we can answer in its %s", self, response.status)
            return False
        tries = self._auth_tries.get(method, 0)
        if tries >= 1 and not challenge.stale:
            return False
        self._auth_tries[method] = tries + 1
        value = self._digest.authorization(challenge, method, tx.request.uri)
        if tx is self._invite_tx:
            self._cseq += 1
            self.state = LegState.CALLING
            self._send_invite(auth=(field, value))
        elif tx is self._bye_tx:
            self._send_bye(auth=(field, value))
        elif tx is self._reinvite_tx and self.dialog is not None and self._reoffer is not None:
            request = self.dialog.request("INVITE")
            self._stamp(request, None)
            request.add(field, value)
            request.add("Contact", self._endpoint.contact(self.plan.transport))
            request.add("Content-Type", sdp.CONTENT_TYPE)
            request.body = self._reoffer
            self._reinvite_tx = self._endpoint.send_request(request, self.dialog.next_hop(), self)
        else:
            return False
        return True

    # ----------------------------------------------------------------- session timer

    def _ask_for_timer(self, request: Request) -> None:
        seconds = self._endpoint.config.session_expires_s
        if seconds > 0:
            request.add("Supported", "timer")
            request.add("Session-Expires", str(int(seconds)))

    def _arm_session(self) -> None:
        if self._session_wake is not None:
            self._session_wake.cancel()
            self._session_wake = None
        timer = self.session
        if timer is None or self.state is not LegState.CONFIRMED:
            return
        action = self._send_refresh if timer.we_refresh else self._session_expired
        self._session_wake = self._endpoint.clock.call_later(timer.wake_after_s, action)

    def _session_expired(self) -> None:
        self._session_wake = None
        if self.state is LegState.CONFIRMED and not self._end_requested:
            log.info("%s: the peer did not refresh the session; ending the call", self)
            self._observer.leg_lost(self)

    def _send_refresh(self) -> None:
        """RFC 4028 section 7.4: refresh by UPDATE (no body) or re-INVITE (the same SDP)."""
        self._session_wake = None
        timer = self.session
        if (
            timer is None
            or self.dialog is None
            or self.state is not LegState.CONFIRMED
            or self._end_requested
        ):
            return
        if any(
            tx is not None and tx.state in (State.CALLING, State.PROCEEDING)
            for tx in (self._refresh_tx, self._reinvite_tx)
        ):
            # A re-INVITE of ours is under way and will refresh the session when answered.
            self._session_wake = self._endpoint.clock.call_later(
                min(1.0, timer.interval_s / 8), self._send_refresh
            )
            return
        request = self.dialog.request(timer.method)
        self._stamp(request, None)
        request.add("Contact", self._endpoint.contact(self.plan.transport))
        request.add("Supported", "timer")
        request.add("Session-Expires", f"{int(timer.interval_s)};refresher=uac")
        if timer.method == "INVITE" and self.local_sdp is not None:
            request.add("Content-Type", sdp.CONTENT_TYPE)
            request.body = self.local_sdp
        self._refresh_tx = self._endpoint.send_request(request, self.dialog.next_hop(), self)

    def _refresh_response(self, tx: ClientTransaction, response: Response) -> None:
        status = response.status
        if status < 200:
            return
        method = tx.request.method
        if 200 <= status < 300:
            if method == "INVITE":
                if response.cseq[0] in self._acks:
                    self._reack(response)
                    return
                if self.dialog is not None:
                    self.dialog.refresh_target(response)
                    self._send_dialog_ack(response.cseq[0], None, tx.request)
            else:
                self._refresh_tx = None  # an INVITE's stays: its 2xx may come again
            self._refreshed(response)
            return
        self._refresh_tx = None
        if self._end_requested:
            return
        timer = self.session
        retry: SessionTimer | None = None
        if timer is not None and status == 422:
            smallest = session_timer.min_se(response)
            if smallest is not None and smallest > timer.interval_s:
                retry = SessionTimer(smallest, True, timer.method)
        elif timer is not None and status in (405, 501) and method == "UPDATE":
            retry = SessionTimer(timer.interval_s, True, "INVITE")
        elif timer is not None and status == 491:
            self._session_wake = self._endpoint.clock.call_later(
                random.uniform(*GLARE_WAIT_S), self._send_refresh
            )
            return
        if retry is not None:
            self.session = retry
            self._send_refresh()
            return
        log.info("%s: session refresh answered %s; ending the call", self, status)
        self._observer.leg_lost(self)

    def _refreshed(self, response: Response) -> None:
        """A 2xx to a re-INVITE or UPDATE of ours: the session lives another interval."""
        if self.session is None:
            return
        self.session = session_timer.from_answer(response, self.session) or self.session
        self._arm_session()

    # ----------------------------------------------------------------- requests from the peer

    def request_received(self, tx: ServerTransaction, request: Request) -> None:
        method = request.method
        dialog = self.dialog
        if dialog is None or self.state is LegState.ENDED:
            self._endpoint.respond(tx, make_response(request, 481))
            return
        if not dialog.accepts_remote_cseq(request.cseq[0]):
            self._endpoint.respond(tx, make_response(request, 500, "CSeq Out of Order"))
            return
        if method == "BYE":
            self._endpoint.respond(tx, make_response(request, 200))
            hung_up = not self._end_requested
            self.q850_cause = request.q850_cause()
            self._ended()
            if hung_up:
                self._observer.leg_hung_up(self)
        elif method in ("INVITE", "UPDATE"):
            self._refresh(tx, request)
            if self.session is not None or request.get("Session-Expires"):
                self.session = session_timer.from_peer_refresh(request, self.session)
                self._arm_session()
        elif method in ("INFO", "OPTIONS"):
            response = make_response(request, 200)
            if method == "OPTIONS":
                response.add("Allow", ALLOW)
            self._endpoint.respond(tx, response)
        else:
            response = make_response(request, 405)
            response.add("Allow", ALLOW)
            self._endpoint.respond(tx, response)

    def _refresh(self, tx: ServerTransaction, request: Request) -> None:
        """A session refresh or a new offer from the party: answer with what it already has
        from us (relaying mid-call changes to the other leg is a known hole)."""
        assert self.dialog is not None
        busy = self._reinvite_tx is not None and self._reinvite_tx.state in (
            State.CALLING,
            State.PROCEEDING,
        )
        if busy or self.state is not LegState.CONFIRMED:
            self._endpoint.respond(tx, make_response(request, 491))
            return
        offered = bool(request.body)
        if request.method == "INVITE" and self.local_sdp is None:
            self._endpoint.respond(tx, make_response(request, 488))
            return
        if request.method == "INVITE":
            self.dialog.refresh_target(request)
        if offered and self._is_new_offer(request.body):
            if request.method == "INVITE":
                self._endpoint.respond(tx, make_response(request, 100))
            if self._observer.leg_offered(self, tx, request):
                return
        body = self.local_sdp if (offered or request.method == "INVITE") else None
        self._endpoint.respond(tx, self._ok(request, body))

    def _is_new_offer(self, body: bytes) -> bool:
        """A changed description (RFC 3264 8: a new o= version), not a session refresh."""
        if not sdp.has_media(body):
            return False
        if self.remote_sdp is None:
            return True
        return sdp.origin_of(body) != sdp.origin_of(self.remote_sdp)

    def _ok(self, request: Request, body: bytes | None) -> Response:
        response = make_response(request, 200)
        response.add("Contact", self._endpoint.contact(self.plan.transport))
        expires = request.get("Session-Expires")
        if expires:
            if "refresher" not in expires:
                expires += ";refresher=uac"
            response.add("Session-Expires", expires)
            response.add("Require", "timer")
        if body is not None:
            response.add("Content-Type", sdp.CONTENT_TYPE)
            response.body = body
        return response


class _Ignore:
    """The user of a BYE nobody waits for."""

    def response_received(self, tx: ClientTransaction, response: Response) -> None:
        pass

    def transaction_failed(self, tx: ClientTransaction, failure: Failure) -> None:
        pass
