"""G.711 (PCMU, PCMA) to 16-bit linear PCM, by table: each code byte maps to one sample.

Decoding a payload is two ``bytes.translate`` calls (the low and the high byte of each
sample) and an interleave, so a call's worth of audio decodes in C-speed steps.
"""

from __future__ import annotations


def _ulaw(code: int) -> int:
    code = ~code & 0xFF
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    sample = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -sample if sign else sample


def _alaw(code: int) -> int:
    code ^= 0x55
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    if exponent == 0:
        return ((mantissa << 4) + 8) * (1 if sign else -1)
    sample = ((mantissa << 4) + 0x108) << (exponent - 1)
    return sample if sign else -sample


def _tables(decode: object) -> tuple[bytes, bytes]:
    samples = [decode(code) & 0xFFFF for code in range(256)]  # type: ignore[operator]
    return bytes(s & 0xFF for s in samples), bytes(s >> 8 for s in samples)


ULAW = _tables(_ulaw)
ALAW = _tables(_alaw)
TABLES = {0: ULAW, 8: ALAW}  # static payload types 0 (PCMU) and 8 (PCMA)
NAMES = {0: "PCMU", 8: "PCMA"}


def decode(payload_type: int, payload: bytes) -> bytes:
    """16-bit little-endian samples, one per code byte."""
    low, high = TABLES[payload_type]
    out = bytearray(2 * len(payload))
    out[0::2] = payload.translate(low)
    out[1::2] = payload.translate(high)
    return bytes(out)
