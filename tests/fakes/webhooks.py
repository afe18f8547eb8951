"""Webhook subscriptions in memory, with the SQL repository's semantics (leases fenced the
same way), for the contract suite and service tests."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from switchboard.domain.errors import UnknownEntity
from switchboard.domain.events import LoggedEvent
from switchboard.domain.webhooks import Delivery, Subscription
from tests.fakes.repositories import FakeSession, at_utc


@dataclass
class FakeWebhook:
    subscription: Subscription
    lease_owner: str | None = None
    lease_until: datetime | None = None


@dataclass
class FakeRedelivery:
    position: int
    attempts: int
    retry_at: datetime


class FakeWebhookRepository:
    def __init__(self, session: FakeSession) -> None:
        self._session = session

    def _free_for(self, row: FakeWebhook, node_id: str, now: datetime) -> bool:
        return (
            row.lease_owner is None
            or row.lease_owner == node_id
            or (row.lease_until is not None and row.lease_until < now)
        )

    def _held(self, subscription_id: str, node_id: str, operation: str) -> FakeWebhook | None:
        row = self._session.writing(operation).webhooks.get(subscription_id)
        return row if row is not None and row.lease_owner == node_id else None

    async def add(self, subscription: Subscription) -> None:
        data = self._session.writing("add a webhook")
        if subscription.account_key not in data.accounts:
            raise UnknownEntity(f"add a webhook: unknown account {subscription.account_key}")
        data.webhooks[subscription.id] = FakeWebhook(subscription)

    async def get(self, account_key: str, subscription_id: str) -> Subscription | None:
        row = self._session.data.webhooks.get(subscription_id)
        if row is None or row.subscription.account_key != account_key:
            return None
        return replace(row.subscription, attempts=0, retry_at=None)

    async def list(self, account_key: str) -> builtins.list[Subscription]:
        rows = [
            replace(r.subscription, attempts=0, retry_at=None)
            for r in self._session.data.webhooks.values()
            if r.subscription.account_key == account_key
        ]
        return sorted(rows, key=lambda s: (s.created_at, s.id))

    async def remove(self, account_key: str, subscription_id: str) -> bool:
        data = self._session.writing("remove a webhook")
        row = data.webhooks.get(subscription_id)
        if row is None or row.subscription.account_key != account_key:
            return False
        del data.webhooks[subscription_id]
        data.webhook_deliveries = [
            d for d in data.webhook_deliveries if d.subscription_id != subscription_id
        ]
        for key in [k for k in data.webhook_redeliveries if k[0] == subscription_id]:
            del data.webhook_redeliveries[key]
        return True

    async def claimable(self, now: datetime, node_id: str, limit: int) -> builtins.list[str]:
        now = at_utc(now)
        data = self._session.data
        found = []
        for sub_id, row in sorted(data.webhooks.items()):
            if not self._free_for(row, node_id, now):
                continue
            s = row.subscription
            pending = (s.retry_at is None or s.retry_at <= now) and any(
                e.position > s.cursor for e in data.events.get(s.account_key, [])
            )
            due = any(
                k[0] == sub_id and r.retry_at <= now for k, r in data.webhook_redeliveries.items()
            )
            if pending or due:
                found.append(sub_id)
        return found[:limit]

    async def claim(
        self, subscription_id: str, node_id: str, now: datetime, lease_until: datetime
    ) -> Subscription | None:
        row = self._session.writing("claim a webhook").webhooks.get(subscription_id)
        if row is None or not self._free_for(row, node_id, at_utc(now)):
            return None
        row.lease_owner, row.lease_until = node_id, at_utc(lease_until)
        return row.subscription

    async def advance(
        self, subscription_id: str, node_id: str, cursor: int, lease_until: datetime
    ) -> bool:
        row = self._held(subscription_id, node_id, "advance a webhook")
        if row is None:
            return False
        row.subscription = replace(row.subscription, cursor=cursor, attempts=0, retry_at=None)
        row.lease_until = at_utc(lease_until)
        return True

    async def retry_later(
        self, subscription_id: str, node_id: str, attempts: int, retry_at: datetime
    ) -> bool:
        row = self._held(subscription_id, node_id, "delay a webhook")
        if row is None:
            return False
        row.subscription = replace(row.subscription, attempts=attempts, retry_at=at_utc(retry_at))
        return True

    async def release(self, subscription_id: str, node_id: str) -> None:
        row = self._held(subscription_id, node_id, "release a webhook")
        if row is not None:
            row.lease_owner = row.lease_until = None

    async def record_all(self, deliveries: Sequence[Delivery]) -> None:
        data = self._session.writing("log deliveries")
        for d in deliveries:
            if any(
                (o.subscription_id, o.event_id, o.attempt)
                == (d.subscription_id, d.event_id, d.attempt)
                for o in data.webhook_deliveries
            ):
                raise UnknownEntity("log deliveries: that attempt is logged already")
            data.webhook_deliveries.append(d)

    async def deliveries(self, subscription_id: str, limit: int) -> builtins.list[Delivery]:
        found = [
            d for d in self._session.data.webhook_deliveries if d.subscription_id == subscription_id
        ]
        found.sort(key=lambda d: (d.started_at, d.position, d.attempt), reverse=True)
        return found[:limit]

    async def last_attempt(self, subscription_id: str, event_id: str) -> int:
        return max(
            (
                d.attempt
                for d in self._session.data.webhook_deliveries
                if (d.subscription_id, d.event_id) == (subscription_id, event_id)
            ),
            default=0,
        )

    async def event_at(self, account_key: str, position: int) -> LoggedEvent | None:
        for logged in self._session.data.events.get(account_key, []):
            if logged.position == position:
                return logged
        return None

    async def find_event(
        self, account_key: str, subscription_id: str, event_id: str
    ) -> LoggedEvent | None:
        for logged in self._session.data.events.get(account_key, []):
            if logged.event.id == event_id:
                return logged
        return None

    async def queue_redelivery(
        self, subscription_id: str, event_id: str, position: int, now: datetime
    ) -> None:
        data = self._session.writing("queue a redelivery")
        data.webhook_redeliveries[(subscription_id, event_id)] = FakeRedelivery(
            position, 0, at_utc(now)
        )

    async def due_redeliveries(
        self, subscription_id: str, now: datetime, limit: int
    ) -> builtins.list[tuple[str, int, int]]:
        due = [
            (k[1], r.position, r.attempts)
            for k, r in self._session.data.webhook_redeliveries.items()
            if k[0] == subscription_id and r.retry_at <= at_utc(now)
        ]
        return sorted(due, key=lambda d: d[1])[:limit]

    async def redelivery_failed(
        self, subscription_id: str, event_id: str, attempts: int, retry_at: datetime
    ) -> None:
        data = self._session.writing("delay a redelivery")
        found = data.webhook_redeliveries.get((subscription_id, event_id))
        if found is not None:
            found.attempts, found.retry_at = attempts, at_utc(retry_at)

    async def redelivery_done(self, subscription_id: str, event_id: str) -> None:
        data = self._session.writing("end a redelivery")
        data.webhook_redeliveries.pop((subscription_id, event_id), None)

    async def purge_deliveries(self, before: datetime) -> int:
        data = self._session.writing("purge deliveries")
        kept = [d for d in data.webhook_deliveries if d.started_at >= at_utc(before)]
        gone = len(data.webhook_deliveries) - len(kept)
        data.webhook_deliveries = kept
        return gone
