"""Every error Switchboard raises on purpose, in one tree.

Each class carries the exact text a client sees (VCC's message, byte for byte) or a stable
code. The API maps classes to HTTP statuses in one table (``switchboard.api.errors``); nothing
below knows about HTTP.

    SwitchboardError
    ├── RequestRejected              the request as a whole is refused before any rule runs
    │   ├── UnsupportedContentType   (415)
    │   ├── UnsupportedVersion       (406)
    │   ├── PayloadTooLarge          (413)
    │   ├── InvalidJson              (400)
    │   ├── InvalidFieldType         (400)
    │   ├── UnstorableValue          (400) text no database can keep (a NUL, a lone surrogate)
    │   └── InvalidParameter         (400) a query parameter of the /api/v1 API
    ├── AuthError
    │   ├── InvalidAccessToken       (401)
    │   └── AccountForbidden         (403)
    ├── OAuthError                   token endpoint, RFC 6749 §5.2
    │   ├── InvalidRequest
    │   ├── UnsupportedGrantType
    │   ├── InvalidClient
    │   └── TooManyFailedAttempts    (429) guessing: retry after ``retry_after_s``
    ├── NotFound                     (404) unknown or expired resource
    ├── EventsExpired                (410) a cursor behind the events' retention
    │   ├── InteractionNotFound      the Interaction Content API's words for it
    │   └── ContentNotFound
    ├── ContentError                 the Interaction Content API (docs/recording.md)
    │   ├── ContentBadRequest        (400) version, GUID and query rules
    │   ├── ContentScopeMissing      (403) a valid token without interaction-content:read
    │   ├── RangeNotSatisfiable      (416)
    │   ├── ContentRateLimited       (429) retry after ``retry_after_s``
    │   └── InvalidScope             (400) the token endpoint's ``invalid_scope``
    ├── IdempotencyError             an ``Idempotency-Key`` that cannot be honoured
    │   ├── InvalidIdempotencyKey    (400) empty, too long, or not printable ASCII
    │   ├── IdempotencyKeyInFlight   (409) its first request is still being answered
    │   └── IdempotencyKeyReused     (422) sent before with another body
    ├── RateLimited                  (429) the account's token bucket is empty
    ├── StorageUnavailable           (503) the database did not answer; retryable
    ├── RuleViolation                (400) a rule of the endpoint, with its VCC message
    │   └── CallNotStarted           the agent's phone could not be reached (rule 20)
    └── ProvisioningError            operator input (CLI): bad value, duplicate, unknown
        ├── AlreadyExists
        └── UnknownEntity

An expected outcome of a call (busy, no answer) is never an exception: it is a call that
ended with a result.
"""

from __future__ import annotations


class SwitchboardError(Exception):
    """Base of every deliberate error."""

    message: str = "An error has occurred."

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


class RequestRejected(SwitchboardError):
    pass


class UnsupportedContentType(RequestRejected):
    def __init__(self, media_type: str) -> None:
        self.media_type = media_type
        super().__init__(f"The requested resource does not support content type '{media_type}'.")


class UnsupportedVersion(RequestRejected):
    def __init__(self, value: str) -> None:
        self.value = value
        super().__init__(f"Unsupported API version '{value}'. Supported versions: 1-6.")


class PayloadTooLarge(RequestRejected):
    message = "Payload Too Large"


class InvalidJson(RequestRejected):
    message = "The request body is not valid JSON."


class InvalidFieldType(RequestRejected):
    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"The field '{path}' has an invalid type.")


class UnstorableValue(RequestRejected):
    """A value from the request that the database refused as text it cannot keep.

    The API checks what clients send before it reaches storage; this is the last line of
    defence, raised by the storage adapters from the driver's own refusal, so that such a value
    is the client's 400 and never a retryable 503. Every stored text a client can send comes
    from a request body, so the client sees that body's message."""

    message = InvalidJson.message

    def __init__(self, detail: str = "") -> None:
        self.detail = detail  # for the operator's log: what was being stored, and the refusal
        super().__init__()


class InvalidParameter(RequestRejected):
    """A query parameter of Switchboard's own API (``/api/v1``) that it cannot take."""


class AuthError(SwitchboardError):
    pass


class InvalidAccessToken(AuthError):
    message = "The access token is invalid or has expired"

    def __init__(self, token_sent: bool = False) -> None:
        self.token_sent = token_sent
        super().__init__()


class AccountForbidden(AuthError):
    message = "The access token does not grant access to this account"


class OAuthError(SwitchboardError):
    code = "invalid_request"


class InvalidRequest(OAuthError):
    code = "invalid_request"


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"


class InvalidClient(OAuthError):
    code = "invalid_client"


class TooManyFailedAttempts(OAuthError):
    """Too many failed token requests for this account or from this address: refused
    without looking at the credentials. ``slow_down`` is OAuth's word for it (RFC 8628
    §3.5); RFC 6749 §5.2 has none."""

    code = "slow_down"

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__()


class NotFound(SwitchboardError):
    message = "The requested resource was not found."


class EventsExpired(SwitchboardError):
    """A reader's cursor is behind the account's purged events: some of what followed it is
    gone (``SWITCHBOARD_EVENT_RETENTION_SECONDS``), so serving what is left would hide a gap."""

    message = (
        "Events after this cursor are past their retention and gone: read the calls again, "
        "then follow the log from its oldest event (no after) or the stream from now."
    )


class InteractionNotFound(NotFound):
    message = "Interaction not found"


class ContentNotFound(NotFound):
    message = "Interaction content not found"


class ContentError(SwitchboardError):
    pass


class ContentBadRequest(ContentError):
    """``message`` is the spec's text, given by the raiser."""


class ContentScopeMissing(ContentError):
    message = "The access token does not grant the interaction-content:read scope"


class RangeNotSatisfiable(ContentError):
    message = "Range Not Satisfiable"

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__()


class ContentRateLimited(ContentError):
    message = "Too Many Requests"

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__()


class IdempotencyError(SwitchboardError):
    pass


class InvalidIdempotencyKey(IdempotencyError):
    message = "The Idempotency-Key header must be 1 to 255 printable ASCII characters."


class IdempotencyKeyInFlight(IdempotencyError):
    message = "A request with this Idempotency-Key is still being processed; retry later."


class IdempotencyKeyReused(IdempotencyError):
    message = "This Idempotency-Key was already used with a different request body."


class RateLimited(SwitchboardError):
    """The account spent its tokens; ``retry_after_s``: when the next one is there."""

    message = "Rate limit exceeded"

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__()


class InvalidScope(ContentError):
    """OAuth's ``invalid_scope`` with VCC's description."""


class StorageUnavailable(SwitchboardError):
    """The database could not be reached or did not answer in time; the client may retry."""

    message = "The service is temporarily unavailable."


class RuleViolation(SwitchboardError):
    """A documented rule failed; ``message`` is the VCC text the client matches on."""


class CallNotStarted(RuleViolation):
    """The calling agent's phone could not be made to ring (rule 20)."""


class ProvisioningError(SwitchboardError):
    pass


class AlreadyExists(ProvisioningError):
    pass


class UnknownEntity(ProvisioningError):
    pass


class Messages:
    """The VCC texts of the placement rules (section 3.1) and the other endpoints."""

    CCXML_DISABLED = "Ccxml must be enabled for this account"
    TO_MISSING = "Either telephone number or agent id required"
    TO_BOTH = "Either telephone number or agent id required, not both"
    NOT_SUPPORTED = "Telephone number not supported in this context"
    AGENT_ID_REQUIRED = "Agent Id must be specified"
    FROM_BOTH = "Either agent id or groups required, not both"
    AGENT_ID_DIGITS = "Agent Id must contain digits only"
    AGENT_ID_LENGTH = "Agent Id exceeds 11 digits"
    NUMBER_LENGTH = "Telephone number exceeds 30 characters"
    REFERENCE_LENGTH = "Reference exceeded 2000 characters"
    REFERENCE_CHARS = "Reference contained invalid characters"
    APPLICATION_LENGTH = "Application exceeded 32 characters"
    APPLICATION_CHARS = "Application contains non-alphanumeric characters"
    CONSENT = "Consent must be one of Unknown, OneParty, TwoParty"
    NUMBER_INVALID = "Unable to place call - number is invalid"
    CLID_NOT_CONFIGURED = (
        "Unable to place call - presented CLID is not a configured callback number"
    )
    CALLER_UNKNOWN = "Unable to place call - Agent Id is unknown"
    DESTINATION_AGENT_UNKNOWN = "Unable to place call - invalid Agent Id"
    GROUP_UNKNOWN = "Unable to place call - group is unknown"
    AGENT_BUSY = "Unable to place call - Agent number busy"
    DESTINATION_AGENT_UNAVAILABLE = "Unable to place call - dialed Agent is not currently available"
    AGENT_UNREACHABLE = "Unable to place call to Agent. Please try again"
    RECORDING_VALUE = "Recording status must be Paused or Started"
    CALL_NOT_IN_PROGRESS = "The call is not in progress"
    DISPOSITION_MISSING = "Disposition code field was expected. "
    DISPOSITION_TOO_LONG = "Disposition code excceeds 255 characters."
    DISPOSITION_TOO_SHORT = "Disposition code must be at least 3 characters."
    NOT_A_PARTICIPANT = "Agent Id is not a participant of this call"
