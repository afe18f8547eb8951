"""The one table from error classes to HTTP answers.

Looked up along the class's MRO, so a subclass answers like its parent unless listed. The
V0 surface answers ``{"message": ...}``; the token endpoint speaks OAuth 2 (RFC 6749 §5.2).
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

from switchboard.domain import errors as e

JSON_TYPE = "application/json; charset=utf-8"

STATUS: dict[type[e.SwitchboardError], int] = {
    e.UnsupportedContentType: 415,
    e.UnsupportedVersion: 406,
    e.PayloadTooLarge: 413,
    e.InvalidJson: 400,
    e.InvalidFieldType: 400,
    e.UnstorableValue: 400,
    e.InvalidParameter: 400,
    e.InvalidAccessToken: 401,
    e.AccountForbidden: 403,
    e.InvalidRequest: 400,
    e.UnsupportedGrantType: 400,
    e.InvalidClient: 401,
    e.TooManyFailedAttempts: 429,
    e.NotFound: 404,
    e.EventsExpired: 410,
    e.InvalidIdempotencyKey: 400,
    e.IdempotencyKeyInFlight: 409,
    e.IdempotencyKeyReused: 422,
    e.RateLimited: 429,
    e.StorageUnavailable: 503,
    e.RuleViolation: 400,
    e.UnknownEntity: 404,
    e.AlreadyExists: 409,
    e.ProvisioningError: 400,
    e.SwitchboardError: 500,
}


def status_for(exc: e.SwitchboardError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def json_response(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    # orjson: the same compact UTF-8 as json.dumps(ensure_ascii=False), several times faster.
    body = orjson.dumps(payload)
    return Response(body, status_code=status, headers=headers, media_type=JSON_TYPE)


def message_response(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return json_response({"message": message}, status, headers)


def error_response(exc: e.SwitchboardError) -> Response:
    status = status_for(exc)
    if isinstance(exc, e.OAuthError):
        headers = {"Cache-Control": "no-store"}
        if isinstance(exc, e.InvalidClient):
            headers["WWW-Authenticate"] = 'Basic realm="switchboard"'
        elif isinstance(exc, e.TooManyFailedAttempts):
            headers["Retry-After"] = str(exc.retry_after_s)
        return json_response({"error": exc.code}, status, headers)
    headers = {}
    if isinstance(exc, e.InvalidAccessToken):
        challenge = 'Bearer realm="switchboard"'
        if exc.token_sent:
            challenge += ', error="invalid_token"'
        headers["WWW-Authenticate"] = challenge
    if isinstance(exc, e.RateLimited):
        headers["Retry-After"] = str(exc.retry_after_s)
    if status == 500:
        return message_response("An error has occurred.", 500)
    if status == 503:  # the cause is for the log, not for the client
        return message_response(e.StorageUnavailable.message, 503, {"Retry-After": "1"})
    return message_response(exc.message, status, headers)


def method_not_allowed(method: str, allow: tuple[str, ...]) -> Response:
    return message_response(
        f"The requested resource does not support http method '{method}'.",
        405,
        {"Allow": ", ".join(allow)},
    )


def not_found() -> Response:
    return error_response(e.NotFound())


def internal_error() -> Response:
    return message_response("An error has occurred.", 500)


# Switchboard's own API (``/api/v1``) answers ``{"code": ..., "message": ...}``: the code is
# stable for programs, the message for people. Looked up along the MRO like ``STATUS``.
V1_CODES: dict[type[e.SwitchboardError], str] = {
    e.InvalidAccessToken: "unauthorized",
    e.AccountForbidden: "forbidden",
    e.NotFound: "not_found",
    e.UnknownEntity: "not_found",
    e.EventsExpired: "cursor_expired",
    e.AlreadyExists: "already_exists",
    e.ProvisioningError: "invalid_parameter",
    e.InvalidJson: "invalid_json",
    e.InvalidParameter: "invalid_parameter",
    e.PayloadTooLarge: "payload_too_large",
    e.RequestRejected: "invalid_request",
    e.RuleViolation: "rule_violation",
    e.StorageUnavailable: "unavailable",
    e.SwitchboardError: "internal_error",
}


V1_UNSTORABLE = "A value in the request has characters that cannot be stored (e.g. NUL)."


def v1_code(exc: e.SwitchboardError) -> str:
    for cls in type(exc).__mro__:
        if cls in V1_CODES:
            return V1_CODES[cls]
    return "internal_error"


def v1_error(
    code: str, message: str, status: int, headers: dict[str, str] | None = None
) -> Response:
    return json_response({"code": code, "message": message}, status, headers)


def v1_error_response(exc: e.SwitchboardError) -> Response:
    status = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, e.InvalidAccessToken):
        challenge = 'Bearer realm="switchboard"'
        if exc.token_sent:
            challenge += ', error="invalid_token"'
        headers["WWW-Authenticate"] = challenge
    if status == 500:
        return v1_error("internal_error", "An error has occurred.", 500)
    if status == 503:
        headers["Retry-After"] = "1"
        return v1_error("unavailable", e.StorageUnavailable.message, 503, headers)
    if isinstance(exc, e.UnstorableValue):  # here it may come from the path or the query too
        return v1_error("invalid_parameter", V1_UNSTORABLE, 400)
    return v1_error(v1_code(exc), exc.message, status, headers)


# The Interaction Content API (``/interaction-content``): ``{"message": ...}`` like V0, its
# own texts for the cases the spec names. Looked up along the MRO like ``STATUS``.
CONTENT_STATUS: dict[type[e.SwitchboardError], int] = {
    e.ContentBadRequest: 400,
    e.InvalidAccessToken: 401,
    e.ContentScopeMissing: 403,
    e.NotFound: 404,
    e.RangeNotSatisfiable: 416,
    e.ContentRateLimited: 429,
    e.StorageUnavailable: 503,
}
CONTENT_NOT_FOUND = "The requested resource was not found."


def content_error_response(exc: e.SwitchboardError) -> Response:
    status = 500
    for cls in type(exc).__mro__:
        if cls in CONTENT_STATUS:
            status = CONTENT_STATUS[cls]
            break
    headers: dict[str, str] = {}
    if isinstance(exc, e.InvalidAccessToken):
        headers["WWW-Authenticate"] = "Bearer"
        return message_response(e.InvalidAccessToken.message, 401, headers)
    if isinstance(exc, e.ContentRateLimited):
        headers["Retry-After"] = str(exc.retry_after_s)
    elif isinstance(exc, e.RangeNotSatisfiable):
        headers["Content-Range"] = f"bytes */{exc.size}"
    elif status == 503:
        headers["Retry-After"] = "1"
        return message_response(e.StorageUnavailable.message, 503, headers)
    if status == 500:
        return message_response("An error has occurred.", 500)
    if type(exc) is e.NotFound:
        return message_response(CONTENT_NOT_FOUND, 404)
    return message_response(exc.message, status, headers)


def content_token_error(exc: e.SwitchboardError) -> Response:
    """``POST /Auth/connect/token``: OAuth 2 errors, with VCC's descriptions where it has them."""
    headers = {"Cache-Control": "no-store"}
    if isinstance(exc, e.InvalidScope):
        body = {"error": "invalid_scope", "error_description": exc.message}
        return json_response(body, 400, headers)
    if isinstance(exc, e.UnsupportedGrantType):
        body = {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
        return json_response(body, 400, headers)
    if isinstance(exc, e.OAuthError):
        return error_response(exc)
    return content_error_response(exc)
