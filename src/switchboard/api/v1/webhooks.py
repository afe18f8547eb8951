"""Webhook subscriptions over ``/api/v1``: parse, call the use-case (``service.webhooks``,
shared with the CLI), render.

    GET    .../webhooks                        the account's subscriptions
    POST   .../webhooks                        add: {"url", "events", "secret"}
    GET    .../webhooks/{webhook}              one
    DELETE .../webhooks/{webhook}              remove (204)
    GET    .../webhooks/{webhook}/deliveries   the delivery log, newest first
    POST   .../webhooks/{webhook}/redeliver    {"eventId"}: send it again (202)

(``...`` is ``/api/v1/accounts/{account}``.)

The signing key is never shown again after it was set; when the client gave none, the
answer to ``POST`` carries the one Switchboard made, once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from starlette.responses import Response

from switchboard.api.errors import json_response
from switchboard.api.v1.request import Operation, Query, Route, V1Request, operation
from switchboard.api.v1.schemas import Body
from switchboard.domain.webhooks import Delivery, Subscription
from switchboard.service import webhooks
from switchboard.service.cloudevents import TYPE_PREFIX


class WebhookIn(Body):
    url: str = Field(description="http or https")
    events: list[str] | None = Field(
        None, description="Event types (com.switchboard.call.ended or call.ended); none: all"
    )
    secret: str | None = Field(
        None, description="The signing key in Base64 (16 to 512 bytes); none: one is made"
    )


class WebhookOut(Body):
    id: str
    url: str
    events: list[str] = Field(description="Full CloudEvents types; empty: every type")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, s: Subscription) -> WebhookOut:
        return cls(
            id=s.id,
            url=s.url,
            events=[TYPE_PREFIX + name for name in s.event_types],
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


class WebhookCreated(WebhookOut):
    secret: str | None = Field(
        None, description="The signing key Switchboard made (shown once), when none was given"
    )


class WebhookList(Body):
    webhooks: list[WebhookOut]


class DeliveryOut(Body):
    event_id: str
    position: int
    attempt: int
    status: Literal["delivered", "failed", "dead"]
    response_code: int | None
    error: str | None
    redelivery: bool
    started_at: datetime
    finished_at: datetime

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            event_id=d.event_id,
            position=d.position,
            attempt=d.attempt,
            status=d.status.value,
            response_code=d.response_code,
            error=d.error,
            redelivery=d.redelivery,
            started_at=d.started_at,
            finished_at=d.finished_at,
        )


class DeliveryList(Body):
    deliveries: list[DeliveryOut]


class RedeliverIn(Body):
    event_id: str


class Redelivery(Body):
    queued: bool
    event_id: str


def _answer(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = model.model_dump(
        mode="json", by_alias=True, exclude_none=isinstance(model, WebhookCreated)
    )
    return json_response(body, status, {"Cache-Control": "no-store", **(headers or {})})


@operation(Operation("List the account's webhook subscriptions", {200: WebhookList}))
async def list_subscriptions(req: V1Request) -> Response:
    found = await webhooks.list_subscriptions(req.ctx, req.account_key)
    return _answer(WebhookList(webhooks=[WebhookOut.of(s) for s in found]))


@operation(
    Operation("Subscribe a receiver to the account's events", {201: WebhookCreated}, body=WebhookIn)
)
async def add_subscription(req: V1Request) -> Response:
    body = await req.parse(WebhookIn)
    added = await webhooks.add_subscription(
        req.ctx, req.account_key, body.url, body.events or (), body.secret
    )
    out = WebhookCreated(
        **WebhookOut.of(added.subscription).model_dump(), secret=added.generated_secret
    )
    location = f"/api/v1/accounts/{req.account_key}/webhooks/{added.subscription.id}"
    return _answer(out, 201, {"Location": location})


@operation(Operation("A webhook subscription", {200: WebhookOut}))
async def get_subscription(req: V1Request) -> Response:
    found = await webhooks.get_subscription(req.ctx, req.account_key, req.params["webhook"])
    return _answer(WebhookOut.of(found))


@operation(Operation("Remove a webhook subscription and its delivery log", {204: None}))
async def remove_subscription(req: V1Request) -> Response:
    await webhooks.remove_subscription(req.ctx, req.account_key, req.params["webhook"])
    return Response(status_code=204)


@operation(
    Operation(
        "The subscription's delivery log, newest first",
        {200: DeliveryList},
        query=(Query("limit", "Attempts to show (1 to 1000, default 100)", {"type": "integer"}),),
    )
)
async def deliveries(req: V1Request) -> Response:
    limit = webhooks.parse_limit(req.query.get("limit"))
    found = await webhooks.deliveries(req.ctx, req.account_key, req.params["webhook"], limit)
    return _answer(DeliveryList(deliveries=[DeliveryOut.of(d) for d in found]))


@operation(
    Operation("Send an event to the subscription again", {202: Redelivery}, body=RedeliverIn)
)
async def redeliver(req: V1Request) -> Response:
    body = await req.parse(RedeliverIn)
    await webhooks.redeliver(req.ctx, req.account_key, req.params["webhook"], body.event_id)
    return _answer(Redelivery(queued=True, event_id=body.event_id), 202)


_BASE = "/api/v1/accounts/{account}/webhooks"
ROUTES = (
    Route(_BASE, "account", {"GET": list_subscriptions, "POST": add_subscription}),
    Route(
        _BASE + "/{webhook}", "account", {"GET": get_subscription, "DELETE": remove_subscription}
    ),
    Route(_BASE + "/{webhook}/deliveries", "account", {"GET": deliveries}),
    Route(_BASE + "/{webhook}/redeliver", "account", {"POST": redeliver}),
)
