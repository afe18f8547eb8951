"""Access tokens (JWT, HS256) and API secrets (random, stored as SHA-256 digests).

Tokens name their signing key in the header (``kid``); the keys come from ``signing_keys``
(a key file that can be rotated, or a configured key).

Access tokens carry the account's token generation rather than a time: a new API token bumps
the generation and so revokes every access token issued before it. API secrets are 256-bit
random strings, so an unsalted fast digest is the right tool (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Protocol

from switchboard.adapters.signing_keys import ConfiguredKey, SigningKey
from switchboard.domain.errors import InvalidAccessToken

ALGORITHM = "HS256"
ISSUER = "switchboard"
VERIFIED_KEPT = 10_000


class KeyRing(Protocol):
    def signing(self) -> SigningKey: ...

    def verifying(self, kid: str | None, now: float) -> list[SigningKey]:
        """The live keys named ``kid`` (every live key for ``None``)."""

    def version(self) -> int:
        """Changes whenever the keys do (a rotation)."""


class JwtAccessTokens:
    def __init__(self, keys: KeyRing | str, lifetime_s: int = 3600) -> None:
        self._keys = ConfiguredKey(keys) if isinstance(keys, str) else keys
        self._lifetime_s = lifetime_s
        self._verified: dict[str, tuple[str, int, float, tuple[str, ...]]] = {}
        self._keys_version = self._keys.version()

    def issue(
        self,
        account_key: str,
        generation: int,
        now: datetime,
        *,
        scopes: tuple[str, ...] = (),
        lifetime_s: int | None = None,
    ) -> tuple[str, int]:
        lifetime = self._lifetime_s if lifetime_s is None else lifetime_s
        claims: dict[str, object] = {
            "iss": ISSUER,
            "sub": account_key,
            "gen": generation,
            "iat": int(now.timestamp()),
            "exp": now + timedelta(seconds=lifetime),
            "jti": secrets.token_hex(8),
        }
        if scopes:  # a scoped token (the Interaction Content API's) is not a V0 token
            claims["scope"] = " ".join(scopes)
        import jwt  # here: one-shot commands that issue no token need not load it

        key = self._keys.signing()
        token = jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})
        return token, lifetime

    def verify(self, token: str, now: datetime) -> tuple[str, int]:
        """A V0 token: one with scopes (issued for the Interaction Content API) is refused."""
        subject, generation, scopes = self.verify_scoped(token, now)
        if scopes:
            raise InvalidAccessToken(token_sent=True)
        return subject, generation

    def verify_scoped(self, token: str, now: datetime) -> tuple[str, int, tuple[str, ...]]:
        # A signature is checked once per token: the claims of a token already verified are
        # kept (bounded), keyed by the whole token, and only its expiry is checked again.
        # Forgotten when the keys change: a key that has since retired (a leaked one) must
        # not go on vouching for the tokens it signed, forged long-lived ones included.
        version = self._keys.version()
        if version != self._keys_version:
            self._verified.clear()
            self._keys_version = version
        known = self._verified.get(token)
        if known is not None:
            subject, generation, exp, scopes = known
            if exp <= now.timestamp():
                raise InvalidAccessToken(token_sent=True)
            return subject, generation, scopes
        subject, generation, exp, scopes = self._verify(token, now)
        if len(self._verified) >= VERIFIED_KEPT:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = (subject, generation, exp, scopes)
        return subject, generation, scopes

    def _verify(self, token: str, now: datetime) -> tuple[str, int, float, tuple[str, ...]]:
        import jwt

        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise InvalidAccessToken(token_sent=True) from exc
        if kid is not None and not isinstance(kid, str):
            raise InvalidAccessToken(token_sent=True)
        for key in self._keys.verifying(kid, now.timestamp()):
            try:
                claims = jwt.decode(
                    token,
                    key.secret,
                    algorithms=[ALGORITHM],
                    issuer=ISSUER,
                    options={
                        "verify_exp": False,
                        "verify_iat": False,
                        "verify_nbf": False,
                        "require": ["sub", "gen", "exp"],
                    },
                )
            except jwt.InvalidSignatureError:
                continue  # a token without a kid: try the next key
            except jwt.PyJWTError as exc:
                raise InvalidAccessToken(token_sent=True) from exc
            break
        else:
            raise InvalidAccessToken(token_sent=True)
        exp, subject, generation = claims.get("exp"), claims.get("sub"), claims.get("gen")
        # Expiry is checked against our clock, not the library's, so tests can move time.
        if not isinstance(exp, int | float) or exp <= now.timestamp():
            raise InvalidAccessToken(token_sent=True)
        if not isinstance(subject, str) or not isinstance(generation, int):
            raise InvalidAccessToken(token_sent=True)
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise InvalidAccessToken(token_sent=True)
        # A retiring key's tokens are not honoured past its retirement, even from the cache.
        if key.retire_at is not None:
            exp = min(float(exp), key.retire_at)
        return subject, generation, float(exp), tuple(scope.split())


class Sha256SecretHasher:
    def new_secret(self) -> str:
        return secrets.token_urlsafe(32)

    def hash(self, secret: str) -> str:
        return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()

    def matches(self, secret: str, hashed: str) -> bool:
        return hmac.compare_digest(self.hash(secret), hashed)
