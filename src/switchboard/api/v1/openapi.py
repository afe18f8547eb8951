"""The OpenAPI 3.1 document of ``/api/v1``, built from the route tables and the pydantic
models the handlers answer with (``api.v1.schemas``), so it says what the code does. Served
at ``/api/v1/openapi.json``; tests validate real answers against it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.responses import Response

from switchboard import __version__
from switchboard.api.errors import JSON_TYPE
from switchboard.api.v1.request import Handler, Operation, Route, V1Request
from switchboard.api.v1.schemas import Error

_REF = "#/components/schemas/{model}"
_ERROR_TEXT = {
    400: "A parameter or body the API cannot take",
    401: "No valid bearer token",
    403: "A token of another account",
    404: "No such resource (or, for provisioning, the API is off)",
    409: "Already exists",
    410: "The cursor is behind the events' retention: what followed it is partly gone",
    413: "The body is too large",
    503: "Storage unavailable; retry",
}
_ERRORS_BY_AUTH = {"account": (400, 401, 403, 404, 503), "admin": (400, 401, 404, 409, 503)}
_SECURITY = {"account": "accountToken", "admin": "adminToken"}


def _operation_of(handler: Handler) -> Operation:
    op = getattr(handler, "operation", None)
    if not isinstance(op, Operation):
        raise TypeError(f"{handler.__qualname__} has no @operation")
    return op


def document(routes: Sequence[Route]) -> dict[str, Any]:
    used: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Error, "serialization")]
    for route in routes:
        for handler in route.methods.values():
            op = _operation_of(handler)
            used += [(m, "serialization") for m in op.responses.values() if m is not None]
            if op.body is not None:
                used.append((op.body, "validation"))
    refs, defs = models_json_schema(list(dict.fromkeys(used)), ref_template=_REF)

    def content(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return {"application/json": {"schema": refs[(model, mode)]}}

    paths: dict[str, Any] = {}
    for route in routes:
        item: dict[str, Any] = {}
        path_parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in route.names
        ]
        for method, handler in route.methods.items():
            op = _operation_of(handler)
            responses: dict[str, Any] = {}
            for status, model in op.responses.items():
                answer: dict[str, Any] = {"description": op.summary}
                media = content(model, "serialization") if model is not None else {}
                if op.stream:
                    media["text/event-stream"] = {"schema": {"type": "string"}}
                if media:
                    answer["content"] = media
                responses[str(status)] = answer
            errors = list(_ERRORS_BY_AUTH.get(route.auth, ())) + list(op.errors)
            if op.body is not None:
                errors.append(413)
            for status in sorted(set(errors)):
                responses[str(status)] = {
                    "description": _ERROR_TEXT[status],
                    "content": content(Error, "serialization"),
                }
            entry: dict[str, Any] = {
                "operationId": handler.__name__,
                "summary": op.summary,
                "parameters": path_parameters
                + [
                    {
                        "name": q.name,
                        "in": "query",
                        "description": q.description,
                        "schema": q.schema,
                    }
                    for q in op.query
                ],
                "responses": responses,
            }
            if route.auth in _SECURITY:
                entry["security"] = [{_SECURITY[route.auth]: []}]
            if op.body is not None:
                entry["requestBody"] = {
                    "required": op.body_required,
                    "content": content(op.body, "validation"),
                }
            item[method.lower()] = entry
        paths[route.template] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard API v1",
            "version": __version__,
            "description": "Switchboard's own API beside VCC's V0 (docs/api-v1.md).",
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "accountToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An access token of the account in the path (V0's token)",
                },
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "SWITCHBOARD_ADMIN_TOKEN",
                },
            },
        },
    }


def handler(routes: Sequence[Route]) -> Handler:
    body = orjson.dumps(document(routes))

    async def serve(req: V1Request) -> Response:
        return Response(body, media_type=JSON_TYPE, headers={"Cache-Control": "no-cache"})

    return serve
