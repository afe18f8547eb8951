from __future__ import annotations

import pytest

from switchboard.adapters.media.bencode import BencodeError, decode, encode


def test_encodes_what_rtpengine_reads() -> None:
    assert encode({"command": "ping"}) == b"d7:command4:pinge"
    assert encode({"b": [1, -2, b"x"], "a": "\u00e9"}) == b"d1:a2:\xc3\xa91:bli1ei-2e1:xee"


def test_decodes_back_what_it_encodes() -> None:
    value = {b"sdp": b"v=0\r\n", b"list": [0, b"", {b"k": []}], b"n": -40}
    assert decode(encode(value)) == value


@pytest.mark.parametrize(
    "bad",
    [b"", b"i12", b"i-0e", b"i03e", b"ie", b"5:abc", b"l", b"d1:ae", b"di1ei2ee", b"x", b"i1ei2e"],
)
def test_refuses_what_is_not_bencode(bad: bytes) -> None:
    with pytest.raises(BencodeError):
        decode(bad)


def test_refuses_nesting_deeper_than_a_reply_ever_is() -> None:
    with pytest.raises(BencodeError):
        decode(b"l" * 1000 + b"e" * 1000)


def test_refuses_values_bencode_cannot_hold() -> None:
    for value in (True, 1.5, None, {1: b"x"}):
        with pytest.raises(BencodeError):
            encode(value)
