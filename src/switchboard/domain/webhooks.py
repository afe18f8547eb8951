"""Webhook subscriptions and their deliveries: plain values and the rules on them.

A subscription belongs to an account: a URL (http or https), the event types it wants (none:
all of them) and a signing key, given and kept in Base64 (as VCC gives its webhook keys); the
receiver verifies with the decoded bytes. Its ``cursor`` is the position (in the account's
event log) of the last event it is done with: delivered, skipped by its filter, or
dead-lettered. Deliveries keep the subscription's order: the event after the cursor blocks
the later ones until it is delivered or dead (docs/events.md, "Webhooks").
"""

from __future__ import annotations

import base64
import binascii
import enum
import random
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from switchboard.domain.errors import InvalidParameter
from switchboard.domain.events import EVENT_TYPES

MAX_URL_LENGTH = 2048
MIN_KEY_BYTES = 16
MAX_KEY_BYTES = 512


class DeliveryStatus(enum.Enum):
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # an attempt failed; another follows after a backoff
    DEAD = "dead"  # the last attempt failed: given up (redeliver sends it again)


@dataclass(frozen=True)
class Subscription:
    id: str
    account_key: str
    url: str
    event_types: tuple[str, ...]  # empty: every type
    secret: str  # Base64, as given
    created_at: datetime
    updated_at: datetime
    cursor: int = 0
    # The retry state of the event after the cursor.
    attempts: int = 0
    retry_at: datetime | None = None

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    @property
    def key_bytes(self) -> bytes:
        return base64.b64decode(self.secret)


@dataclass(frozen=True)
class Delivery:
    """One attempt at one event, as the delivery log shows it."""

    subscription_id: str
    event_id: str
    position: int
    attempt: int
    status: DeliveryStatus
    response_code: int | None
    error: str | None
    started_at: datetime
    finished_at: datetime
    # A redelivery asked for by the operator, outside the subscription's order.
    redelivery: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_s: float = 1.0
    max_s: float = 300.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds before attempt ``attempt + 1``: doubling from ``base_s`` up to ``max_s``,
        of which a random half is jitter ("equal jitter"), so that the subscriptions of a
        receiver that comes back do not all retry at once, and none retries at once."""
        ceiling = min(self.max_s, self.base_s * float(2 ** max(0, attempt - 1)))
        draw: float = (rng or random).random()
        return ceiling / 2 + draw * ceiling / 2


def check_url(url: str) -> str:
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise InvalidParameter(
            f"url: expected an http or https URL of 1 to {MAX_URL_LENGTH} characters"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError as exc:
        raise InvalidParameter(f"url: not a valid URL ({exc})") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidParameter("url: only http and https URLs can receive webhooks")
    if not parts.hostname:
        raise InvalidParameter("url: the URL has no host")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidParameter("url: the URL contains spaces or control characters")
    return url


def check_secret(secret: str) -> str:
    """The signing key in Base64 (standard alphabet, padded), decoding to 16 to 512 bytes."""
    text = secret.strip()
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise InvalidParameter("secret: expected the signing key in Base64") from exc
    if not MIN_KEY_BYTES <= len(raw) <= MAX_KEY_BYTES:
        raise InvalidParameter(
            f"secret: the key must decode to {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes "
            f"(this one is {len(raw)})"
        )
    return text


def check_event_types(types: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Types as the payloads name them (``com.switchboard.call.ended``) or short
    (``call.ended``); stored short, in order, once each."""
    chosen: list[str] = []
    for given in types:
        name = given.strip().removeprefix("com.switchboard.")
        if not name:
            continue
        if name not in EVENT_TYPES:
            known = ", ".join(sorted(EVENT_TYPES))
            raise InvalidParameter(f"events: unknown event type {given!r} (known: {known})")
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


def new_secret(random_bytes: bytes) -> str:
    return base64.b64encode(random_bytes).decode("ascii")
