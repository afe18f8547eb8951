"""The bundle of ports a use-case works with; built once by ``switchboard.bootstrap``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType

from switchboard.domain.calls import Call
from switchboard.domain.numbers import NumberPlan
from switchboard.service.content_limit import ContentRateLimit
from switchboard.service.detached import Detached
from switchboard.service.event_hub import EventHub
from switchboard.service.guessing import GuessingLimit
from switchboard.service.ports import (
    AccessTokens,
    Clock,
    Doorbell,
    EventPublisher,
    FaultPoints,
    RecordingStore,
    SecretHasher,
    SigningKeys,
    SyntheticAudio,
    TelephonyEngine,
    UnitOfWork,
    UnitOfWorkFactory,
    Wakeup,
)
from switchboard.service.rate_limits import RateLimiter


class NoWakeup:
    """For processes without a deadline loop (one-shot CLI commands)."""

    def wake_at(self, due_at: datetime) -> None:
        return None


class NoFaults:
    """Where no test asked for a fault point: every point passes."""

    def reach(self, point: str) -> None:
        return None


@dataclass
class Context:
    uow: UnitOfWorkFactory
    clock: Clock
    engine: TelephonyEngine
    numbers: NumberPlan
    tokens: AccessTokens
    hasher: SecretHasher
    publisher: EventPublisher
    node_id: str = "node-1"
    retention_s: float = 86400.0
    # How long events stay in the outbox (the replayable log and the stream's reach back).
    event_retention_s: float = 86400.0
    # Finished recordings (read by the Interaction Content API); None where none are kept.
    recordings: RecordingStore | None = None
    recording_retention_s: float = 86400.0
    # The simulator's recordings: a tone per party, with the timing the V0 state said.
    synthetic_audio: SyntheticAudio | None = None
    # Requests to the Interaction Content API per account, in this process.
    content_limit: ContentRateLimit = field(default_factory=ContentRateLimit)
    # The provisioning API's administrator bearer; None: that API answers 404.
    admin_token: str | None = None
    # False in one-shot CLI processes: their engine is not open, so they never drive a call
    # that needs this node's live engine state (a SIP call); they leave a request instead.
    engine_running: bool = True
    # The deadline loop, told of every deadline this process writes (set by ``serve``).
    wakeup: Wakeup = field(default_factory=NoWakeup)
    # Rings another process's deadline loop; ``None`` where none was built.
    doorbell: Doorbell | None = None
    # Work a request starts that must not stop with it (a placement once committed); the
    # process waits for it when it closes.
    detached: Detached = field(default_factory=Detached)
    # Where the access-token signing keys are kept (rotated by the operator).
    keys: SigningKeys | None = None
    # Failed token requests, per account and client address, in this process.
    guessing: GuessingLimit = field(default_factory=GuessingLimit)
    # How long a claimed deadline is this process's before it falls due again.
    deadline_lease_s: float = 30.0
    faults: FaultPoints = field(default_factory=NoFaults)
    # Wakes this process's event streams when events commit.
    hub: EventHub = field(default_factory=EventHub)
    # How often a stream looks for events other processes committed, and how long it stays
    # silent before a keep-alive comment.
    stream_poll_s: float = 1.0
    stream_keepalive_s: float = 15.0
    # How long an ``Idempotency-Key`` and its answer are kept.
    idempotency_ttl_s: float = 86400.0
    # Each account's request rate (``service.rate_limits``); ``None``: not limited.
    limiter: RateLimiter | None = None

    def retained(self, call: Call) -> bool:
        """Active, or ended less than the retention time ago."""
        if call.ended_at is None:
            return True
        return call.ended_at + timedelta(seconds=self.retention_s) > self.clock.now()

    def transaction(self, *, write: bool = True) -> PublishingUnitOfWork:
        """A unit of work whose committed events are published once it is left. (Events are
        written by any unit of work's ``commit``; this one also wakes the streams.)"""
        return PublishingUnitOfWork(self, self.uow(write=write))


class PublishingUnitOfWork:
    """``Context.transaction``: a class rather than an ``asynccontextmanager``, which costs a
    generator and its frames on every request."""

    __slots__ = ("_ctx", "_uow")

    def __init__(self, ctx: Context, uow: UnitOfWork) -> None:
        self._ctx = ctx
        self._uow = uow

    async def __aenter__(self) -> UnitOfWork:
        return await self._uow.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        uow = self._uow
        await uow.__aexit__(exc_type, exc, tb)
        if uow.committed:
            events = list(uow.committed)
            uow.committed.clear()
            self._ctx.hub.notify({event.account_key for event in events})
            await self._ctx.publisher.publish(events)
