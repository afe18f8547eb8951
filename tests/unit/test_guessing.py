"""The guessing limit of the token endpoint, on its own clock (seconds as floats)."""

from __future__ import annotations

import logging

import pytest

from switchboard.domain.errors import TooManyFailedAttempts
from switchboard.service import guessing
from switchboard.service.guessing import GuessingLimit, GuessingPolicy

POLICY = GuessingPolicy(failures_allowed=3, window_s=900, lockout_max_s=8, log_interval_s=60)


def fail(limit: GuessingLimit, now: float, account: str = "acme", address: str = "a") -> None:
    limit.admit(account, address, now).failed(now)


def refused_for(limit: GuessingLimit, now: float, account: str = "acme", address: str = "a") -> int:
    with pytest.raises(TooManyFailedAttempts) as refused:
        limit.admit(account, address, now)
    return refused.value.retry_after_s


def test_failures_past_the_allowance_lock_for_twice_as_long_each_time_up_to_the_maximum() -> None:
    limit = GuessingLimit(POLICY)
    now = 0.0
    for _ in range(3):
        fail(limit, now)
    waits = []
    for _ in range(6):
        wait = refused_for(limit, now)
        waits.append(wait)
        now += wait
        fail(limit, now)  # allowed once the lock has passed, and wrong again
    assert waits == [1, 2, 4, 8, 8, 8]


def test_the_refusal_is_per_address_and_for_every_account_from_it() -> None:
    limit = GuessingLimit(POLICY)
    for n in range(3):
        fail(limit, 0.0, account=f"guess{n}", address="attacker")
    assert refused_for(limit, 0.5, account="another", address="attacker") == 1
    limit.admit("another", "elsewhere", 0.5).succeeded()


def test_a_guessed_at_account_still_lets_the_right_client_in_from_another_address() -> None:
    limit = GuessingLimit(POLICY)
    for n in range(3):  # spread over addresses: no address reaches its own allowance
        fail(limit, 0.0, address=f"bot{n}")
    assert refused_for(limit, 0.5, address="bot0") == 1  # an address that guessed before
    limit.admit("acme", "the-real-client", 0.5).succeeded()  # one that never failed
    fail(limit, 0.5, address="bot9")  # a fresh address gets one wrong guess...
    assert refused_for(limit, 0.6, address="bot9") >= 1  # ...then the account's lock holds


def test_failures_older_than_the_window_are_forgotten() -> None:
    limit = GuessingLimit(POLICY)
    for _ in range(3):
        fail(limit, 0.0)
    refused_for(limit, 0.5)
    limit.admit("acme", "a", 900.5).succeeded()


def test_a_success_forgives_nothing() -> None:
    limit = GuessingLimit(POLICY)
    for _ in range(3):
        fail(limit, 0.0)
    limit.admit("mine", "b", 2.0).succeeded()
    fail(limit, 2.0)  # the lock of 1 s has passed: tried, and wrong
    assert refused_for(limit, 2.5) == 2


def test_guesses_in_flight_count_before_they_are_known() -> None:
    limit = GuessingLimit(POLICY)
    in_flight = [limit.admit("acme", "a", 0.0) for _ in range(3)]
    assert refused_for(limit, 0.0) == 1
    for attempt in in_flight:
        attempt.succeeded()
    limit.admit("acme", "a", 0.0).succeeded()


def test_the_tables_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guessing, "MAX_KEYS", 100)
    limit = GuessingLimit(POLICY)
    for n in range(1000):
        fail(limit, 0.0, account=f"a{n}", address=f"x{n}")
    assert len(limit._accounts._records) <= 101 and len(limit._addresses._records) <= 101


def test_a_long_client_id_is_kept_short() -> None:
    limit = GuessingLimit(POLICY)
    for n in range(3):  # three addresses, one failure each: only the account is locked
        fail(limit, 0.0, account="x" * 100_000 + str(n), address=f"a{n}")
    assert refused_for(limit, 0.5, account="x" * 100_000, address="a0") == 1
    assert all(len(key) <= 65 for key in limit._accounts._records)


def test_failures_are_logged_once_per_interval_with_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limit = GuessingLimit(POLICY)
    with caplog.at_level(logging.WARNING, logger="switchboard.service.guessing"):
        now = 0.0
        for _ in range(1200):  # twenty a second for a minute: failures, then refusals
            try:
                fail(limit, now)
            except TooManyFailedAttempts:
                pass
            now += 0.05
        try:
            fail(limit, now + 1)
        except TooManyFailedAttempts:
            pass
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("token requests: 1 failed and 0 refused")
    assert "refused (429)" in lines[1] and " 0 refused" not in lines[1]
