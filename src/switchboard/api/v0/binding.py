"""Reading a V0 request the way VCC's ASP.NET binding does (section 2 of the contract).

- Content-Type must be ``application/json`` or ``text/json`` (any case, any parameters).
- ``version=N`` on Accept or Content-Type; the first media range of Accept with one wins.
- JSON is UTF-8 (a BOM is skipped). Property names match case-insensitively, the last
  occurrence wins, unknown ones are ignored. A JSON integer is accepted where a string
  belongs, read as its digits exactly as written.
- Text must be Unicode: an escape of a lone surrogate (``"\\ud800"``) makes the body invalid
  JSON, as invalid UTF-8 bytes do (I-JSON, RFC 7493 §2.1). No database can store such a
  string, and no person typed it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from switchboard.domain.errors import (
    InvalidFieldType,
    InvalidJson,
    UnsupportedContentType,
    UnsupportedVersion,
)
from switchboard.domain.placement import PlaceCallRequest

# Only a \u escape can put a surrogate into a decoded string (the UTF-8 decoder refuses
# encoded ones), so bodies without one skip the walk; pairs that make a character pass it.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")

JSON_MEDIA_TYPES = ("application/json", "text/json")
SUPPORTED_VERSIONS = ("1", "2", "3", "4", "5", "6")
DEFAULT_VERSION = 6


def media_type(content_type: str | None) -> str:
    """The media type as sent, without parameters; '' when there is none."""
    if content_type is None:
        return ""
    return content_type.split(";", 1)[0].strip()


def check_content_type(content_type: str | None) -> None:
    sent = media_type(content_type)
    if sent.lower() not in JSON_MEDIA_TYPES:
        raise UnsupportedContentType(sent)


def _version_in(media_range: str) -> str | None:
    for param in media_range.split(";")[1:]:
        name, sep, value = param.partition("=")
        if sep and name.strip().lower() == "version":
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value
    return None


def negotiate_version(accept: str | None, content_type: str | None) -> int:
    value = None
    for media_range in (accept or "").split(","):
        value = _version_in(media_range)
        if value is not None:
            break
    if value is None and content_type is not None:
        value = _version_in(content_type)
    if value is None:
        return DEFAULT_VERSION
    if value not in SUPPORTED_VERSIONS:
        raise UnsupportedVersion(value)
    return int(value)


class _Fraction(str):
    """A JSON number with a fraction or exponent: never a valid string field."""


class _CaseInsensitiveObject(dict[str, Any]):
    """Keys folded to lower case; where a name repeats in any case, the last wins."""


def _object(pairs: list[tuple[str, Any]]) -> _CaseInsensitiveObject:
    obj = _CaseInsensitiveObject()
    for key, value in pairs:
        obj[key.lower()] = value
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(body: bytes) -> _CaseInsensitiveObject:
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    try:
        text = body.decode("utf-8")
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=str,
            parse_float=_Fraction,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidJson() from exc
    if not isinstance(value, _CaseInsensitiveObject):
        raise InvalidJson()
    if _SURROGATE_ESCAPE.search(body) is not None and _holds_lone_surrogate(value):
        raise InvalidJson()
    return value


def _holds_lone_surrogate(value: Any) -> bool:
    """Any key or string in the document with a surrogate left unpaired by the parser."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and _SURROGATE.search(item) is not None:
            return True
    return False


def string_field(obj: dict[str, Any], name: str, path: str) -> str | None:
    value = obj.get(name.lower())
    if value is None:
        return None
    if isinstance(value, str) and not isinstance(value, _Fraction):
        return value
    raise InvalidFieldType(path)


def _object_field(obj: dict[str, Any], name: str) -> dict[str, Any]:
    value = obj.get(name.lower())
    if value is None:
        return {}
    if not isinstance(value, _CaseInsensitiveObject):
        raise InvalidFieldType(name)
    return value


def _string_list(obj: dict[str, Any], name: str, path: str) -> list[str] | None:
    value = obj.get(name.lower())
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidFieldType(path)
    items = []
    for item in value:
        if not isinstance(item, str) or isinstance(item, _Fraction):
            raise InvalidFieldType(path)
        items.append(item)
    return items


def bind_place_call(body: bytes, version: int) -> PlaceCallRequest:
    obj = parse_json_object(body)
    source = _object_field(obj, "from")
    target = _object_field(obj, "to")
    regarding = _object_field(obj, "regarding")
    return PlaceCallRequest(
        from_agent_id=string_field(source, "agentId", "from.agentId"),
        from_groups=_string_list(source, "groups", "from.groups"),
        from_telephone_number=string_field(source, "telephoneNumber", "from.telephoneNumber"),
        presented_clid=string_field(source, "presentedCLID", "from.presentedCLID"),
        from_consent=string_field(source, "consent", "from.consent") if version >= 6 else None,
        to_telephone_number=string_field(target, "telephoneNumber", "to.telephoneNumber"),
        to_agent_id=string_field(target, "agentId", "to.agentId"),
        to_consent=string_field(target, "consent", "to.consent") if version >= 6 else None,
        reference=string_field(regarding, "reference", "regarding.reference"),
        application=string_field(obj, "application", "application"),
        version=version,
    )


def bind_recording(body: bytes) -> str | None:
    return string_field(parse_json_object(body), "recordingStatus", "recordingStatus")


@dataclass(frozen=True)
class DispositionBody:
    code: str | None
    agent_id: str | None


def bind_disposition(body: bytes) -> DispositionBody:
    obj = parse_json_object(body)
    code = string_field(obj, "dispositionCode", "dispositionCode")
    if code is not None and "\x00" in code:
        # The code is the one free text kept as sent; PostgreSQL's text type cannot hold a
        # NUL, so no backend accepts one (docs/decisions.md, "Bad input").
        raise InvalidFieldType("dispositionCode")
    return DispositionBody(code=code, agent_id=string_field(obj, "agentId", "agentId"))
