"""Events as CloudEvents 1.0 JSON: the one place their payloads are shaped, for the replayable
log, the stream and webhooks alike.

    {"specversion": "1.0", "id": "<the event's UUID>", "source": "/api/v1/accounts/<key>",
     "type": "com.switchboard.call.ended", "time": "2026-12-05T08:00:00.123456Z",
     "subject": "<call id>", "datacontenttype": "application/json",
     "data": {"accountKey": ..., "callId": ..., "sequence": 7, "regarding": {...}, ...}}

``subject`` is the call id (an agent event's is ``agents/<id>``). ``data`` holds the event's
fields in camelCase, as the V0 API spells its own; ``regarding`` is V0's
``{"reference": ...}`` or ``null``, and ``call.ended`` carries V0's ``result`` object.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from switchboard.domain.events import AgentStateChanged, CallEnded, CallEvent, Event

SPEC_VERSION = "1.0"
TYPE_PREFIX = "com.switchboard."
MEDIA_TYPE = "application/cloudevents+json"


def cloud_type(event: Event) -> str:
    return TYPE_PREFIX + event.type


def source(account_key: str) -> str:
    return f"/api/v1/accounts/{account_key}"


def timestamp(at: datetime) -> str:
    """RFC 3339 in UTC with microseconds, as CloudEvents' ``time`` takes it."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def data_of(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {"accountKey": event.account_key}
    details = event.details()
    if isinstance(event, CallEvent):
        data["callId"] = event.call_id
        data["sequence"] = event.sequence
        data["regarding"] = {"reference": event.regarding} if event.regarding else None
    if isinstance(event, CallEnded):
        data["result"] = {
            "code": details.pop("code"),
            "party": details.pop("party"),
            "reason": details.pop("reason"),
        }
    for name, value in details.items():
        data[_camel(name)] = value
    return data


def cloud_event(event: Event) -> dict[str, Any]:
    subject = event.call_id if isinstance(event, CallEvent) else None
    if isinstance(event, AgentStateChanged):
        subject = f"agents/{event.agent_id}"
    payload: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event.id,
        "source": source(event.account_key),
        "type": cloud_type(event),
        "time": timestamp(event.at),
        "datacontenttype": "application/json",
        "data": data_of(event),
    }
    if subject is not None:
        payload["subject"] = subject
    return payload
