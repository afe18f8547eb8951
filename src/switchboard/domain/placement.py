"""Placing a call: the request as the domain sees it, and the rules that need no storage.

Rules 1 to 13 of section 3.1 run here, in their written order; rules 14 to 20 need the
agents and groups and run in the use-case (``switchboard.service.calls``), still in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from switchboard.domain.accounts import Account
from switchboard.domain.calls import Consent
from switchboard.domain.errors import Messages, RuleViolation
from switchboard.domain.groups import is_group_id
from switchboard.domain.numbers import (
    NumberInfo,
    NumberPlan,
    check_destination_number,
    has_number_characters,
)

_ALNUM = re.compile(r"[A-Za-z0-9]+")
# RFC 3986 characters: unreserved, reserved and the percent sign of escapes.
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_HTTP_URL = re.compile(r"https?://[^/?#\s]+.*", re.IGNORECASE | re.DOTALL)


def given(value: str | list[str] | None) -> bool:
    """Present, not null, not empty. Nothing is trimmed: " " is given."""
    return value is not None and len(value) > 0


@dataclass(frozen=True)
class PlaceCallRequest:
    """The body of POST /calls/, type-checked but not yet validated."""

    from_agent_id: str | None = None
    from_groups: list[str] | None = None
    from_telephone_number: str | None = None
    presented_clid: str | None = None
    from_consent: str | None = None
    to_telephone_number: str | None = None
    to_agent_id: str | None = None
    to_consent: str | None = None
    reference: str | None = None
    application: str | None = None
    version: int = 6


@dataclass(frozen=True)
class CheckedRequest:
    """What survived rules 1 to 13."""

    request: PlaceCallRequest
    destination: NumberInfo | None
    clid_e164: str | None
    from_consent: Consent | None
    to_consent: Consent | None
    groups: list[str] = field(default_factory=list)


def _check_agent_id(value: str) -> None:
    if not all("0" <= c <= "9" for c in value):
        raise RuleViolation(Messages.AGENT_ID_DIGITS)
    if len(value) > 11:
        raise RuleViolation(Messages.AGENT_ID_LENGTH)


def is_valid_reference(value: str) -> bool:
    if _ALNUM.fullmatch(value):
        return True
    return bool(_HTTP_URL.fullmatch(value) and _URI_CHARS.fullmatch(value))


def _consent(value: str | None, version: int) -> Consent | None:
    if version < 6 or not given(value):
        return None
    assert value is not None
    consent = Consent.parse(value)
    if consent is None:
        raise RuleViolation(Messages.CONSENT)
    return consent


def check_request(req: PlaceCallRequest, account: Account, plan: NumberPlan) -> CheckedRequest:
    """Rules 1 to 13, in order; the first that fails raises ``RuleViolation``."""
    if not account.ccxml:
        raise RuleViolation(Messages.CCXML_DISABLED)
    to_number, to_agent = given(req.to_telephone_number), given(req.to_agent_id)
    if not to_number and not to_agent:
        raise RuleViolation(Messages.TO_MISSING)
    if to_number and to_agent:
        raise RuleViolation(Messages.TO_BOTH)
    if given(req.from_telephone_number):
        raise RuleViolation(Messages.NOT_SUPPORTED)
    from_agent, from_groups = given(req.from_agent_id), given(req.from_groups)
    if not from_agent and not from_groups:
        raise RuleViolation(Messages.AGENT_ID_REQUIRED)
    if from_agent and from_groups:
        raise RuleViolation(Messages.FROM_BOTH)
    if from_agent:
        assert req.from_agent_id is not None
        _check_agent_id(req.from_agent_id)
    if to_agent:
        assert req.to_agent_id is not None
        _check_agent_id(req.to_agent_id)
    if to_number:
        assert req.to_telephone_number is not None
        if len(req.to_telephone_number) > 30:
            raise RuleViolation(Messages.NUMBER_LENGTH)
    if given(req.reference):
        assert req.reference is not None
        if len(req.reference) > 2000:
            raise RuleViolation(Messages.REFERENCE_LENGTH)
        if not is_valid_reference(req.reference):
            raise RuleViolation(Messages.REFERENCE_CHARS)
    if given(req.application):
        assert req.application is not None
        if len(req.application) > 32:
            raise RuleViolation(Messages.APPLICATION_LENGTH)
        if not _ALNUM.fullmatch(req.application):
            raise RuleViolation(Messages.APPLICATION_CHARS)
    from_consent = _consent(req.from_consent, req.version)
    to_consent = _consent(req.to_consent, req.version)
    destination = None
    if to_number:
        assert req.to_telephone_number is not None
        destination = check_destination_number(
            req.to_telephone_number,
            country=account.country,
            plan=plan,
            allow_premium=account.allow_premium,
            deny_prefixes=account.deny_prefixes,
        )
    clid_e164 = None
    if given(req.presented_clid):
        assert req.presented_clid is not None
        # Only the characters of a telephone number (rule 12): libphonenumber reads past
        # anything else ("01256636451\x00" parses), and the CLID is kept as sent.
        parsed = None
        if has_number_characters(req.presented_clid):
            parsed = plan.parse(req.presented_clid, account.country)
        clid_e164 = parsed.e164 if parsed is not None else None
        if clid_e164 is None or account.callback_by_e164(clid_e164) is None:
            raise RuleViolation(Messages.CLID_NOT_CONFIGURED)
    groups: list[str] = []
    for group in req.from_groups or []:
        # An id no group can have names none: unknown, as the spec has unknown ids be.
        if is_group_id(group) and group not in groups:
            groups.append(group)
    return CheckedRequest(req, destination, clid_e164, from_consent, to_consent, groups)
