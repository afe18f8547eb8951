"""Accounts: the settings the V0 API depends on, and their callback numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from switchboard.domain.agents import PostCallState

ACCOUNT_KEY = re.compile(r"[A-Za-z0-9]{1,64}")
API_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def is_account_key(text: str) -> bool:
    return ACCOUNT_KEY.fullmatch(text) is not None


@dataclass(frozen=True)
class CallbackNumber:
    number: str  # as configured: emitted as presentedClid
    e164: str
    is_default: bool = False


@dataclass
class Account:
    key: str
    region: str = "emea"
    country: str = "GB"
    ccxml: bool = True
    record_calls: bool = True
    agent_timeout_s: float = 15.0
    destination_timeout_s: float = 60.0
    wrapup_seconds: float = 180.0
    post_call_state: PostCallState = PostCallState.READY
    enforce_dispositions: bool = False
    outbound_in_wrapup: bool = False
    allow_premium: bool = False
    deny_prefixes: list[str] = field(default_factory=list)
    callback_numbers: list[CallbackNumber] = field(default_factory=list)
    token_generation: int = 1

    @property
    def default_callback(self) -> CallbackNumber | None:
        for number in self.callback_numbers:
            if number.is_default:
                return number
        return self.callback_numbers[0] if self.callback_numbers else None

    def callback_by_e164(self, e164: str) -> CallbackNumber | None:
        for number in self.callback_numbers:
            if number.e164 == e164:
                return number
        return None


AGENT_TIMEOUT_RANGE = (1.0, 180.0)
