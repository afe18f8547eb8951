"""HTTP digest authentication toward the trunk (RFC 2617 as used by RFC 3261 section 22).

A trunk answers 401 (WWW-Authenticate) or 407 (Proxy-Authenticate); the request is sent again
with Authorization or Proxy-Authorization. MD5 and SHA-256 (RFC 8760, same construction with
SHA-256 as H), with ``qop=auth`` when offered, else the RFC 2069 form. A response may carry one
challenge per algorithm (RFC 8760 section 2.4, most preferred first): we answer the strongest
we know, whatever the order. The nonce count goes up for each use of the same nonce.

Known holes: no ``auth-int``, no ``-sess`` algorithms, no SHA-512-256; credentials are not sent
pre-emptively, so each new dialog costs one challenge.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from switchboard.adapters.telephony.sip.message import SipParseError


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    realm: str | None = None  # only answer this realm; None = any


@dataclass(frozen=True)
class Challenge:
    realm: str
    nonce: str
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    algorithm: str = "MD5"
    stale: bool = False

    @classmethod
    def parse(cls, value: str) -> Challenge:
        scheme, _, rest = value.strip().partition(" ")
        if scheme.lower() != "digest":
            raise SipParseError(f"not a digest challenge: {value[:80]!r}")
        params = parse_auth_params(rest)
        if "nonce" not in params:
            raise SipParseError("digest challenge without nonce")
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        return cls(
            realm=params.get("realm", ""),
            nonce=params["nonce"],
            qop=qop,
            opaque=params.get("opaque"),
            algorithm=params.get("algorithm", "MD5"),
            stale=params.get("stale", "").lower() == "true",
        )


def parse_auth_params(text: str) -> dict[str, str]:
    """``a="x, y", b=z`` into a dict, honouring quotes and backslash escapes."""
    params: dict[str, str] = {}
    index = 0
    length = len(text)
    while index < length:
        while index < length and text[index] in " \t,":
            index += 1
        equals = text.find("=", index)
        if equals < 0:
            break
        name = text[index:equals].strip().lower()
        index = equals + 1
        while index < length and text[index] in " \t":
            index += 1
        if index < length and text[index] == '"':
            index += 1
            chars: list[str] = []
            while index < length and text[index] != '"':
                if text[index] == "\\" and index + 1 < length:
                    index += 1
                chars.append(text[index])
                index += 1
            if index >= length:
                raise SipParseError("unterminated quoted string in auth parameters")
            index += 1
            value = "".join(chars)
        else:
            end = text.find(",", index)
            end = length if end < 0 else end
            value = text[index:end].strip()
            index = end
        if name:
            params[name] = value
    return params


# What we answer, weakest first.
ALGORITHMS = ("MD5", "SHA-256")


def _hash(algorithm: str, text: str) -> str:
    data = text.encode("utf-8")
    if algorithm == "SHA-256":
        return hashlib.sha256(data).hexdigest()
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def digest_response(
    *,
    username: str,
    password: str,
    realm: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str = "00000001",
    cnonce: str = "",
    algorithm: str = "MD5",
) -> str:
    def h(text: str) -> str:
        return _hash(algorithm, text)

    ha1 = h(f"{username}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    if qop:
        return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return h(f"{ha1}:{nonce}:{ha2}")


class DigestClient:
    """Answers challenges for one set of credentials, counting nonce uses."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self._counts: dict[str, int] = {}

    def can_answer(self, challenge: Challenge) -> bool:
        wanted = self._credentials.realm
        return challenge.algorithm.upper() in ALGORITHMS and (
            wanted is None or wanted == challenge.realm
        )

    def strongest(self, values: list[str]) -> Challenge | None:
        """Of a response's challenges (one per header line), the one to answer: the
        strongest algorithm we know in a realm we answer; unparseable ones are skipped."""
        usable: list[Challenge] = []
        for value in values:
            try:
                challenge = Challenge.parse(value)
            except SipParseError:
                continue
            if self.can_answer(challenge):
                usable.append(challenge)
        if not usable:
            return None
        return max(usable, key=lambda each: ALGORITHMS.index(each.algorithm.upper()))

    def authorization(self, challenge: Challenge, method: str, uri: str) -> str:
        """The value of Authorization or Proxy-Authorization for this request."""
        username = self._credentials.username
        algorithm = challenge.algorithm.upper()
        fields = [
            f'username="{username}"',
            f'realm="{challenge.realm}"',
            f'nonce="{challenge.nonce}"',
            f'uri="{uri}"',
        ]
        qop = "auth" if "auth" in challenge.qop else None
        if qop:
            count = self._counts.get(challenge.nonce, 0) + 1
            self._counts[challenge.nonce] = count
            nc = f"{count:08x}"
            cnonce = secrets.token_hex(8)
            response = digest_response(
                username=username,
                password=self._credentials.password,
                realm=challenge.realm,
                nonce=challenge.nonce,
                method=method,
                uri=uri,
                qop=qop,
                nc=nc,
                cnonce=cnonce,
                algorithm=algorithm,
            )
            fields += [
                f'response="{response}"',
                f"algorithm={algorithm}",
                f"qop={qop}",
                f"nc={nc}",
                f'cnonce="{cnonce}"',
            ]
        else:
            response = digest_response(
                username=username,
                password=self._credentials.password,
                realm=challenge.realm,
                nonce=challenge.nonce,
                method=method,
                uri=uri,
                algorithm=algorithm,
            )
            fields += [f'response="{response}"', f"algorithm={algorithm}"]
        if challenge.opaque is not None:
            fields.append(f'opaque="{challenge.opaque}"')
        return "Digest " + ", ".join(fields)
