"""The ports: what the use-cases need from the outside world, as Protocols.

Every port has a fake (``tests/fakes``) and a contract suite that every implementation
passes (``tests/contract``). Services see only these; ``bootstrap`` picks the adapters.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

from switchboard.domain.accounts import Account
from switchboard.domain.agents import Agent, AgentState
from switchboard.domain.calls import Call, CallResult, Ending, Party, Phase, RecordingStatus
from switchboard.domain.events import Event, LoggedEvent
from switchboard.domain.webhooks import Delivery, Subscription

# --------------------------------------------------------------------------- storage

# Repositories have a ``list`` method; inside their class bodies that name hides the builtin.
List = list


class AccountRepository(Protocol):
    async def get(self, key: str, *, cached: bool = False) -> Account | None:
        """``cached``: may be up to a second old when another process changed the account
        (its token generation included: read ``credentials`` for that). For reads that only
        apply the settings (placing a call, its progress); never before changing it."""

    async def add(self, account: Account, api_token_hash: str) -> None:
        """Raises ``AlreadyExists`` when the key is taken."""

    async def save(self, account: Account) -> None:
        """Write every setting and the callback numbers (replacing them). Never writes the
        token generation (a stale copy must not un-revoke tokens); ``UnknownEntity`` for a
        missing account."""

    async def list(self) -> List[Account]: ...

    async def credentials(self, key: str) -> tuple[str, int] | None:
        """The API token hash and the token generation, or ``None`` for an unknown key."""

    async def rotate_api_token(self, key: str, api_token_hash: str) -> int:
        """Store a new API token hash and bump the generation; returns the new generation."""


class AgentRepository(Protocol):
    async def get(
        self, account_key: str, agent_id: str, *, for_update: bool = False
    ) -> Agent | None: ...

    async def add(self, agent: Agent) -> None:
        """Raises ``AlreadyExists`` when the id is taken in the account."""

    async def save(self, agent: Agent) -> None: ...

    async def list(self, account_key: str) -> List[Agent]: ...

    async def reserve(
        self,
        account_key: str,
        agent_id: str,
        *,
        call_id: str,
        busy_state: AgentState,
        free_states: Sequence[AgentState],
        wrapup_allowed: bool,
    ) -> bool:
        """Atomically move a free agent to ``busy_state`` on ``call_id``.

        One conditional UPDATE: it succeeds only if the agent is on no call and in one of
        ``free_states`` (or in ``Wrapup`` with no disposition awaited, when
        ``wrapup_allowed``). It records the state it had in ``state_before_call``. Of any
        number of concurrent callers, in any number of processes, one wins.
        """

    async def free_in_groups(
        self,
        account_key: str,
        group_ids: Sequence[str],
        *,
        wrapup_allowed: bool,
        exclude: str | None = None,
        limit: int = 10,
    ) -> List[Agent]:
        """Up to ``limit`` free agents that are members of any of ``group_ids`` (never
        ``exclude``), never-called first, then longest idle, ties by id as a number then as
        text. Free: on no call and ``Ready`` or ``ReadyOutbound`` (or in ``Wrapup`` owing no
        disposition, when ``wrapup_allowed``). Its cost must not grow with the groups' size."""

    async def due_wrapups(self, now: datetime, limit: int = 100) -> List[tuple[str, str]]:
        """(account_key, agent_id) of agents in Wrapup whose deadline has passed and that
        await no disposition."""

    async def next_wrapup_end(self) -> datetime | None:
        """The earliest wrap-up end of an agent that awaits no disposition."""


class GroupRepository(Protocol):
    async def existing(self, account_key: str, group_ids: Sequence[str]) -> List[str]:
        """The ids among ``group_ids`` that name groups of the account, once each, in order."""

    async def members(self, account_key: str, group_ids: Sequence[str]) -> dict[str, list[str]]:
        """Members of the groups that exist, by group id; unknown ids are absent."""

    async def add_members(self, account_key: str, group_id: str, agent_ids: Sequence[str]) -> None:
        """Creates the group if needed; members already in it are kept once."""

    async def list(self, account_key: str) -> dict[str, list[str]]: ...


@dataclass(frozen=True)
class CallQuery:
    """A page of an account's calls, newest first (``created_at`` then ``id``, descending).

    Every filter left ``None`` matches all. ``before``: the (created_at, id) of the last call
    of the previous page (keyset pagination: calls placed since do not shift later pages).
    ``group``: calls placed by an agent who is a member of the group now (calls do not record
    the group they were placed through)."""

    account_key: str
    limit: int = 50
    phases: tuple[Phase, ...] | None = None
    agent_id: str | None = None  # as the caller or as the destination agent
    group_id: str | None = None
    # (E.164, agent id): calls to that number, or to that agent (None: not that kind)
    destination: tuple[str | None, str | None] | None = None
    reference: str | None = None
    created_from: datetime | None = None  # inclusive
    created_until: datetime | None = None  # exclusive
    before: tuple[datetime, str] | None = None


class CallRepository(Protocol):
    async def add(self, call: Call) -> None: ...

    async def get(self, call_id: str, *, for_update: bool = False) -> Call | None: ...

    async def save(self, call: Call) -> None:
        """Write what a call's life changes (phase, recording, disposition, result, times,
        deadline); what was fixed at placement is never rewritten."""

    async def delete(self, call_id: str) -> None: ...

    async def list(
        self, account_key: str, *, active_only: bool = False, limit: int = 1000
    ) -> List[Call]: ...

    async def find(self, query: CallQuery) -> List[Call]:
        """A page of calls matching ``query``, newest first, at most ``query.limit``."""

    async def latest_for_agent(self, account_key: str, agent_id: str) -> Call | None:
        """The agent's most recent call, as caller or destination."""

    async def due_calls(self, now: datetime, *, node_id: str, limit: int = 100) -> List[Call]:
        """The active calls placed by ``node_id`` whose deadline has passed, earliest first."""

    async def next_deadline(self, node_id: str) -> datetime | None:
        """The earliest deadline of the active calls placed by ``node_id``."""

    async def claim_deadline(
        self, call_id: str, deadline_at: datetime, tag: str, *, node_id: str, lease_until: datetime
    ) -> Call | None:
        """Lease the deadline if it is still the one given and the call is active and
        ``node_id``'s: it moves to ``lease_until`` (same tag), so that a claim never completed
        falls due again then. The call (its deadline the lease) for the one claimer, ``None``
        for any other."""

    async def clear_deadline(self, call_id: str, deadline_at: datetime, tag: str) -> bool:
        """Consume the deadline if it is still the one given (a completed claim)."""

    async def take_calls(self, from_node: str, to_node: str) -> List[Call]:
        """Make ``to_node`` the owner of ``from_node``'s active calls; returns them as they
        are now, oldest first."""

    async def set_deadline(self, call_id: str, deadline_at: datetime, tag: str) -> None: ...

    async def active_on_node(self, node_id: str, account_key: str | None = None) -> List[Call]: ...

    async def purge_ended(self, before: datetime) -> int: ...


class SettingsRepository(Protocol):
    async def get_or_create(self, name: str, candidate: str) -> str:
        """Insert ``candidate`` under ``name`` if absent; return what is stored (one winner)."""


class NodeRepository(Protocol):
    async def register(self, node_id: str, doorbell: str, now: datetime) -> None:
        """Record (or replace) where the serving process ``node_id`` listens for wake-ups."""

    async def doorbell(self, node_id: str) -> str | None: ...

    async def heartbeat(self, node_id: str, now: datetime) -> bool:
        """Renew the node's lease; False when it is not registered or was taken over."""

    async def taken_by(self, node_id: str) -> str | None: ...

    async def silent(self, before: datetime, *, besides: str) -> List[tuple[str, datetime]]:
        """(node_id, last heartbeat) of the nodes not taken over and last seen before
        ``before``, other than ``besides``."""

    async def take_over(self, node_id: str, seen_at: datetime, *, by: str, now: datetime) -> bool:
        """Record ``by`` as the node's successor, if the node is still silent since
        ``seen_at`` and nobody took it over first (one winner)."""


class EventLog(Protocol):
    """The transactional outbox: every event, in its account's order (``position``: growing,
    in commit order within an account, not consecutive) and its call's (``sequence``)."""

    async def append(self, events: Sequence[Event]) -> List[Event]:
        """Write ``events`` in this transaction, numbering each call's events on from those
        already written; returns them as written (``sequence`` set). The unit of work calls
        this at ``commit`` with what the use-case collected in ``events``."""

    async def after(self, account_key: str, position: int, limit: int) -> List[LoggedEvent]:
        """The account's events after ``position``, oldest first, at most ``limit``."""

    async def of_call(self, account_key: str, call_id: str) -> List[LoggedEvent]:
        """The call's events in order (none for a call of another account)."""

    async def last_position(self, account_key: str) -> int:
        """The position of the account's latest event (0 before the first)."""

    async def purge(self, before: datetime) -> int:
        """Delete events that happened before ``before``; how many went. Each account's
        highest position deleted is kept (``purged_through``)."""

    async def purged_through(self, account_key: str) -> int:
        """The highest position of the account's events purged so far (0: none): a reader
        after a position below it has missed events."""


@dataclass(frozen=True)
class StoredResponse:
    """An answer kept to be replayed, as opaque data: the service never reads its status."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class IdempotentRequest:
    """A request sent with an ``Idempotency-Key``: what identifies it and, once answered,
    the answer (``response`` is ``None`` while the first request is in flight)."""

    account_key: str
    key: str
    fingerprint: str  # hex SHA-256 of the request (``service.idempotency.fingerprint``)
    call_id: str  # the id its placement gives the call (reserved with the key)
    created_at: datetime
    expires_at: datetime
    response: StoredResponse | None = None


class IdempotencyKeys(Protocol):
    """Keys per account. At most one live (unexpired) request holds a key: ``reserve`` is
    the one atomic claim, made in the transaction of the placement or before it."""

    async def get(self, account_key: str, key: str, now: datetime) -> IdempotentRequest | None:
        """The live request holding the key, or ``None``."""

    async def reserve(self, request: IdempotentRequest, now: datetime) -> IdempotentRequest | None:
        """Hold the key for ``request`` (replacing an expired holder): ``None`` when held,
        else the live request that holds it (nothing written). On PostgreSQL a concurrent
        uncommitted reservation of the same key makes this wait for its transaction."""

    async def answer(
        self, account_key: str, key: str, call_id: str, response: StoredResponse
    ) -> bool:
        """Record the answer of the in-flight request ``call_id``; false when no such
        request holds the key (its reservation rolled back, or another holds it)."""

    async def purge(self, before: datetime) -> int:
        """Delete requests that expired before ``before``; how many went."""


class RateBuckets(Protocol):
    """Token buckets per account, shared by every process on the database."""

    async def take(
        self, account_key: str, wanted: int, *, rate: float, burst: float, now: float
    ) -> tuple[int, float]:
        """Atomically refill the account's bucket (created full) at ``rate`` tokens a second
        up to ``burst`` since it was last touched, take up to ``wanted`` whole tokens, and
        return how many were taken and the level left. ``now``: seconds since the epoch."""


class WebhookRepository(Protocol):
    """Subscriptions, their delivery cursors and leases, the delivery log and the
    redeliveries asked for. A subscription is worked on by the node holding its lease
    (``claim``); the writes of delivery are fenced by it (false when the lease is lost)."""

    async def add(self, subscription: Subscription) -> None: ...

    async def get(self, account_key: str, subscription_id: str) -> Subscription | None: ...

    async def list(self, account_key: str) -> List[Subscription]: ...

    async def remove(self, account_key: str, subscription_id: str) -> bool: ...

    async def claimable(self, now: datetime, node_id: str, limit: int) -> List[str]:
        """Ids of subscriptions with something to send (an event after the cursor, due now,
        or a due redelivery) whose lease is free, expired or ``node_id``'s."""

    async def claim(
        self, subscription_id: str, node_id: str, now: datetime, lease_until: datetime
    ) -> Subscription | None:
        """Take or renew the lease, if free, expired or already ours."""

    async def advance(
        self, subscription_id: str, node_id: str, cursor: int, lease_until: datetime
    ) -> bool:
        """Done with everything up to ``cursor``: no attempts pending, lease renewed."""

    async def retry_later(
        self, subscription_id: str, node_id: str, attempts: int, retry_at: datetime
    ) -> bool: ...

    async def release(self, subscription_id: str, node_id: str) -> None: ...

    async def record_all(self, deliveries: Sequence[Delivery]) -> None:
        """Add attempts to the delivery log."""

    async def deliveries(self, subscription_id: str, limit: int) -> List[Delivery]:
        """The log, newest first."""

    async def last_attempt(self, subscription_id: str, event_id: str) -> int: ...

    async def event_at(self, account_key: str, position: int) -> LoggedEvent | None: ...

    async def find_event(
        self, account_key: str, subscription_id: str, event_id: str
    ) -> LoggedEvent | None:
        """The account's event of that id (sent to the subscription or not)."""

    async def queue_redelivery(
        self, subscription_id: str, event_id: str, position: int, now: datetime
    ) -> None: ...

    async def due_redeliveries(
        self, subscription_id: str, now: datetime, limit: int
    ) -> List[tuple[str, int, int]]:
        """``(event_id, position, attempts)`` of redeliveries due now, oldest first."""

    async def redelivery_failed(
        self, subscription_id: str, event_id: str, attempts: int, retry_at: datetime
    ) -> None: ...

    async def redelivery_done(self, subscription_id: str, event_id: str) -> None: ...

    async def purge_deliveries(self, before: datetime) -> int: ...


class UnitOfWork(Protocol):
    """One transaction. ``commit`` makes the changes visible; leaving without it rolls back.
    Events collected in ``events`` are written by ``commit`` into ``outbox``, in the same
    transaction (no change without its event, no event without its change); once committed
    they move to ``committed``, which is published after the unit of work is left."""

    accounts: AccountRepository
    agents: AgentRepository
    groups: GroupRepository
    calls: CallRepository
    settings: SettingsRepository
    nodes: NodeRepository
    outbox: EventLog
    idempotency: IdempotencyKeys
    buckets: RateBuckets
    webhooks: WebhookRepository
    events: list[Event]
    committed: list[Event]

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = True) -> UnitOfWork: ...


# --------------------------------------------------------------------------- telephony


@dataclass(frozen=True)
class Deadline:
    due_at: datetime
    tag: str


@dataclass(frozen=True)
class CallSetup:
    """What an engine needs to place, drive and end one call; rebuilt from storage."""

    call_id: str
    agent_phone: str
    destination_e164: str | None
    destination_phone: str | None  # a destination agent's phone URI
    presented_clid_e164: str | None
    agent_timeout_s: float
    destination_timeout_s: float
    phase: Phase = Phase.AGENT_RINGING
    deadline: Deadline | None = None  # the call's deadline when the setup was read
    # Who the call is for (a recording's metadata names them).
    account_key: str = ""
    caller_agent_id: str = ""
    destination_agent_id: str | None = None
    # When the call was placed and the CLID it presented, as emitted (the Interaction Content
    # API shows them as the recording's ``start`` and ``connectFrom``).
    placed_at: datetime | None = None
    presented_clid: str | None = None

    @classmethod
    def of(cls, call: Call) -> CallSetup:
        return cls(
            call_id=call.id,
            agent_phone=call.agent_phone,
            destination_e164=call.destination_e164,
            destination_phone=call.destination_phone,
            presented_clid_e164=call.presented_clid_e164,
            agent_timeout_s=call.agent_timeout_s,
            destination_timeout_s=call.destination_timeout_s,
            phase=call.phase,
            account_key=call.account_key,
            caller_agent_id=call.caller_agent_id,
            destination_agent_id=call.destination_agent_id,
            placed_at=call.created_at,
            presented_clid=call.presented_clid,
            deadline=(
                Deadline(call.deadline_at, call.deadline_tag or "")
                if call.deadline_at is not None
                else None
            ),
        )


class StartOutcome(enum.Enum):
    RINGING = "ringing"  # the agent's phone was reached
    AGENT_BUSY = "agent_busy"  # rejected as busy within the start window
    AGENT_UNREACHABLE = "agent_unreachable"  # anything else within the start window


class CallSignals(Protocol):
    """How an engine reports progress. Implemented by the service; each is a transaction.
    Signals for a call that has already ended are ignored."""

    async def schedule(self, call_id: str, due_at: datetime, tag: str) -> None: ...

    async def agent_ringing(self, call_id: str) -> None:
        """The agent's phone says it rings (an engine whose start does not already say so)."""

    async def destination_ringing(self, call_id: str) -> None:
        """The destination says it rings."""

    async def agent_answered(
        self,
        call_id: str,
        then: Deadline | None = None,
        fired: Deadline | None = None,
        *,
        destination_ringing: bool = False,
    ) -> None:
        """``then``: the call's next deadline, written in the same transaction. ``fired``: the
        deadline this report answers; the report is ignored unless that is still the call's
        deadline, which it consumes (replaced by ``then``, or cleared) in the same
        transaction. ``destination_ringing``: the destination rings from the moment it is
        dialled (the simulator's), recorded in the same transaction."""

    async def destination_answered(
        self, call_id: str, then: Deadline | None = None, fired: Deadline | None = None
    ) -> None: ...

    async def ended(
        self,
        call_id: str,
        result: CallResult,
        fired: Deadline | None = None,
        ending: Ending | None = None,
    ) -> None:
        """``ending``: who ended the call and the SIP status and Q.850 cause, where the
        engine knows; ``Ending.of(result)`` otherwise."""


class TelephonyEngine(Protocol):
    name: str
    # True when a restarted process can go on driving the calls it left (their state is all
    # in storage); otherwise a restart ends them.
    survives_restart: bool
    # True when its reports for a deadline say so (``fired``) and so consume it in their own
    # transaction; otherwise the scheduler claims each deadline, with a lease, before handing
    # it over.
    consumes_deadlines: bool

    def bind(self, signals: CallSignals) -> None:
        """Called once by bootstrap before ``open``."""

    async def open(self) -> None: ...

    async def close(self) -> None:
        """Stop: calls still in progress are hung up and reported as ended."""

    async def start(self, setup: CallSetup) -> StartOutcome:
        """Ring the agent's phone; return once it is reached or has failed (start window)."""

    def plan_start(self, setup: CallSetup) -> tuple[StartOutcome, Deadline | None] | None:
        """What ``start`` would do, for an engine that knows without I/O (the simulator): its
        outcome and the call's first deadline, which the placement then commits with the
        call, in one transaction, instead of calling ``start``. ``None``: call ``start``."""

    async def on_deadline(self, setup: CallSetup, tag: str) -> None:
        """A deadline this engine scheduled has come."""

    async def hangup(self, setup: CallSetup, by: Party) -> None:
        """End the call as if ``by`` put the phone down; reports ``ended``."""

    def holding(self) -> List[str]:
        """The ids of the calls whose live state this engine holds (SIP dialogs); none for an
        engine whose calls live in storage alone."""

    async def record(self, setup: CallSetup, status: RecordingStatus) -> RecordingStatus:
        """Apply the V0 recording state to a connected call (Started records, Paused does
        not); returns what really happens: STOPPED when nothing can record this call."""


# --------------------------------------------------------------------------- recordings


@dataclass(frozen=True)
class RecordingPause:
    """A stretch of the call not in the audio: it falls at ``offset_s`` into the file."""

    offset_s: float
    paused_at: datetime
    resumed_at: datetime | None  # None: paused until the call ended


@dataclass(frozen=True)
class RecordingParty:
    role: str  # "agent" (channel 0) or "destination" (channel 1)
    channel: int
    agent_id: str | None = None
    phone: str | None = None  # the agent's phone URI, or a destination agent's
    number: str | None = None  # the destination number (E.164), for a call to a number


@dataclass(frozen=True)
class Recording:
    """One call's recording: a two-channel WAV and what is known about it."""

    call_id: str
    account_key: str
    started_at: datetime  # when recording first started
    ended_at: datetime  # when the call (and so the recording) ended
    duration_s: float  # of audio: the recorded stretches, pauses absent
    parties: tuple[RecordingParty, ...]
    pauses: tuple[RecordingPause, ...] = ()
    codec: str = "PCMU"  # what the parties sent (before decoding to 16-bit PCM)
    sample_rate: int = 8000
    channels: int = 2
    size_bytes: int = 0  # of the WAV file, set by the store
    # What the Interaction Content API shows (an interaction's ``start`` and ``connectFrom``),
    # kept here because a recording may outlive its call's retention. None: not known.
    placed_at: datetime | None = None
    presented_clid: str | None = None


class RecordingStore(Protocol):
    """Where finished recordings are kept (``docs/recording.md`` has the file layout)."""

    async def save(self, recording: Recording, wav: Path) -> Recording:
        """Take the WAV at ``wav`` (moved, not copied, where possible) and keep it with its
        metadata; returns the recording with ``size_bytes`` set. Replaces one of the same call."""

    async def get(self, account_key: str, call_id: str) -> Recording | None: ...

    async def list(
        self,
        account_key: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> List[Recording]:
        """The account's recordings started in [since, until), oldest first (ties by call
        id), at most ``limit``."""

    def open_audio(self, account_key: str, call_id: str) -> BinaryIO | None:
        """The WAV file, open for reading and seekable (for ``Range``); the caller closes it."""

    async def delete(self, account_key: str, call_id: str) -> bool:
        """``False`` when there was none. Logged."""

    async def purge(self, before: datetime) -> int:
        """Delete every recording whose call ended before ``before`` (retention); each one is
        logged. Returns how many."""


class SyntheticAudio(Protocol):
    """The simulator's stand-in for a real recording (``adapters.media.tones``)."""

    async def render(self, seconds: float) -> Path:
        """A two-channel WAV holding ``seconds`` of audio, a tone per party, in a file of its
        own for ``RecordingStore.save`` to take."""


# --------------------------------------------------------------------------- the rest


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC."""


class AccessTokens(Protocol):
    def issue(
        self,
        account_key: str,
        generation: int,
        now: datetime,
        *,
        scopes: tuple[str, ...] = (),
        lifetime_s: int | None = None,
    ) -> tuple[str, int]:
        """A bearer token and its lifetime in seconds (``lifetime_s``, else the configured
        one). A token with ``scopes`` is for the Interaction Content API only."""

    def verify(self, token: str, now: datetime) -> tuple[str, int]:
        """(account_key, generation) of a V0 token (one without scopes); raises
        ``InvalidAccessToken``."""

    def verify_scoped(self, token: str, now: datetime) -> tuple[str, int, tuple[str, ...]]:
        """(account_key, generation, scopes) of any valid token; raises ``InvalidAccessToken``."""


@dataclass(frozen=True)
class KeyRotation:
    new_kid: str
    # Keys that still verify the tokens they signed, and until when.
    retiring: dict[str, datetime]
    # Keys past their retirement, now removed.
    dropped: list[str]


class SigningKeys(Protocol):
    """Where the access-token signing keys are kept (never the database)."""

    def rotate(self, now: datetime, *, retire_now: bool = False) -> KeyRotation:
        """A new key signs from now on; the others verify until their tokens have expired
        (``retire_now``: not at all). Raises ``ProvisioningError`` where keys cannot be
        rotated (a configured key)."""


class SecretHasher(Protocol):
    def new_secret(self) -> str: ...

    def hash(self, secret: str) -> str: ...

    def matches(self, secret: str, hashed: str) -> bool: ...


class Wakeup(Protocol):
    """The deadline loop of this process (``scheduler.DeadlineLoop``)."""

    def wake_at(self, due_at: datetime) -> None:
        """A deadline this process wrote: look at storage again by then."""


class FaultPoints(Protocol):
    """Named points where a test may have the process die (``SWITCHBOARD_FAULT_POINT``)."""

    def reach(self, point: str) -> None: ...


class Doorbell(Protocol):
    """How one process wakes another's deadline loop (``calls end`` from another node)."""

    async def ring(self, address: str) -> None: ...


class EventPublisher(Protocol):
    """Told of the events a transaction wrote, once it has committed (they are in the outbox
    already: this only wakes whoever waits for them in this process)."""

    async def publish(self, events: Sequence[Event]) -> None: ...


@dataclass(frozen=True)
class SendResult:
    """What one webhook POST came to: the receiver's status, or why there was none."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender(Protocol):
    """POSTs a webhook body, signed with the subscription's key (``Vonage-Signature``)."""

    async def send(self, url: str, body: bytes, key: bytes) -> SendResult:
        """Never raises for the receiver's faults (refused, timed out, 5xx): they are
        results."""

    async def close(self) -> None: ...
