"""The SQL stores of idempotency keys and rate buckets (migration 0008).

Idempotency: ``reserve`` is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired``: it
holds a free or expired key, or changes nothing and the holder is read back. On SQLite the
writer's lock orders two reservations; on PostgreSQL the second insert waits for the first
one's transaction and then sees its row. Stored answers keep their headers as JSON.

Buckets: a row per account (level, when last touched, in seconds since the epoch), read
``FOR UPDATE`` and written back in the caller's transaction, so two processes never spend
the same tokens (SQLite: the writer's lock; PostgreSQL: the row lock).
"""

from __future__ import annotations

from datetime import datetime

import orjson

from switchboard.adapters.storage import rows
from switchboard.adapters.storage.database import Sql
from switchboard.adapters.storage.transaction import Transaction
from switchboard.domain.buckets import refilled, taken
from switchboard.service.ports import IdempotentRequest, StoredResponse

_COLUMNS = "account_key, key, fingerprint, call_id, created_at, expires_at, status, headers, body"
_GET = Sql(
    f"SELECT {_COLUMNS} FROM idempotency_keys WHERE account_key = ? AND key = ? AND expires_at > ?"
)
_RESERVE = Sql(
    f"INSERT INTO idempotency_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (account_key, key) DO UPDATE SET fingerprint = excluded.fingerprint, "
    "call_id = excluded.call_id, created_at = excluded.created_at, "
    "expires_at = excluded.expires_at, status = excluded.status, "
    "headers = excluded.headers, body = excluded.body "
    "WHERE idempotency_keys.expires_at <= ?"
)
_ANSWER = Sql(
    "UPDATE idempotency_keys SET status = ?, headers = ?, body = ? "
    "WHERE account_key = ? AND key = ? AND call_id = ? AND status IS NULL"
)
_PURGE = Sql("DELETE FROM idempotency_keys WHERE expires_at < ?")

_BUCKET = Sql("SELECT tokens, updated_at FROM rate_buckets WHERE account_key = ? FOR_UPDATE")
_NEW_BUCKET = Sql(
    "INSERT INTO rate_buckets (account_key, tokens, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (account_key) DO NOTHING"
)
_SET_BUCKET = Sql("UPDATE rate_buckets SET tokens = ?, updated_at = ? WHERE account_key = ?")


def _request_of(row: rows.Row) -> IdempotentRequest:
    account_key, key, fingerprint, call_id, created, expires, status, headers, body = row
    response = None
    if status is not None:
        pairs = orjson.loads(headers) if headers else []
        response = StoredResponse(int(status), tuple((k, v) for k, v in pairs), bytes(body))
    created_at, expires_at = rows.time_of(created), rows.time_of(expires)
    assert created_at is not None and expires_at is not None
    return IdempotentRequest(
        account_key, key, fingerprint, call_id, created_at, expires_at, response
    )


def _response_values(response: StoredResponse | None) -> list[object]:
    if response is None:
        return [None, None, None]
    return [response.status, orjson.dumps(response.headers).decode(), response.body]


class SqlIdempotencyKeys:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def get(self, account_key: str, key: str, now: datetime) -> IdempotentRequest | None:
        row = await self._tx.one(
            "read an idempotency key", _GET, (account_key, key, self._tx.d.time(now))
        )
        return _request_of(row) if row is not None else None

    async def reserve(self, request: IdempotentRequest, now: datetime) -> IdempotentRequest | None:
        d = self._tx.d
        values = [
            request.account_key,
            request.key,
            request.fingerprint,
            request.call_id,
            d.time(request.created_at),
            d.time(request.expires_at),
            *_response_values(request.response),
            d.time(now),
        ]
        if await self._tx.run("reserve an idempotency key", _RESERVE, values):
            return None
        return await self.get(request.account_key, request.key, now)

    async def answer(
        self, account_key: str, key: str, call_id: str, response: StoredResponse
    ) -> bool:
        values = [*_response_values(response), account_key, key, call_id]
        return bool(await self._tx.run("answer an idempotency key", _ANSWER, values))

    async def purge(self, before: datetime) -> int:
        return await self._tx.run("purge idempotency keys", _PURGE, (self._tx.d.time(before),))


class SqlRateBuckets:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def take(
        self, account_key: str, wanted: int, *, rate: float, burst: float, now: float
    ) -> tuple[int, float]:
        row = await self._tx.one("read a rate bucket", _BUCKET, (account_key,))
        if row is None:
            # Created full; of two processes creating it at once, one row wins and both
            # read it back (locked) below.
            await self._tx.run("create a rate bucket", _NEW_BUCKET, (account_key, burst, now))
            row = await self._tx.one("read a rate bucket", _BUCKET, (account_key,))
            assert row is not None
        tokens, updated_at = float(row[0]), float(row[1])
        level = refilled(tokens, updated_at, now, rate=rate, burst=burst)
        got = taken(level, wanted)
        await self._tx.run(
            "spend rate tokens",
            _SET_BUCKET,
            (level - got, max(now, updated_at), account_key),
        )
        return got, level - got
