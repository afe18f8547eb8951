"""The Interaction Content API's search query: its rules and texts in the spec's order
(``interaction-content.md`` §3.1) and its continuation tokens (§4). No I/O.

A continuation token is URL-safe base64 (no padding) of the last item's key (its ``start`` in
whole seconds and its GUID) and a hash of the query it belongs to, so it never expires,
survives restarts, works on any process, and refuses to continue another query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from switchboard.domain.errors import ContentBadRequest

MAX_SPAN = timedelta(days=7)
MAX_LIMIT = 1000
FILTERS = ("handlingAgentId", "connectFrom", "connectTo", "direction")

# ISO 8601 extended calendar form (RFC 3339 included): a date, optionally a time with optional
# seconds, fraction and offset. A space stands for the offset's "+" that a form decoder read
# as one.
_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(?:([Zz])|([+\- ])(\d{2})(?::?(\d{2}))?)?)?"
)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,400}")


class Messages:
    REQUIRED = "Parameters 'start' and 'end' are required."
    ORDER = "Parameter 'end' must not be earlier than 'start'."
    SPAN = "The date range between 'start' and 'end' must not exceed 7 days."
    LIMIT = "Parameter 'limit' must be an integer between 1 and 1000."
    TOKEN = "Parameter 'continuationToken' is invalid."

    @staticmethod
    def date(name: str) -> str:
        return f"Parameter '{name}' must be an ISO 8601 date."

    @staticmethod
    def invalid(name: str) -> str:
        return f"Parameter '{name}' is invalid."


@dataclass(frozen=True)
class Position:
    """Where the previous page ended: items after (start, guid) follow."""

    start: datetime
    guid: str


@dataclass(frozen=True)
class SearchQuery:
    start: datetime
    end: datetime
    limit: int = MAX_LIMIT
    handling_agent_id: str | None = None
    connect_from: str | None = None
    connect_to: str | None = None
    direction: str | None = None
    after: Position | None = None

    def fingerprint(self) -> str:
        text = "|".join(
            [
                self.start.isoformat(),
                self.end.isoformat(),
                *(
                    value or ""
                    for value in (
                        self.handling_agent_id,
                        self.connect_from,
                        self.connect_to,
                        self.direction,
                    )
                ),
            ]
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def token_after(self, start: datetime, guid: str) -> str:
        raw = f"{int(start.timestamp())}|{guid}|{self.fingerprint()}".encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def parse_date(text: str) -> datetime | None:
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()
    tz = UTC
    if sign is not None:
        offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        if offset >= timedelta(hours=24):
            return None
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=tz,
        )
    except ValueError:  # 2026-02-30, 25:00
        return None
    return value.astimezone(UTC)


def parse_search(params: dict[str, str]) -> SearchQuery:
    """``params``: the query's parameters, decoded (the first of a repeated name)."""
    start_text, end_text = params.get("start", ""), params.get("end", "")
    if not start_text or not end_text:
        raise ContentBadRequest(Messages.REQUIRED)
    start = parse_date(start_text)
    if start is None:
        raise ContentBadRequest(Messages.date("start"))
    end = parse_date(end_text)
    if end is None:
        raise ContentBadRequest(Messages.date("end"))
    if end < start:
        raise ContentBadRequest(Messages.ORDER)
    if end - start > MAX_SPAN:
        raise ContentBadRequest(Messages.SPAN)
    limit = MAX_LIMIT
    if "limit" in params:
        text = params["limit"]
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
            raise ContentBadRequest(Messages.LIMIT)
        limit = int(text)
    values: dict[str, str | None] = {}
    for name in FILTERS:
        value = params.get(name)
        if value is not None:
            value = _filter(name, value)
        values[name] = value
    query = SearchQuery(
        start,
        end,
        limit,
        values["handlingAgentId"],
        values["connectFrom"],
        values["connectTo"],
        values["direction"],
    )
    token = params.get("continuationToken")
    if token is None or token == "":  # axios leaves an undefined token out; empty is page one
        return query
    return SearchQuery(
        query.start,
        query.end,
        query.limit,
        query.handling_agent_id,
        query.connect_from,
        query.connect_to,
        query.direction,
        _position(token, query),
    )


def _filter(name: str, value: str) -> str:
    if name == "direction":
        if value.lower() not in ("inbound", "outbound"):
            raise ContentBadRequest(Messages.invalid(name))
        return value.lower()
    if not 1 <= len(value) <= 50 or not value.isprintable():
        raise ContentBadRequest(Messages.invalid(name))
    return value


def _position(token: str, query: SearchQuery) -> Position:
    if _TOKEN.fullmatch(token) is None:
        raise ContentBadRequest(Messages.TOKEN)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        seconds, guid, fingerprint = raw.split("|")
        start = datetime.fromtimestamp(int(seconds), UTC)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError) as exc:
        raise ContentBadRequest(Messages.TOKEN) from exc
    if fingerprint != query.fingerprint() or not guid:
        raise ContentBadRequest(Messages.TOKEN)
    return Position(start, guid)
