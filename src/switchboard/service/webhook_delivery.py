"""Webhook delivery from the outbox: at least once, in each subscription's order, off the
call-handling path.

Each process runs one ``WebhookDispatcher``. It finds subscriptions with something to send
(``WebhookRepository.claimable``: an event after the cursor, or a redelivery due), takes each
one's lease (so two nodes on one database do not both deliver it) and works on it in a task
of its own, at most ``concurrency`` at once. A task sends the events after the cursor one by
one; a receiver's 2xx advances the cursor in the same transaction that logs the attempt, so a
crash between the two sends the event again (at least once, never lost). A failure (an error,
a timeout, anything but 2xx) is logged and retried after an exponential backoff with jitter;
after ``max_attempts`` the event is dead-lettered (logged ``dead``) and the cursor moves on.

Order: the subscription's, i.e. the account's commit order, which keeps every call's order.
An event waiting for a retry holds the subscription's later events back (other calls' too):
one simple rule a receiver can count on, at the price of head-of-line blocking while a
receiver fails (docs/decisions.md).

Woken by this process's commits (``EventHub.listeners``) and polling every ``poll_s`` for
other processes' commits and for retries that fall due. Call handling never waits for any of
this: placements only commit their events.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from datetime import datetime, timedelta

import orjson

from switchboard.domain.errors import SwitchboardError
from switchboard.domain.events import LoggedEvent
from switchboard.domain.webhooks import Delivery, DeliveryStatus, RetryPolicy, Subscription
from switchboard.service.cloudevents import cloud_event
from switchboard.service.context import Context
from switchboard.service.ports import SendResult, WebhookSender

log = logging.getLogger(__name__)

PURGE_EVERY_S = 60.0
PACE_S = 0.02


def body_of(event: LoggedEvent) -> bytes:
    """The exact bytes sent, and hashed into the signature."""
    return orjson.dumps(cloud_event(event.event))


class WebhookDispatcher:
    def __init__(
        self,
        ctx: Context,
        sender: WebhookSender,
        policy: RetryPolicy,
        *,
        lease_s: float = 30.0,
        poll_s: float = 1.0,
        concurrency: int = 16,
        batch: int = 100,
        flush_every: int = 50,
        flush_s: float = 0.1,
    ) -> None:
        self.ctx = ctx
        self.sender = sender
        self.policy = policy
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.concurrency = concurrency
        self.batch = batch
        self.flush_every = flush_every
        self.flush_s = flush_s
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[int]] = {}
        # Subscriptions woken while their task ran: it looks again before it ends.
        self._again: set[str] = set()

    def wake(self) -> None:
        self._again.update(self._running)
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled."""
        self.ctx.hub.listeners.append(self.wake)
        loop = asyncio.get_running_loop()
        purged = loop.time()
        try:
            while True:
                self._wake.clear()
                try:
                    await self.start_due()
                    if loop.time() - purged > PURGE_EVERY_S:
                        purged = loop.time()
                        await self.purge()
                except SwitchboardError as exc:
                    log.warning("webhook delivery: %s", exc)
                # At most one look per ``PACE_S`` however many commits wake it: under load a
                # commit comes every millisecond, and each look is a query.
                await asyncio.sleep(PACE_S)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
        finally:
            self.ctx.hub.listeners.remove(self.wake)
            tasks = list(self._running.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def start_due(self) -> None:
        """Start a task for every subscription with something to send, up to the bound."""
        free = self.concurrency - len(self._running)
        if free <= 0:
            return
        async with self.ctx.transaction(write=False) as uow:
            found = await uow.webhooks.claimable(
                self.ctx.clock.now(), self.ctx.node_id, self.concurrency * 2
            )
        for subscription_id in found:
            if subscription_id in self._running:
                continue
            if len(self._running) >= self.concurrency:
                break
            task = asyncio.create_task(self._work(subscription_id))
            self._running[subscription_id] = task
            task.add_done_callback(functools.partial(self._done, subscription_id))

    def _done(self, subscription_id: str, _task: asyncio.Task[int]) -> None:
        task = self._running.pop(subscription_id, None)
        if task is not None and not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery failed", exc_info=task.exception())
        # What it may have left (a redelivery, a retry now due) is found by the next pass.
        self._wake.set()

    async def pass_once(self) -> int:
        """Work on every subscription with something to send, one after the other, and
        return how many requests were sent (tests drive delivery with this)."""
        async with self.ctx.transaction(write=False) as uow:
            found = await uow.webhooks.claimable(self.ctx.clock.now(), self.ctx.node_id, 1000)
        sent = 0
        for subscription_id in found:
            sent += await self._work(subscription_id)
        return sent

    async def purge(self) -> int:
        before = self.ctx.clock.now() - timedelta(seconds=self.ctx.event_retention_s)
        async with self.ctx.transaction() as uow:
            count = await uow.webhooks.purge_deliveries(before)
            await uow.commit()
        return count

    async def _claim(self, subscription_id: str) -> Subscription | None:
        now = self.ctx.clock.now()
        async with self.ctx.transaction() as uow:
            found = await uow.webhooks.claim(
                subscription_id, self.ctx.node_id, now, now + timedelta(seconds=self.lease_s)
            )
            await uow.commit()
        return found

    async def _work(self, subscription_id: str) -> int:
        sent = 0
        try:
            while True:
                self._again.discard(subscription_id)
                subscription = await self._claim(subscription_id)
                if subscription is None:
                    return sent  # another node's, or removed
                count, more = await self._deliver(subscription)
                sent += count
                if not more and subscription_id not in self._again:
                    break
            async with self.ctx.transaction() as uow:
                await uow.webhooks.release(subscription_id, self.ctx.node_id)
                await uow.commit()
        except SwitchboardError as exc:
            log.warning("webhook %s: %s", subscription_id, exc)
        return sent

    async def _attempt(self, subscription: Subscription, event: LoggedEvent) -> SendResult:
        return await self.sender.send(subscription.url, body_of(event), subscription.key_bytes)

    async def _deliver(self, subscription: Subscription) -> tuple[int, bool]:
        """Redeliveries due, then the events after the cursor until one fails. Returns the
        requests sent and whether there may be more to do now.

        Successes are written in groups (``flush_every`` of them, or ``flush_s``, whichever
        comes first: one transaction for the cursor and their log rows), so a receiver that
        answers fast is not held to one commit per event; a crash before a group's commit
        sends its events again, as at-least-once allows."""
        sent = await self._redeliver(subscription)
        now = self.ctx.clock.now()
        if subscription.retry_at is not None and subscription.retry_at > now:
            return sent, False
        async with self.ctx.transaction(write=False) as uow:
            pending = await uow.outbox.after(
                subscription.account_key, subscription.cursor, self.batch
            )
        cursor, attempts = subscription.cursor, subscription.attempts
        stored = cursor
        done: list[Delivery] = []
        loop = asyncio.get_running_loop()
        flushed_at = loop.time()
        for logged in pending:
            if not subscription.wants(logged.event.type):
                cursor = logged.position
                continue
            started = self.ctx.clock.now()
            result = await self._attempt(subscription, logged)
            # Crash tests: the receiver has it, the cursor does not say so yet.
            self.ctx.faults.reach("webhook.sent")
            sent += 1
            attempts += 1
            finished = self.ctx.clock.now()
            status = DeliveryStatus.DELIVERED
            if not result.ok:
                dead = attempts >= self.policy.max_attempts
                status = DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED
            delivery = Delivery(
                subscription.id,
                logged.event.id,
                logged.position,
                attempts,
                status,
                result.status,
                result.error or (None if result.ok else f"HTTP {result.status}"),
                started,
                finished,
            )
            done.append(delivery)
            if status is DeliveryStatus.FAILED:
                retry_at = finished + timedelta(seconds=self.policy.backoff(attempts))
                await self._flush(subscription, cursor, done, (attempts, retry_at))
                return sent, False
            cursor = logged.position
            attempts = 0
            if status is DeliveryStatus.DEAD:
                log.warning(
                    "webhook %s: event %s dead after %d attempts (%s)",
                    subscription.id,
                    logged.event.id,
                    delivery.attempt,
                    delivery.error,
                )
            if len(done) >= self.flush_every or loop.time() - flushed_at >= self.flush_s:
                if not await self._flush(subscription, cursor, done):
                    return sent, False  # the lease went elsewhere
                stored, done, flushed_at = cursor, [], loop.time()
        if (done or cursor != stored) and not await self._flush(subscription, cursor, done):
            return sent, False
        return sent, len(pending) == self.batch

    async def _flush(
        self,
        subscription: Subscription,
        cursor: int,
        done: list[Delivery],
        retry: tuple[int, datetime] | None = None,
    ) -> bool:
        """The cursor, the log rows and (after a failure) the retry state, in one transaction
        fenced by the lease; false (and nothing written) when the lease is no longer ours."""
        node = self.ctx.node_id
        lease_until = self.ctx.clock.now() + timedelta(seconds=self.lease_s)
        async with self.ctx.transaction() as uow:
            kept = await uow.webhooks.advance(subscription.id, node, cursor, lease_until)
            if kept and retry is not None:
                kept = await uow.webhooks.retry_later(subscription.id, node, *retry)
            if not kept:
                return False
            await uow.webhooks.record_all(done)
            await uow.commit()
        return True

    async def _redeliver(self, subscription: Subscription) -> int:
        now = self.ctx.clock.now()
        async with self.ctx.transaction(write=False) as uow:
            due = await uow.webhooks.due_redeliveries(subscription.id, now, self.batch)
        sent = 0
        for event_id, position, attempts in due:
            async with self.ctx.transaction(write=False) as uow:
                event = await uow.webhooks.event_at(subscription.account_key, position)
                attempt = await uow.webhooks.last_attempt(subscription.id, event_id)
            if event is None:  # past retention since it was asked for
                async with self.ctx.transaction() as uow:
                    await uow.webhooks.redelivery_done(subscription.id, event_id)
                    await uow.commit()
                continue
            started = self.ctx.clock.now()
            result = await self._attempt(subscription, event)
            sent += 1
            attempts += 1
            finished = self.ctx.clock.now()
            dead = not result.ok and attempts >= self.policy.max_attempts
            status = (
                DeliveryStatus.DELIVERED
                if result.ok
                else DeliveryStatus.DEAD
                if dead
                else DeliveryStatus.FAILED
            )
            async with self.ctx.transaction() as uow:
                if result.ok or dead:
                    await uow.webhooks.redelivery_done(subscription.id, event_id)
                else:
                    retry_at = finished + timedelta(seconds=self.policy.backoff(attempts))
                    await uow.webhooks.redelivery_failed(
                        subscription.id, event_id, attempts, retry_at
                    )
                await uow.webhooks.record_all(
                    [
                        Delivery(
                            subscription.id,
                            event_id,
                            position,
                            attempt + 1,
                            status,
                            result.status,
                            result.error or (None if result.ok else f"HTTP {result.status}"),
                            started,
                            finished,
                            redelivery=True,
                        )
                    ]
                )
                await uow.commit()
        return sent
