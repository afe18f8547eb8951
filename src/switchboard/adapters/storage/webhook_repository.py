"""Webhook subscriptions, their cursors and leases, the delivery log (``WebhookRepository``).

A lease is a row's ``lease_owner``/``lease_until``: taken with a conditional ``UPDATE`` (free,
expired or already ours), so that of two nodes one wins; every delivery write names the owner,
so a node that lost its lease (paused past it, taken over) changes nothing.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime

import orjson

from switchboard.adapters.storage import rows
from switchboard.adapters.storage.database import Sql
from switchboard.adapters.storage.event_log import logged_row
from switchboard.adapters.storage.transaction import Transaction
from switchboard.domain.events import LoggedEvent
from switchboard.domain.webhooks import Delivery, DeliveryStatus, Subscription

_COLUMNS = "id, account_key, url, event_types, secret, created_at, updated_at, cursor"
_INSERT = Sql(f"INSERT INTO webhooks ({_COLUMNS}, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)")
_GET = Sql(f"SELECT {_COLUMNS} FROM webhooks WHERE account_key = ? AND id = ?")
_LIST = Sql(f"SELECT {_COLUMNS} FROM webhooks WHERE account_key = ? ORDER BY created_at, id")
_REMOVE = Sql("DELETE FROM webhooks WHERE account_key = ? AND id = ?")
# Something to send: an event after the cursor (the events' primary key answers it), not
# waiting for a retry, or a redelivery due.
_CLAIMABLE = Sql(
    "SELECT w.id FROM webhooks w WHERE "
    "(w.lease_owner IS NULL OR w.lease_owner = ? OR w.lease_until < ?) AND ("
    " ((w.retry_at IS NULL OR w.retry_at <= ?) AND EXISTS (SELECT 1 FROM events e"
    "   WHERE e.account_key = w.account_key AND e.position > w.cursor))"
    " OR EXISTS (SELECT 1 FROM webhook_redeliveries r"
    "   WHERE r.subscription_id = w.id AND r.retry_at <= ?)"
    ") ORDER BY w.id LIMIT ?"
)
_CLAIM = Sql(
    "UPDATE webhooks SET lease_owner = ?, lease_until = ? WHERE id = ? AND "
    "(lease_owner IS NULL OR lease_owner = ? OR lease_until < ?) "
    f"RETURNING {_COLUMNS}, attempts, retry_at"
)
_ADVANCE = Sql(
    "UPDATE webhooks SET cursor = ?, attempts = 0, retry_at = NULL, lease_until = ? "
    "WHERE id = ? AND lease_owner = ?"
)
_RETRY_LATER = Sql(
    "UPDATE webhooks SET attempts = ?, retry_at = ? WHERE id = ? AND lease_owner = ?"
)
_RELEASE = Sql(
    "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?"
)
_DELIVERY_COLUMNS = (
    "subscription_id, event_id, position, attempt, status, response_code, error, "
    "started_at, finished_at, redelivery"
)
_RECORD = Sql(
    f"INSERT INTO webhook_deliveries ({_DELIVERY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_DELIVERIES = Sql(
    f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE subscription_id = ? "
    "ORDER BY started_at DESC, position DESC, attempt DESC LIMIT ?"
)
_LAST_ATTEMPT = Sql(
    "SELECT MAX(attempt) FROM webhook_deliveries WHERE subscription_id = ? AND event_id = ?"
)
_EVENT_COLUMNS = "account_key, position, id, type, call_id, sequence, occurred_at, data"
_EVENT_AT = Sql(f"SELECT {_EVENT_COLUMNS} FROM events WHERE position = ? AND account_key = ?")
# Events have no index by id (the outbox keeps three B-trees an event): an event this
# subscription was sent is found by its position in the delivery log; only one it never was
# (filtered out) is looked for through the account's events.
_LOGGED_POSITION = Sql(
    "SELECT position FROM webhook_deliveries WHERE subscription_id = ? AND event_id = ? LIMIT 1"
)
_EVENT_BY_ID = Sql(f"SELECT {_EVENT_COLUMNS} FROM events WHERE account_key = ? AND id = ?")
_QUEUE = Sql(
    "INSERT INTO webhook_redeliveries (subscription_id, event_id, position, attempts, retry_at) "
    "VALUES (?, ?, ?, 0, ?) ON CONFLICT (subscription_id, event_id) "
    "DO UPDATE SET attempts = 0, retry_at = excluded.retry_at"
)
_DUE = Sql(
    "SELECT event_id, position, attempts FROM webhook_redeliveries "
    "WHERE subscription_id = ? AND retry_at <= ? ORDER BY position LIMIT ?"
)
_REDELIVERY_FAILED = Sql(
    "UPDATE webhook_redeliveries SET attempts = ?, retry_at = ? "
    "WHERE subscription_id = ? AND event_id = ?"
)
_REDELIVERY_DONE = Sql(
    "DELETE FROM webhook_redeliveries WHERE subscription_id = ? AND event_id = ?"
)
_PURGE = Sql("DELETE FROM webhook_deliveries WHERE started_at < ?")


def _subscription(row: rows.Row) -> Subscription:
    sub_id, account_key, url, types, secret, created_at, updated_at, cursor = row[:8]
    created, updated = rows.time_of(created_at), rows.time_of(updated_at)
    assert created is not None and updated is not None
    return Subscription(
        id=sub_id,
        account_key=account_key,
        url=url,
        event_types=tuple(orjson.loads(types)),
        secret=secret,
        created_at=created,
        updated_at=updated,
        cursor=int(cursor),
        attempts=int(row[8]) if len(row) > 8 else 0,
        retry_at=rows.time_of(row[9]) if len(row) > 9 else None,
    )


def _delivery(row: rows.Row) -> Delivery:
    sub_id, event_id, position, attempt, status, code, error, started, finished, again = row
    started_at, finished_at = rows.time_of(started), rows.time_of(finished)
    assert started_at is not None and finished_at is not None
    return Delivery(
        subscription_id=sub_id,
        event_id=event_id,
        position=int(position),
        attempt=int(attempt),
        status=DeliveryStatus(status),
        response_code=code,
        error=error,
        started_at=started_at,
        finished_at=finished_at,
        redelivery=bool(again),
    )


class SqlWebhookRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def add(self, subscription: Subscription) -> None:
        s, time = subscription, self._tx.d.time
        values = (
            s.id,
            s.account_key,
            s.url,
            orjson.dumps(list(s.event_types)).decode(),
            s.secret,
            time(s.created_at),
            time(s.updated_at),
            s.cursor,
        )
        await self._tx.run("add a webhook", _INSERT, values)

    async def get(self, account_key: str, subscription_id: str) -> Subscription | None:
        row = await self._tx.one("read a webhook", _GET, (account_key, subscription_id))
        return None if row is None else _subscription(row)

    async def list(self, account_key: str) -> builtins.list[Subscription]:
        return [
            _subscription(r) for r in await self._tx.all("list webhooks", _LIST, (account_key,))
        ]

    async def remove(self, account_key: str, subscription_id: str) -> bool:
        return await self._tx.run("remove a webhook", _REMOVE, (account_key, subscription_id)) > 0

    async def claimable(self, now: datetime, node_id: str, limit: int) -> builtins.list[str]:
        t = self._tx.d.time(now)
        found = await self._tx.all("find webhooks to send", _CLAIMABLE, (node_id, t, t, t, limit))
        return [row[0] for row in found]

    async def claim(
        self, subscription_id: str, node_id: str, now: datetime, lease_until: datetime
    ) -> Subscription | None:
        time = self._tx.d.time
        values = (node_id, time(lease_until), subscription_id, node_id, time(now))
        row = await self._tx.run_returning("claim a webhook", _CLAIM, values)
        return None if row is None else _subscription(row)

    async def advance(
        self, subscription_id: str, node_id: str, cursor: int, lease_until: datetime
    ) -> bool:
        values = (cursor, self._tx.d.time(lease_until), subscription_id, node_id)
        return await self._tx.run("advance a webhook", _ADVANCE, values) > 0

    async def retry_later(
        self, subscription_id: str, node_id: str, attempts: int, retry_at: datetime
    ) -> bool:
        values = (attempts, self._tx.d.time(retry_at), subscription_id, node_id)
        return await self._tx.run("delay a webhook", _RETRY_LATER, values) > 0

    async def release(self, subscription_id: str, node_id: str) -> None:
        await self._tx.run("release a webhook", _RELEASE, (subscription_id, node_id))

    async def record_all(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        time, flag = self._tx.d.time, self._tx.d.flag
        values = [
            (
                d.subscription_id,
                d.event_id,
                d.position,
                d.attempt,
                d.status.value,
                d.response_code,
                d.error,
                time(d.started_at),
                time(d.finished_at),
                flag(d.redelivery),
            )
            for d in deliveries
        ]
        await self._tx.run_many("log deliveries", _RECORD, values)

    async def deliveries(self, subscription_id: str, limit: int) -> builtins.list[Delivery]:
        found = await self._tx.all("read deliveries", _DELIVERIES, (subscription_id, limit))
        return [_delivery(row) for row in found]

    async def last_attempt(self, subscription_id: str, event_id: str) -> int:
        row = await self._tx.one("read attempts", _LAST_ATTEMPT, (subscription_id, event_id))
        return int(row[0]) if row is not None and row[0] is not None else 0

    async def event_at(self, account_key: str, position: int) -> LoggedEvent | None:
        row = await self._tx.one("read an event", _EVENT_AT, (position, account_key))
        return None if row is None else logged_row(row)

    async def find_event(
        self, account_key: str, subscription_id: str, event_id: str
    ) -> LoggedEvent | None:
        row = await self._tx.one("find an event", _LOGGED_POSITION, (subscription_id, event_id))
        if row is not None:
            found = await self.event_at(account_key, int(row[0]))
            if found is not None and found.event.id == event_id:
                return found
        row = await self._tx.one("find an event", _EVENT_BY_ID, (account_key, event_id))
        return None if row is None else logged_row(row)

    async def queue_redelivery(
        self, subscription_id: str, event_id: str, position: int, now: datetime
    ) -> None:
        values = (subscription_id, event_id, position, self._tx.d.time(now))
        await self._tx.run("queue a redelivery", _QUEUE, values)

    async def due_redeliveries(
        self, subscription_id: str, now: datetime, limit: int
    ) -> builtins.list[tuple[str, int, int]]:
        values = (subscription_id, self._tx.d.time(now), limit)
        found = await self._tx.all("read redeliveries", _DUE, values)
        return [(row[0], int(row[1]), int(row[2])) for row in found]

    async def redelivery_failed(
        self, subscription_id: str, event_id: str, attempts: int, retry_at: datetime
    ) -> None:
        values = (attempts, self._tx.d.time(retry_at), subscription_id, event_id)
        await self._tx.run("delay a redelivery", _REDELIVERY_FAILED, values)

    async def redelivery_done(self, subscription_id: str, event_id: str) -> None:
        await self._tx.run("end a redelivery", _REDELIVERY_DONE, (subscription_id, event_id))

    async def purge_deliveries(self, before: datetime) -> int:
        return await self._tx.run("purge deliveries", _PURGE, (self._tx.d.time(before),))
