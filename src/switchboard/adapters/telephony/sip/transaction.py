"""RFC 3261 section 17 transactions: retransmissions, timeouts and absorbing duplicates.

Client side: ``InviteClientTransaction`` (timers A, B, D; ACKs non-2xx finals itself with the
INVITE's branch; keeps the RFC 6026 "Accepted" state so 2xx retransmissions still reach the
caller, which re-sends its own ACK) and ``NonInviteClientTransaction`` (timers E, F, K).

Server side: ``ServerTransaction`` for both kinds: it re-sends its last response when the request
is retransmitted; for INVITE, a non-2xx final is retransmitted (timer G) until its ACK, and a
2xx (RFC 6026 "Accepted") until the dialog's ACK arrives (timer L bounds both).

Transactions run on the event loop's timers and never await: the sender is fire-and-forget with
an error callback. Retransmissions happen only over UDP; over TCP the wait timers are zero.

Known holes: no RFC 2543 transaction matching (branches without the magic cookie are matched by
a composite key), no 100 Trying sent by our INVITE server transactions (we answer at once).
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from switchboard.adapters.telephony.sip.clock import Clock, LoopClock, Timer
from switchboard.adapters.telephony.sip.config import SipConfig
from switchboard.adapters.telephony.sip.message import Request, Response
from switchboard.adapters.telephony.sip.requests import ack_of_failure
from switchboard.adapters.telephony.sip.transport import ErrorCallback, Target
from switchboard.adapters.telephony.sip.uri import Via

log = logging.getLogger(__name__)

MAGIC_COOKIE = "z9hG4bK"
OUR_BRANCH_PREFIX = MAGIC_COOKIE + "sb"


def new_branch() -> str:
    return OUR_BRANCH_PREFIX + secrets.token_hex(8)


@dataclass(frozen=True)
class Timers:
    t1: float
    t2: float
    t4: float
    b: float
    f: float
    clock: Clock = field(default_factory=LoopClock)

    @classmethod
    def of(cls, config: SipConfig, clock: Clock | None = None) -> Timers:
        return cls(
            config.t1, config.t2, config.t4, config.timer_b, config.timer_f, clock or LoopClock()
        )

    @property
    def long_wait(self) -> float:
        """64*T1: timers D (for UDP), H, J, L and M."""
        return 64 * self.t1


class Sender(Protocol):
    def send(self, data: bytes, target: Target, on_error: ErrorCallback | None = None) -> None: ...


class Failure(enum.Enum):
    TIMEOUT = "timeout"  # no final response in time (timer B or F)
    TRANSPORT = "transport"  # the request could not be sent


class ClientUser(Protocol):
    """The transaction user: a leg, or the endpoint for a stateless-looking request."""

    def response_received(self, tx: ClientTransaction, response: Response) -> None: ...

    def transaction_failed(self, tx: ClientTransaction, failure: Failure) -> None: ...


class State(enum.Enum):
    CALLING = "calling"  # INVITE sent; TRYING for non-INVITE
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"  # RFC 6026: a 2xx to INVITE was seen
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


Terminated = Callable[["ClientTransaction | ServerTransaction"], None]


class _Timed:
    """Named loop timers that are all cancelled on termination."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._handles: dict[str, Timer] = {}

    def _arm(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._disarm(name)
        self._handles[name] = self._clock.call_later(delay, callback)

    def _disarm(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _disarm_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()


class ClientTransaction(_Timed):
    def __init__(
        self,
        request: Request,
        target: Target,
        sender: Sender,
        timers: Timers,
        user: ClientUser,
        on_terminated: Terminated,
    ) -> None:
        super().__init__(timers.clock)
        self.request = request
        self.target = target
        self.branch = Via.parse(request.values("Via")[0]).branch or ""
        self.key = (self.branch, request.method)
        self._sender = sender
        self._timers = timers
        self._user = user
        self._on_terminated = on_terminated
        self._data = request.to_bytes()
        self._interval = timers.t1
        self.state = State.CALLING

    @property
    def reliable(self) -> bool:
        return self.target.transport != "udp"

    def start(self) -> None:
        self._send()

    def _send(self) -> None:
        self._sender.send(self._data, self.target, self._transport_error)

    def _transport_error(self, exc: Exception) -> None:
        if self.state in (State.CALLING, State.PROCEEDING):
            log.info("%s to %s failed: %s", self.request.method, self.target, exc)
            self._fail(Failure.TRANSPORT)

    def _fail(self, failure: Failure) -> None:
        self.terminate()
        self._user.transaction_failed(self, failure)

    def receive(self, response: Response) -> None:
        raise NotImplementedError

    def terminate(self) -> None:
        if self.state is State.TERMINATED:
            return
        self.state = State.TERMINATED
        self._disarm_all()
        self._on_terminated(self)


class InviteClientTransaction(ClientTransaction):
    def start(self) -> None:
        self._send()
        if not self.reliable:
            self._arm("A", self._interval, self._timer_a)
        self._arm("B", self._timers.b, self._timer_b)

    def _timer_a(self) -> None:
        if self.state is State.CALLING:
            self._send()
            self._interval *= 2
            self._arm("A", self._interval, self._timer_a)

    def _timer_b(self) -> None:
        if self.state is State.CALLING:
            self._fail(Failure.TIMEOUT)

    def receive(self, response: Response) -> None:
        status = response.status
        if self.state in (State.CALLING, State.PROCEEDING):
            self._disarm("A")
            self._disarm("B")
            if status < 200:
                self.state = State.PROCEEDING
            elif status < 300:
                self.state = State.ACCEPTED
                self._arm("M", self._timers.long_wait, self.terminate)
            else:
                self.state = State.COMPLETED
                self._send_ack(response)
                self._arm("D", 0 if self.reliable else self._timers.long_wait, self.terminate)
            self._user.response_received(self, response)
        elif self.state is State.ACCEPTED and 200 <= status < 300:
            self._user.response_received(self, response)
        elif self.state is State.COMPLETED and status >= 300:
            self._send_ack(response)

    def _send_ack(self, response: Response) -> None:
        """RFC 3261 17.1.1.3: the ACK of a non-2xx belongs to the INVITE's transaction."""
        self._sender.send(ack_of_failure(self.request, response).to_bytes(), self.target)


class NonInviteClientTransaction(ClientTransaction):
    def start(self) -> None:
        self._send()
        if not self.reliable:
            self._arm("E", self._interval, self._timer_e)
        self._arm("F", self._timers.f, self._timer_f)

    def _timer_e(self) -> None:
        if self.state in (State.CALLING, State.PROCEEDING):
            self._send()
            if self.state is State.CALLING:
                self._interval = min(2 * self._interval, self._timers.t2)
            else:
                self._interval = self._timers.t2
            self._arm("E", self._interval, self._timer_e)

    def _timer_f(self) -> None:
        if self.state in (State.CALLING, State.PROCEEDING):
            self._fail(Failure.TIMEOUT)

    def receive(self, response: Response) -> None:
        if self.state not in (State.CALLING, State.PROCEEDING):
            return
        if response.status < 200:
            self.state = State.PROCEEDING
        else:
            self.state = State.COMPLETED
            self._disarm("E")
            self._disarm("F")
            self._arm("K", 0 if self.reliable else self._timers.t4, self.terminate)
        self._user.response_received(self, response)


def server_key(request: Request) -> tuple[str, str, str]:
    """RFC 3261 17.2.3: branch, sent-by and method (an ACK matches its INVITE)."""
    via = Via.parse(request.values("Via")[0])
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    if not branch.startswith(MAGIC_COOKIE):
        # RFC 2543 peers: close enough for absorbing retransmissions.
        branch = f"{request.call_id}|{request.cseq[0]}|{request.get('From')}"
    return branch, via.sent_by, method


class ServerTransaction(_Timed):
    def __init__(
        self,
        request: Request,
        reply_to: Target,
        sender: Sender,
        timers: Timers,
        on_terminated: Terminated,
    ) -> None:
        super().__init__(timers.clock)
        self.request = request
        self.reply_to = reply_to
        self.key = server_key(request)
        self._sender = sender
        self._timers = timers
        self._on_terminated = on_terminated
        self._last: bytes | None = None
        self._interval = timers.t1
        self.state = State.PROCEEDING
        self.is_invite = request.method == "INVITE"

    @property
    def reliable(self) -> bool:
        return self.reply_to.transport != "udp"

    def respond(self, response: Response) -> None:
        if self.state is not State.PROCEEDING:
            log.debug("late response %s ignored", response.status)
            return
        self._last = response.to_bytes()
        self._send_last()
        if response.status < 200:
            return
        wait = self._timers.long_wait
        if not self.is_invite:
            self.state = State.COMPLETED
            self._arm("J", 0 if self.reliable else wait, self.terminate)
            return
        self.state = State.ACCEPTED if response.status < 300 else State.COMPLETED
        if not self.reliable:
            self._arm("G", self._interval, self._retransmit)
        self._arm("H", wait, self._no_ack)

    def _send_last(self) -> None:
        if self._last is not None:
            self._sender.send(self._last, self.reply_to)

    def _retransmit(self) -> None:
        if self.state in (State.ACCEPTED, State.COMPLETED):
            self._send_last()
            self._interval = min(2 * self._interval, self._timers.t2)
            self._arm("G", self._interval, self._retransmit)

    def _no_ack(self) -> None:
        if self.state in (State.ACCEPTED, State.COMPLETED):
            log.info(
                "no ACK for our %s response to %s",
                "2xx" if self.state is State.ACCEPTED else "final",
                self.request.call_id,
            )
        self.terminate()

    def retransmitted(self) -> None:
        """The same request again: answer as before (a 2xx is already on its own timer)."""
        if self.state in (State.PROCEEDING, State.COMPLETED):
            self._send_last()

    def ack_received(self) -> None:
        if self.state in (State.ACCEPTED, State.COMPLETED):
            self.state = State.CONFIRMED
            self._disarm("G")
            self._disarm("H")
            self._arm("I", 0 if self.reliable else self._timers.t4, self.terminate)

    def terminate(self) -> None:
        if self.state is State.TERMINATED:
            return
        self.state = State.TERMINATED
        self._disarm_all()
        self._on_terminated(self)
