"""Idempotency keys and rate buckets in memory, with the SQL stores' semantics."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from switchboard.domain.buckets import refilled, taken
from switchboard.domain.errors import UnknownEntity
from switchboard.service.ports import IdempotentRequest, StoredResponse
from tests.fakes.repositories import FakeSession


class FakeIdempotencyKeys:
    def __init__(self, session: FakeSession) -> None:
        self._session = session

    async def get(self, account_key: str, key: str, now: datetime) -> IdempotentRequest | None:
        found = self._session.data.idempotency.get((account_key, key))
        return found if found is not None and found.expires_at > now else None

    async def reserve(self, request: IdempotentRequest, now: datetime) -> IdempotentRequest | None:
        data = self._session.writing("reserve an idempotency key")
        if request.account_key not in data.accounts:
            raise UnknownEntity(
                f"reserve an idempotency key: unknown account {request.account_key}"
            )
        held = await self.get(request.account_key, request.key, now)
        if held is not None:
            return held
        data.idempotency[(request.account_key, request.key)] = request
        return None

    async def answer(
        self, account_key: str, key: str, call_id: str, response: StoredResponse
    ) -> bool:
        data = self._session.writing("answer an idempotency key")
        found = data.idempotency.get((account_key, key))
        if found is None or found.call_id != call_id or found.response is not None:
            return False
        data.idempotency[(account_key, key)] = replace(found, response=response)
        return True

    async def purge(self, before: datetime) -> int:
        data = self._session.writing("purge idempotency keys")
        gone = [k for k, request in data.idempotency.items() if request.expires_at < before]
        for k in gone:
            del data.idempotency[k]
        return len(gone)


class FakeRateBuckets:
    def __init__(self, session: FakeSession) -> None:
        self._session = session

    async def take(
        self, account_key: str, wanted: int, *, rate: float, burst: float, now: float
    ) -> tuple[int, float]:
        data = self._session.writing("spend rate tokens")
        if account_key not in data.accounts:
            raise UnknownEntity(f"spend rate tokens: unknown account {account_key}")
        tokens, updated_at = data.buckets.get(account_key, (burst, now))
        level = refilled(tokens, updated_at, now, rate=rate, burst=burst)
        got = taken(level, wanted)
        data.buckets[account_key] = (level - got, max(now, updated_at))
        return got, level - got
