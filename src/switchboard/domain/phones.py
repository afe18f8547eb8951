"""Agents' phone URIs: ``sip:``, ``tel:`` and the simulator's ``sim:`` words.

``sim:answer?after=MS&talk=MS&hangup=MS`` is the simulator's grammar; it lives here so that
the operator commands can refuse an unknown word before the simulator ever sees it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

SIM_WORDS = ("answer", "busy", "noanswer", "unreachable")
SIM_OPTIONS = ("after", "talk", "hangup")
_NUMBER_USER = re.compile(r"\+?[0-9]+")


@dataclass(frozen=True)
class SimPhone:
    word: str = "answer"
    after_ms: int | None = None
    talk_ms: int | None = None
    hangup_ms: int | None = None


@functools.lru_cache(maxsize=1024)
def parse_sim(uri: str) -> SimPhone:
    """Raises ``ValueError`` naming what is wrong. Remembered: agents' phones repeat, and the
    simulator reads them at every step of a call."""
    if not uri.lower().startswith("sim:"):
        raise ValueError(f"not a sim: URI: {uri!r}")
    rest = uri[4:]
    word, _, query = rest.partition("?")
    word = word.lower()
    if word not in SIM_WORDS:
        raise ValueError(f"unknown sim: word {word!r}; expected one of {', '.join(SIM_WORDS)}")
    options: dict[str, int] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in SIM_OPTIONS:
            raise ValueError(f"unknown sim: option {name!r}; expected after, talk or hangup")
        if not value.isdigit():
            raise ValueError(f"sim: option {name} needs milliseconds, got {value!r}")
        options[name] = int(value)
    return SimPhone(word, options.get("after"), options.get("talk"), options.get("hangup"))


def check_phone_uri(uri: str) -> str:
    """Accept ``sip:``/``sips:`` URIs with a host, ``tel:`` numbers and valid ``sim:`` URIs."""
    lower = uri.lower()
    if lower.startswith("sim:"):
        parse_sim(uri)
        return uri
    if lower.startswith(("sip:", "sips:")):
        rest = uri.split(":", 1)[1]
        host = rest.rsplit("@", 1)[-1]
        if not host or any(c.isspace() for c in uri):
            raise ValueError(f"a sip: URI needs a host: {uri!r}")
        return uri
    if lower.startswith("tel:"):
        if not _NUMBER_USER.fullmatch(uri[4:].split(";", 1)[0]):
            raise ValueError(f"a tel: URI needs a number: {uri!r}")
        return uri
    raise ValueError(f"unsupported phone URI {uri!r}; use sip:, tel: or sim:")


def telephone_number_of(uri: str) -> str | None:
    """The number behind a phone, for ``from.telephoneNumber``: a ``tel:`` URI, or a
    ``sip:`` URI whose user part is a number."""
    lower = uri.lower()
    if lower.startswith("tel:"):
        number = uri[4:].split(";", 1)[0]
        return number if _NUMBER_USER.fullmatch(number) else None
    if lower.startswith(("sip:", "sips:")):
        rest = uri.split(":", 1)[1]
        if "@" not in rest:
            return None
        user = rest.split("@", 1)[0].split(";", 1)[0]
        return user if _NUMBER_USER.fullmatch(user) else None
    return None
