"""Telephone numbers: the rules of section 3.1 (rule 12) over a pluggable number plan.

The domain decides what is dialable; a ``NumberPlan`` (libphonenumber in production) only
tells what a string is in a country.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from switchboard.domain.errors import Messages, RuleViolation

_FORMAT_CHARS = frozenset("0123456789 .-()")


@dataclass(frozen=True)
class NumberInfo:
    e164: str  # "+442072068888"
    national: str  # digits as dialled nationally, trunk prefix included: "02072068888"
    valid: bool
    premium: bool = False


class NumberPlan(Protocol):
    def is_emergency(self, text: str, country: str) -> bool: ...

    def parse(self, text: str, country: str) -> NumberInfo | None:
        """``None`` when the text is no number at all in that country."""
        ...


def has_number_characters(text: str) -> bool:
    """ASCII digits, spaces, ``.``, ``-``, ``(``, ``)`` and one leading ``+``."""
    body = text[1:] if text.startswith("+") else text
    return bool(body) and all(c in _FORMAT_CHARS for c in body) and any(c.isdigit() for c in body)


def digits_of(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def prefix_denied(info: NumberInfo, deny_prefixes: list[str]) -> bool:
    """A prefix with ``+`` or ``00`` matches the E.164 form, any other the national one."""
    e164_digits = info.e164.lstrip("+")
    national_digits = digits_of(info.national)
    for prefix in deny_prefixes:
        digits = digits_of(prefix)
        if not digits:
            continue
        if prefix.strip().startswith("+"):
            if e164_digits.startswith(digits):
                return True
        elif digits.startswith("00"):
            if e164_digits.startswith(digits[2:]):
                return True
        elif national_digits.startswith(digits):
            return True
    return False


def check_destination_number(
    text: str,
    *,
    country: str,
    plan: NumberPlan,
    allow_premium: bool,
    deny_prefixes: list[str],
) -> NumberInfo:
    """Rule 12, in its written order; returns the parsed number when it may be dialled."""
    if not has_number_characters(text):
        raise RuleViolation(Messages.NUMBER_INVALID)
    if plan.is_emergency(text, country):
        raise RuleViolation(Messages.NOT_SUPPORTED)
    info = plan.parse(text, country)
    if info is None or not info.valid:
        raise RuleViolation(Messages.NUMBER_INVALID)
    if (info.premium and not allow_premium) or prefix_denied(info, deny_prefixes):
        raise RuleViolation(Messages.NOT_SUPPORTED)
    return info
