"""Transactions and their RFC 3261 timers, with T1 = 10 ms, a transport that only records and
a clock the test moves (no sleeping: the gaps asserted are exact)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from switchboard.adapters.telephony.sip.clock import ManualClock
from switchboard.adapters.telephony.sip.message import Request, Response, parse_message
from switchboard.adapters.telephony.sip.transaction import (
    ClientTransaction,
    Failure,
    InviteClientTransaction,
    NonInviteClientTransaction,
    ServerTransaction,
    State,
    Timers,
    new_branch,
)
from switchboard.adapters.telephony.sip.transport import ErrorCallback, Target, TransportError

T1 = 0.01
TIMERS = Timers(t1=T1, t2=0.04, t4=0.05, b=64 * T1, f=64 * T1)
UDP = Target("udp", "127.0.0.1", 5099)
TCP = Target("tcp", "127.0.0.1", 5099)


class LoopbackSender:
    """Records what would go on the wire, and when; can be told to fail."""

    def __init__(self, clock: ManualClock, fail: bool = False) -> None:
        self.sent: list[tuple[float, Request | Response, Target]] = []
        self._fail = fail
        self._clock = clock

    def send(self, data: bytes, target: Target, on_error: ErrorCallback | None = None) -> None:
        if self._fail:
            assert on_error is not None
            on_error(TransportError("refused"))
            return
        self.sent.append((self._clock.time(), parse_message(data), target))

    def methods(self) -> list[str]:
        return [m.method if isinstance(m, Request) else str(m.status) for _, m, _ in self.sent]


class Recorder:
    def __init__(self) -> None:
        self.responses: list[int] = []
        self.failures: list[Failure] = []

    def response_received(self, tx: ClientTransaction, response: Response) -> None:
        self.responses.append(response.status)

    def transaction_failed(self, tx: ClientTransaction, failure: Failure) -> None:
        self.failures.append(failure)


def request(method: str) -> Request:
    req = Request(method=method, uri="sip:far@127.0.0.1:5099")
    req.add("Via", f"SIP/2.0/UDP 127.0.0.1:5060;branch={new_branch()};rport")
    req.add("Route", "<sip:proxy;lr>")
    req.add("From", "<sip:sb@127.0.0.1>;tag=a")
    req.add("To", "<sip:far@127.0.0.1>")
    req.add("Call-ID", "cid")
    req.add("CSeq", f"1 {method}")
    return req


def response_to(req: Request, status: int) -> Response:
    resp = Response(status=status, reason="X")
    resp.add("Via", req.values("Via")[0])
    resp.add("From", req.get("From") or "")
    resp.add("To", (req.get("To") or "") + ";tag=b")
    resp.add("Call-ID", req.call_id)
    resp.add("CSeq", req.get("CSeq") or "")
    return resp


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def start(
    clock: ManualClock,
    kind: type[ClientTransaction],
    method: str,
    target: Target = UDP,
    sender: LoopbackSender | None = None,
) -> tuple[ClientTransaction, LoopbackSender, Recorder, list[object]]:
    sender = sender or LoopbackSender(clock)
    user = Recorder()
    ended: list[object] = []
    tx = kind(request(method), target, sender, replace(TIMERS, clock=clock), user, ended.append)
    tx.start()
    return tx, sender, user, ended


def test_invite_is_retransmitted_with_doubling_intervals_until_timer_b(clock: ManualClock) -> None:
    tx, sender, user, ended = start(clock, InviteClientTransaction, "INVITE")
    clock.advance(64 * T1 - 1e-9)
    assert user.failures == []
    clock.advance(2e-9)

    times = [at for at, _, _ in sender.sent]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 7  # at 0, 1, 3, 7, 15, 31 and 63 T1; timer B fires at 64 T1
    assert gaps == pytest.approx([T1, 2 * T1, 4 * T1, 8 * T1, 16 * T1, 32 * T1])
    assert user.failures == [Failure.TIMEOUT]
    assert ended == [tx]


def test_provisional_stops_invite_retransmission_and_timer_b(clock: ManualClock) -> None:
    tx, sender, user, _ = start(clock, InviteClientTransaction, "INVITE")
    tx.receive(response_to(tx.request, 180))
    clock.advance(64 * T1 + 0.1)
    assert sender.methods() == ["INVITE"]
    assert user.responses == [180] and user.failures == []
    assert tx.state is State.PROCEEDING


def test_final_failure_is_acked_in_the_transaction_and_retransmissions_absorbed(
    clock: ManualClock,
) -> None:
    tx, sender, user, ended = start(clock, InviteClientTransaction, "INVITE")
    busy = response_to(tx.request, 486)
    tx.receive(busy)
    tx.receive(busy)

    assert user.responses == [486]
    assert sender.methods() == ["INVITE", "ACK", "ACK"]
    _, ack, target = sender.sent[1]
    assert isinstance(ack, Request)
    assert ack.uri == tx.request.uri and target == UDP
    assert ack.values("Via") == tx.request.values("Via")[:1]  # same branch
    assert ack.get("To") == busy.get("To") and ack.get("Route") == "<sip:proxy;lr>"
    assert ack.cseq == (1, "ACK")
    clock.advance(64 * T1 - 1e-9)
    assert ended == []
    clock.advance(2e-9)  # timer D
    assert ended == [tx]


def test_every_2xx_reaches_the_user_who_acks_it(clock: ManualClock) -> None:
    tx, sender, user, ended = start(clock, InviteClientTransaction, "INVITE")
    ok = response_to(tx.request, 200)
    tx.receive(ok)
    tx.receive(ok)
    assert user.responses == [200, 200]
    assert sender.methods() == ["INVITE"]  # the ACK of a 2xx is the dialog's business
    assert tx.state is State.ACCEPTED
    clock.advance(64 * T1)  # timer M
    assert ended == [tx]


def test_nothing_is_retransmitted_over_tcp(clock: ManualClock) -> None:
    tx, sender, _user, _ = start(clock, InviteClientTransaction, "INVITE", TCP)
    clock.advance(10 * T1)
    assert sender.methods() == ["INVITE"]
    tx.receive(response_to(tx.request, 404))
    assert tx.state is State.COMPLETED
    clock.advance(0)  # timer D is zero for reliable transports
    assert tx.state is State.TERMINATED


def test_non_invite_retransmission_is_capped_at_t2_then_times_out(clock: ManualClock) -> None:
    _tx, sender, user, _ = start(clock, NonInviteClientTransaction, "BYE")
    clock.advance(64 * T1)
    times = [at for at, _, _ in sender.sent]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[:3] == pytest.approx([T1, 2 * T1, 4 * T1])
    assert max(gaps) == pytest.approx(TIMERS.t2)
    assert gaps[-1] == pytest.approx(TIMERS.t2)
    assert user.failures == [Failure.TIMEOUT]


def test_non_invite_final_response_completes_it_once(clock: ManualClock) -> None:
    tx, sender, user, _ = start(clock, NonInviteClientTransaction, "BYE")
    tx.receive(response_to(tx.request, 100))
    tx.receive(response_to(tx.request, 200))
    tx.receive(response_to(tx.request, 200))
    clock.advance(5 * T1)
    assert user.responses == [100, 200]
    assert sender.methods() == ["BYE"]


@pytest.mark.parametrize("kind", [InviteClientTransaction, NonInviteClientTransaction])
def test_transport_error_fails_the_transaction(
    clock: ManualClock, kind: type[ClientTransaction]
) -> None:
    tx, _, user, ended = start(
        clock,
        kind,
        "INVITE" if kind is InviteClientTransaction else "BYE",
        sender=LoopbackSender(clock, fail=True),
    )
    assert user.failures == [Failure.TRANSPORT]
    assert ended == [tx]


def test_server_transaction_answers_retransmissions_with_the_last_response(
    clock: ManualClock,
) -> None:
    sender = LoopbackSender(clock)
    bye = request("BYE")
    ended: list[object] = []
    tx = ServerTransaction(bye, UDP, sender, replace(TIMERS, clock=clock), ended.append)
    tx.respond(response_to(bye, 200))
    tx.retransmitted()
    assert sender.methods() == ["200", "200"]
    clock.advance(64 * T1)  # timer J
    assert ended == [tx]


def test_invite_2xx_is_retransmitted_until_its_ack(clock: ManualClock) -> None:
    sender = LoopbackSender(clock)
    invite = request("INVITE")
    tx = ServerTransaction(invite, UDP, sender, replace(TIMERS, clock=clock), lambda _: None)
    tx.respond(response_to(invite, 200))
    clock.advance(3.5 * T1)
    assert [at for at, _, _ in sender.sent] == pytest.approx([0, T1, 3 * T1])
    tx.ack_received()
    clock.advance(64 * T1)
    assert len(sender.sent) == 3
    assert tx.state in (State.CONFIRMED, State.TERMINATED)
