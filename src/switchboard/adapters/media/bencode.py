"""bencode, as rtpengine's NG protocol speaks it: integers, byte strings, lists, dictionaries.

Written here rather than taken from PyPI: ``bencodepy`` is GPL, and the format is a page long.
Text is encoded as UTF-8; decoding gives ``bytes`` for strings (the caller decides what is
text). Dictionary keys are written sorted, as the format requires.
"""

from __future__ import annotations

from typing import Any


class BencodeError(ValueError):
    """Input that is not bencode (or a value that cannot be written as bencode)."""


def encode(value: Any) -> bytes:
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: Any, out: list[bytes]) -> None:
    if isinstance(value, bool):  # a bool is an int to Python; to bencode it is neither
        raise BencodeError("bencode has no booleans")
    if isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, str | bytes):
        data = value.encode() if isinstance(value, str) else value
        out.append(b"%d:%s" % (len(data), data))
    elif isinstance(value, list | tuple):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, dict):
        out.append(b"d")
        keys = {(k.encode() if isinstance(k, str) else k): v for k, v in value.items()}
        for key in sorted(keys):
            if not isinstance(key, bytes):
                raise BencodeError(f"dictionary key {key!r} is not a string")
            _encode(key, out)
            _encode(keys[key], out)
        out.append(b"e")
    else:
        raise BencodeError(f"cannot bencode {type(value).__name__}")


def decode(data: bytes) -> Any:
    try:
        value, end = _decode(data, 0, 0)
    except (IndexError, ValueError) as exc:
        raise BencodeError(f"not bencode: {exc}") from exc
    if end != len(data):
        raise BencodeError(f"{len(data) - end} bytes after the value")
    return value


MAX_DEPTH = 64  # a hostile reply must not exhaust the stack


def _decode(data: bytes, at: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    lead = data[at : at + 1]
    if lead == b"i":
        end = data.index(b"e", at)
        text = data[at + 1 : end]
        if not text or text == b"-0" or (text.lstrip(b"-").startswith(b"0") and text != b"0"):
            raise ValueError(f"bad integer {text!r}")
        return int(text), end + 1
    if lead.isdigit():
        colon = data.index(b":", at)
        length = int(data[at:colon])
        start = colon + 1
        if start + length > len(data):
            raise ValueError("string runs past the end")
        return data[start : start + length], start + length
    if lead == b"l":
        items: list[Any] = []
        at += 1
        while data[at : at + 1] != b"e":
            item, at = _decode(data, at, depth + 1)
            items.append(item)
        return items, at + 1
    if lead == b"d":
        result: dict[bytes, Any] = {}
        at += 1
        while data[at : at + 1] != b"e":
            key, at = _decode(data, at, depth + 1)
            if not isinstance(key, bytes):
                raise ValueError("dictionary key is not a string")
            result[key], at = _decode(data, at, depth + 1)
        return result, at + 1
    raise ValueError(f"unexpected {lead!r} at {at}")
