"""Call ids: time-ordered GUIDs (UUID version 7 layout), lower case, as VCC emits them."""

from __future__ import annotations

import os
import re
import time
import uuid

_GUID = re.compile(
    r"\{?([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?"
    r"([0-9a-fA-F]{12})\}?"
)


def new_call_id() -> str:
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def normalise_guid(text: str) -> str | None:
    """A GUID as a path may spell it: any case, with or without hyphens, maybe in braces.
    Returns the stored lower-case hyphenated form, or ``None``. The version is not checked."""
    match = _GUID.fullmatch(text)
    if match is None:
        return None
    hyphens = text.count("-")
    if hyphens not in (0, 4) or text.startswith("{") != text.endswith("}"):
        return None
    return "-".join(match.groups()).lower()
