"""This process's copies of read-mostly rows (accounts), kept briefly."""

from __future__ import annotations

import time
from dataclasses import replace

from switchboard.domain.accounts import Account


class AccountCache:
    """Accounts as last read by this process, kept ``ttl_s`` for reads that may be that old
    (``get(cached=True)``): another process's change is seen within ``ttl_s``, this process's
    at once. Token generations never come from here (``credentials`` reads them), nor do
    agents' states, so staleness can neither let a revoked token in nor reserve an agent
    twice. Copies go out, so callers may change what they get."""

    def __init__(self, ttl_s: float = 1.0) -> None:
        self.ttl_s = ttl_s
        self._accounts: dict[str, tuple[float, Account]] = {}

    def get(self, key: str) -> Account | None:
        found = self._accounts.get(key)
        if found is None or found[0] <= time.monotonic():
            return None
        return _copy(found[1])

    def put(self, account: Account) -> None:
        if len(self._accounts) >= 10_000:
            self._accounts.clear()
        self._accounts[account.key] = (time.monotonic() + self.ttl_s, _copy(account))

    def forget(self, key: str) -> None:
        self._accounts.pop(key, None)


def _copy(account: Account) -> Account:
    return replace(
        account,
        deny_prefixes=list(account.deny_prefixes),
        callback_numbers=list(account.callback_numbers),  # the numbers themselves are frozen
    )
