"""Guessing on the token endpoint: failed requests slowed, then refused, per account and per
client address.

Each key (an account id as sent, a client address) keeps the times of its failures within
the window. The first ``failures_allowed`` cost nothing; from then on each failure locks the
key for twice as long as the one before (1 s, 2 s, 4 s... up to ``lockout_max_s``), and a
request during a lock is refused (``TooManyFailedAttempts``, 429 with ``Retry-After``) without
its credentials being looked at. Failures older than the window are forgotten; a success
forgives nothing (else a guesser holding one valid account could wipe its address's record).

An address is refused while it is locked. An account's lock refuses only addresses that have
failed themselves within the window: a client with the right credentials from another
address is never kept out by someone guessing at its account, while a guesser spread over
many addresses gets one wrong guess per address before the account's lock covers it too.

Attempts in flight count as failures until they are known (so a burst of concurrent guesses
cannot all slip through before the first one fails).

State lives in this process (known hole): with several serving processes each counts its own,
so a guesser spread over N nodes gets N times the allowance; a restart forgets. Tables are
bounded; when full, the key idle longest is forgotten first.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field

from switchboard.domain.errors import TooManyFailedAttempts

log = logging.getLogger(__name__)

MAX_KEYS = 100_000
# Account ids are at most 64 characters: anything longer is wrong, and need not be kept whole.
KEY_CHARS = 65


@dataclass(frozen=True)
class GuessingPolicy:
    failures_allowed: int = 10
    window_s: float = 900.0
    lockout_max_s: float = 300.0
    log_interval_s: float = 60.0


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    pending: int = 0


class _Table:
    def __init__(self, policy: GuessingPolicy) -> None:
        self._policy = policy
        self._records: dict[str, _Record] = {}

    def get(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None:
            horizon = now - self._policy.window_s
            while record.failures and record.failures[0] <= horizon:
                record.failures.popleft()
        return record

    def touch(self, key: str) -> _Record:
        record = self._records.pop(key, None) or _Record()
        self._records[key] = record  # most recently used last: eviction takes the first
        if len(self._records) > MAX_KEYS:
            oldest = next(iter(self._records))
            if self._records[oldest].pending == 0:
                del self._records[oldest]
        return record

    def drop_if_idle(self, key: str) -> None:
        record = self._records.get(key)
        if record is not None and not record.failures and record.pending == 0:
            del self._records[key]

    def wait_s(self, record: _Record | None, now: float) -> float:
        """How long this key must wait before its next attempt (0: now)."""
        if record is None:
            return 0.0
        allowed = self._policy.failures_allowed
        failed = len(record.failures)
        if failed + record.pending < allowed:
            return 0.0
        if failed >= allowed:
            lock = min(self._policy.lockout_max_s, 2.0 ** (failed - allowed))
            until = record.failures[-1] + lock
            if until > now:
                return until - now
        # At the allowance (or just out of a lock) with a guess in flight: one at a time.
        return 1.0 if record.pending else 0.0


class Attempt:
    """One admitted token request; say how it ended."""

    __slots__ = ("_account", "_address", "_done", "_limit")

    def __init__(self, limit: GuessingLimit, account: str, address: str) -> None:
        self._limit, self._account, self._address, self._done = limit, account, address, False

    def succeeded(self) -> None:
        if not self._done:
            self._done = True
            self._limit._finish(self._account, self._address, failed_at=None)

    def failed(self, now: float) -> None:
        if not self._done:
            self._done = True
            self._limit._finish(self._account, self._address, failed_at=now)


class GuessingLimit:
    def __init__(self, policy: GuessingPolicy | None = None) -> None:
        self.policy = policy or GuessingPolicy()
        self._accounts = _Table(self.policy)
        self._addresses = _Table(self.policy)
        self._report = _Report(self.policy.log_interval_s)

    def admit(self, account: str, address: str, now: float) -> Attempt:
        """An attempt to check credentials, or ``TooManyFailedAttempts``."""
        account = account[:KEY_CHARS]
        by_address = self._addresses.get(address, now)
        wait = self._addresses.wait_s(by_address, now)
        if by_address is not None and by_address.failures:
            wait = max(wait, self._accounts.wait_s(self._accounts.get(account, now), now))
        if wait > 0:
            self._report.refused(account, address, now)
            raise TooManyFailedAttempts(retry_after_s=max(1, math.ceil(wait)))
        self._accounts.touch(account).pending += 1
        self._addresses.touch(address).pending += 1
        return Attempt(self, account, address)

    def _finish(self, account: str, address: str, failed_at: float | None) -> None:
        for table, key in ((self._accounts, account), (self._addresses, address)):
            record = table.touch(key)
            record.pending = max(0, record.pending - 1)
            if failed_at is not None:
                record.failures.append(failed_at)
                # Enough to lock for the longest time; older entries change nothing.
                while len(record.failures) > self.policy.failures_allowed + 16:
                    record.failures.popleft()
            else:
                table.drop_if_idle(key)
        if failed_at is not None:
            self._report.failed(account, address, failed_at)


class _Report:
    """Failures and refusals, logged with their counts at most once per interval (never a
    line per request: a guesser would otherwise write the log). The counts of an interval
    are logged with the first event after it."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._logged_at: float | None = None
        self._failed = 0
        self._refused = 0

    def failed(self, account: str, address: str, now: float) -> None:
        self._failed += 1
        self._maybe_log(account, address, now)

    def refused(self, account: str, address: str, now: float) -> None:
        self._refused += 1
        self._maybe_log(account, address, now)

    def _maybe_log(self, account: str, address: str, now: float) -> None:
        if self._logged_at is not None and now - self._logged_at < self._interval_s:
            return
        log.warning(
            "token requests: %d failed and %d refused (429) since the last report; "
            "the latest for client id %r from %r",
            self._failed,
            self._refused,
            account,
            address,
        )
        self._logged_at = now
        self._failed = self._refused = 0
