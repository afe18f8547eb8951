"""Use-cases on webhook subscriptions, shared by ``/api/v1`` and the CLI: add, list, remove,
the delivery log, redeliver. Delivery itself is ``service.webhook_delivery``.

A new subscription starts after the account's latest event: it receives what happens from
now on, not the past (the replayable log is there for that).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from switchboard.domain.errors import InvalidParameter, NotFound, UnknownEntity
from switchboard.domain.webhooks import (
    Delivery,
    Subscription,
    check_event_types,
    check_secret,
    check_url,
    new_secret,
)
from switchboard.service.context import Context
from switchboard.service.ids import normalise_guid
from switchboard.service.ports import UnitOfWork

DEFAULT_DELIVERIES = 100
MAX_DELIVERIES = 1000
GENERATED_KEY_BYTES = 32


@dataclass(frozen=True)
class Added:
    subscription: Subscription
    # The key Switchboard made, when none was given (shown once, to be given to the receiver).
    generated_secret: str | None


async def _account(uow: UnitOfWork, account_key: str) -> None:
    if await uow.accounts.get(account_key) is None:
        raise UnknownEntity(f"unknown account {account_key!r}")


def _subscription_id(text: str) -> str:
    found = normalise_guid(text)
    if found is None:
        raise NotFound()
    return found


async def add_subscription(
    ctx: Context,
    account_key: str,
    url: str,
    event_types: Sequence[str] = (),
    secret: str | None = None,
) -> Added:
    url = check_url(url)
    types = check_event_types(list(event_types))
    generated = None
    if secret is None:
        generated = secret = new_secret(os.urandom(GENERATED_KEY_BYTES))
    else:
        secret = check_secret(secret)
    now = ctx.clock.now()
    async with ctx.transaction() as uow:
        await _account(uow, account_key)
        subscription = Subscription(
            id=str(uuid.uuid4()),
            account_key=account_key,
            url=url,
            event_types=types,
            secret=secret,
            created_at=now,
            updated_at=now,
            cursor=await uow.outbox.last_position(account_key),
        )
        await uow.webhooks.add(subscription)
        await uow.commit()
    return Added(subscription, generated)


async def list_subscriptions(ctx: Context, account_key: str) -> list[Subscription]:
    async with ctx.transaction(write=False) as uow:
        found = await uow.webhooks.list(account_key)
        if not found:
            await _account(uow, account_key)
        return found


async def get_subscription(ctx: Context, account_key: str, subscription_id: str) -> Subscription:
    async with ctx.transaction(write=False) as uow:
        found = await uow.webhooks.get(account_key, _subscription_id(subscription_id))
    if found is None:
        raise NotFound()
    return found


async def remove_subscription(ctx: Context, account_key: str, subscription_id: str) -> None:
    async with ctx.transaction() as uow:
        if not await uow.webhooks.remove(account_key, _subscription_id(subscription_id)):
            raise NotFound()
        await uow.commit()


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_DELIVERIES
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text[:5]) <= MAX_DELIVERIES:
        raise InvalidParameter(f"limit: expected a whole number from 1 to {MAX_DELIVERIES}")
    return int(text)


async def deliveries(
    ctx: Context, account_key: str, subscription_id: str, limit: int = DEFAULT_DELIVERIES
) -> list[Delivery]:
    """The subscription's delivery log, newest first."""
    async with ctx.transaction(write=False) as uow:
        found = await uow.webhooks.get(account_key, _subscription_id(subscription_id))
        if found is None:
            raise NotFound()
        return await uow.webhooks.deliveries(found.id, limit)


async def redeliver(ctx: Context, account_key: str, subscription_id: str, event_id: str) -> None:
    """Send the event to the subscription again (once more, with retries), whatever became of
    it before: delivered, dead, or filtered out. Out of the subscription's order: it is an
    operator's repair. ``NotFound`` for an event the account does not have (any more)."""
    event_guid = normalise_guid(event_id)
    if event_guid is None:
        raise NotFound("event: not an event id")
    async with ctx.transaction() as uow:
        subscription = await uow.webhooks.get(account_key, _subscription_id(subscription_id))
        if subscription is None:
            raise NotFound()
        event = await uow.webhooks.find_event(account_key, subscription.id, event_guid)
        if event is None:
            raise NotFound("event: the account has no such event (or it is past retention)")
        await uow.webhooks.queue_redelivery(
            subscription.id, event.event.id, event.position, ctx.clock.now()
        )
        await uow.commit()
    ctx.hub.notify(())
