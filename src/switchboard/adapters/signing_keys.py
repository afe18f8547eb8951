"""The keys that sign access tokens, kept out of the database.

Anyone who can read the database must not be able to mint tokens, so the key lives either in
configuration (``SWITCHBOARD_SECRET_KEY``: one key, no rotation) or in a key file of its own
(``SWITCHBOARD_SECRET_KEY_FILE``): JSON, mode 0600, replaced atomically (written beside it,
then renamed), created by whichever process first needs it (``link`` refuses to overwrite, so
two processes starting on a new database agree on one key).

A key file holds one signing key and the keys it replaced. ``rotate`` makes a new signing key
and gives the others a retirement time (now + the token lifetime): until then they still
verify the tokens they signed, which have all expired by then; after it they verify nothing,
and the next rotation removes them from the file. Tokens carry the key's ``kid`` in their
header; a token without one (signed before keys had ids) is tried against every live key.

A serving process notices a rotation made by another process (``switchboard keys rotate``):
it looks at the file's identity (inode, size, mtime) at most once a second, and at once when a
token names a ``kid`` it does not know.

Known holes: processes on different machines each make their own file unless the operator
shares it (or sets ``SWITCHBOARD_SECRET_KEY``); a token lifetime raised after a rotation
does not extend the retirement of keys already retiring.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from switchboard.domain.errors import ProvisioningError
from switchboard.service.ports import KeyRotation

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
RECHECK_S = 1.0


class KeyFileError(Exception):
    """The key file cannot be read, parsed or written; the message names the file."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: str
    created_at: float
    # When it stops verifying; ``None`` for the key that signs.
    retire_at: float | None = None

    def live(self, now: float) -> bool:
        return self.retire_at is None or self.retire_at > now


def new_key(now: float) -> SigningKey:
    return SigningKey(kid=secrets.token_hex(8), secret=secrets.token_urlsafe(48), created_at=now)


class ConfiguredKey:
    """``SWITCHBOARD_SECRET_KEY``: one key for every process given the same configuration."""

    def __init__(self, secret: str) -> None:
        # A kid from the secret, so processes given the same key name it alike; a digest of a
        # 32+ character secret reveals nothing usable about it.
        import hashlib

        kid = "c-" + hashlib.sha256(b"switchboard kid\0" + secret.encode()).hexdigest()[:16]
        self._key = SigningKey(kid=kid, secret=secret, created_at=0.0)

    def signing(self) -> SigningKey:
        return self._key

    def verifying(self, kid: str | None, now: float) -> list[SigningKey]:
        return [self._key] if kid in (None, self._key.kid) else []

    def version(self) -> int:
        return 0

    def rotate(self, now: datetime, *, retire_now: bool = False) -> KeyRotation:
        raise ProvisioningError(
            "the signing key is set by SWITCHBOARD_SECRET_KEY: change it in the configuration "
            "(tokens it signed stop working), or use a key file (SWITCHBOARD_SECRET_KEY_FILE) "
            "to rotate"
        )


class KeyFile:
    """The keys in one file; see the module's docstring."""

    def __init__(self, path: str | Path, token_lifetime_s: float) -> None:
        self.path = Path(path)
        self._lifetime_s = token_lifetime_s
        self._keys: list[SigningKey] = []
        self._identity: tuple[int, int, int] | None = None
        self._checked_at = 0.0
        self._version = 0

    # ------------------------------------------------------------------ reading

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise KeyFileError(f"key file {self.path}: {exc.strerror or exc}") from exc

    def load_or_create(self, now: datetime) -> bool:
        """Read the file, making it with a new key if there is none; True if this made it."""
        created = False
        with self._errors():
            if not self.path.exists():
                created = self._create([new_key(now.timestamp())])
            self._reload(force=True)
        if not self._keys or self._keys[0].retire_at is not None:
            raise KeyFileError(f"key file {self.path}: no signing key")
        return created

    def signing(self) -> SigningKey:
        self._reload()
        return self._keys[0]

    def verifying(self, kid: str | None, now: float) -> list[SigningKey]:
        self._reload()
        found = [k for k in self._keys if kid in (None, k.kid) and k.live(now)]
        if not found and kid is not None and self._reload(force=True):
            found = [k for k in self._keys if k.kid == kid and k.live(now)]
        return found

    def version(self) -> int:
        self._reload()
        return self._version

    def _reload(self, force: bool = False) -> bool:
        """Re-read the file if it changed; True if it was re-read."""
        moment = time.monotonic()
        if not force and moment - self._checked_at < RECHECK_S:
            return False
        self._checked_at = moment
        try:
            stat = os.stat(self.path)
            identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            if identity == self._identity:
                return False
            keys = _parse(self.path, self.path.read_bytes())
        except (OSError, KeyFileError) as exc:
            if not self._keys:
                if isinstance(exc, KeyFileError):
                    raise
                raise KeyFileError(f"key file {self.path}: {exc.strerror or exc}") from exc
            # Keep the keys in memory: a serving process outlives a file moved or broken
            # by hand, and says so (at most once a second).
            log.warning("key file %s: %s; keeping the keys read before", self.path, exc)
            return False
        if stat.st_mode & 0o077:
            log.warning(
                "key file %s is readable or writable by others (mode %o): chmod 600 it",
                self.path,
                stat.st_mode & 0o777,
            )
        self._keys = keys
        self._version += 1
        self._identity = identity
        return True

    # ------------------------------------------------------------------ writing

    def rotate(self, now: datetime, *, retire_now: bool = False) -> KeyRotation:
        """A new signing key; the others retire once their tokens have expired, or at once
        (``retire_now``: a leaked key; every token issued before stops working)."""
        at = now.timestamp()
        with self._errors(), self._locked() as keys:
            if retire_now:
                dropped, kept = [k.kid for k in keys], []
            else:
                dropped = [k.kid for k in keys if not k.live(at)]
                kept = [k for k in keys if k.live(at)]
            retire_at = at + self._lifetime_s
            retiring = [k if k.retire_at is not None else _retired(k, retire_at) for k in kept]
            fresh = new_key(at)
            self._replace([fresh, *retiring])
        self._reload(force=True)
        return KeyRotation(
            new_kid=fresh.kid,
            retiring={k.kid: _time(k.retire_at) for k in retiring if k.retire_at is not None},
            dropped=dropped,
        )

    def adopt(self, secret: str, now: datetime) -> None:
        """Take in a key that was kept in the database: it keeps signing if this file is new,
        else it verifies until the tokens it signed have expired."""
        at = now.timestamp()
        legacy = SigningKey(kid=secrets.token_hex(8), secret=secret, created_at=at)
        with self._errors():
            if not self.path.exists() and self._create([legacy]):
                return
        with self._errors(), self._locked() as keys:
            if any(k.secret == secret for k in keys):
                return
            self._replace([*keys, _retired(legacy, at + self._lifetime_s)])

    def _create(self, keys: list[SigningKey]) -> bool:
        """Write the file if there is none; False if another process made it first."""
        temporary = self._write_temporary(keys)
        try:
            os.link(temporary, self.path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            # No hard links here (some network and FUSE file systems): claim the name with
            # O_EXCL instead; another process may then, for a moment, see it empty.
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return False
            os.close(fd)
            os.replace(temporary, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        _sync_directory(self.path.parent)
        return True

    def _replace(self, keys: list[SigningKey]) -> None:
        os.replace(self._write_temporary(keys), self.path)
        _sync_directory(self.path.parent)

    def _write_temporary(self, keys: list[SigningKey]) -> Path:
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
        body = json.dumps({"version": FORMAT_VERSION, "keys": [_dump(k) for k in keys]}, indent=1)
        try:
            # 0600 from the first byte: never a moment when the secret is readable by others.
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise KeyFileError(f"key file {self.path}: {exc.strerror or exc}") from exc
        try:
            os.write(fd, body.encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        return temporary

    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[SigningKey]]:
        """The file's keys, under an exclusive lock on the file itself. A rotation replaces
        the file, so a waiter that wakes on the old inode opens the new one again."""
        while True:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except OSError as exc:
                raise KeyFileError(f"key file {self.path}: {exc.strerror or exc}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    current = os.stat(self.path).st_ino
                except FileNotFoundError:
                    current = -1
                if current == os.fstat(fd).st_ino:
                    with os.fdopen(os.dup(fd), "rb") as handle:
                        keys = _parse(self.path, handle.read())
                    yield keys
                    return
            finally:
                os.close(fd)


def _retired(key: SigningKey, at: float) -> SigningKey:
    return SigningKey(key.kid, key.secret, key.created_at, at)


def _time(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def _dump(key: SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "secret": key.secret,
        "created_at": _time(key.created_at).isoformat(),
        "retire_at": None if key.retire_at is None else _time(key.retire_at).isoformat(),
    }


def _parse(path: Path, raw: bytes) -> list[SigningKey]:
    try:
        data = json.loads(raw)
        keys = [
            SigningKey(
                kid=str(item["kid"]),
                secret=str(item["secret"]),
                created_at=datetime.fromisoformat(item["created_at"]).timestamp(),
                retire_at=(
                    None
                    if item.get("retire_at") is None
                    else datetime.fromisoformat(item["retire_at"]).timestamp()
                ),
            )
            for item in data["keys"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"key file {path}: not a Switchboard key file ({exc})") from exc
    if not keys:
        raise KeyFileError(f"key file {path}: holds no key")
    return keys


def _sync_directory(directory: Path) -> None:
    """The rename is durable only once the directory is."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def default_key_file(database_dialect: str, database_target: str) -> str:
    """Beside a SQLite database (``switchboard.db.key``); ``./switchboard.key`` otherwise."""
    if database_dialect == "sqlite":
        return database_target + ".key"
    return "switchboard.key"
