"""What the operator commands print: rows as JSON lines (``--json``) or a table."""

from __future__ import annotations

import json
from typing import Any

import click

from switchboard.domain.accounts import Account
from switchboard.domain.agents import Agent
from switchboard.domain.calls import Call
from switchboard.domain.webhooks import Delivery, Subscription


def account_row(a: Account) -> dict[str, Any]:
    return {
        "key": a.key,
        "region": a.region,
        "country": a.country,
        "ccxml": a.ccxml,
        "recordCalls": a.record_calls,
        "agentTimeout": a.agent_timeout_s,
        "destinationTimeout": a.destination_timeout_s,
        "wrapupSeconds": a.wrapup_seconds,
        "postCallState": a.post_call_state.value,
        "enforceDispositions": a.enforce_dispositions,
        "outboundInWrapup": a.outbound_in_wrapup,
        "allowPremium": a.allow_premium,
        "denyPrefixes": a.deny_prefixes,
        "callbackNumbers": [n.number for n in a.callback_numbers],
        "defaultCallbackNumber": a.default_callback.number if a.default_callback else None,
    }


def agent_row(a: Agent) -> dict[str, Any]:
    return {
        "id": a.agent_id,
        "name": a.name,
        "state": a.state.label,
        "stateCode": a.state.code,
        "phone": a.phone,
        "currentCall": a.current_call_id,
        "callbackNumber": a.callback_number,
        "allowedNumbers": a.allowed_numbers,
        "wrapupUntil": a.wrapup_until.isoformat() if a.wrapup_until else None,
    }


def call_row(c: Call) -> dict[str, Any]:
    return {
        "id": c.id,
        "agentId": c.caller_agent_id,
        "to": c.destination_number or c.destination_agent_id,
        "status": "Active" if c.is_active else None,
        "phase": c.phase.value,
        "result": (
            {
                "code": c.result.code,
                "party": c.result.party.value,
                "reason": c.result.reason.value,
            }
            if c.result
            else None
        ),
        "createdAt": c.created_at.isoformat(),
    }


def emit(rows: list[dict[str, Any]], as_json: bool, columns: list[str]) -> None:
    """One JSON object per line, or a table of ``columns``."""
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    Console().print(table)


def webhook_row(s: Subscription) -> dict[str, Any]:
    return {
        "id": s.id,
        "url": s.url,
        "events": ",".join(s.event_types) or "*",
        "createdAt": s.created_at.isoformat(),
        "updatedAt": s.updated_at.isoformat(),
    }


def delivery_row(d: Delivery) -> dict[str, Any]:
    return {
        "eventId": d.event_id,
        "position": d.position,
        "attempt": d.attempt,
        "status": d.status.value,
        "responseCode": d.response_code,
        "error": d.error,
        "redelivery": d.redelivery,
        "startedAt": d.started_at.isoformat(),
        "finishedAt": d.finished_at.isoformat(),
    }
