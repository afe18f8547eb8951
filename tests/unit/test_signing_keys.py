"""The signing keys in their key file: modes, rotation, retirement, several processes."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import jwt
import pytest

from switchboard.adapters.signing_keys import ConfiguredKey, KeyFile, KeyFileError
from switchboard.adapters.tokens import JwtAccessTokens
from switchboard.domain.errors import InvalidAccessToken, ProvisioningError
from tests.fakes.clock import FakeClock

TTL = 3600


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The most permissive umask: whatever is private is so by its own doing."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def open_keys(path: Path, clock: FakeClock) -> tuple[KeyFile, JwtAccessTokens]:
    keys = KeyFile(path, TTL)
    keys.load_or_create(clock.now())
    return keys, JwtAccessTokens(keys, TTL)


def test_a_new_key_file_is_owner_only_even_under_a_loose_umask(
    tmp_path: Path, loose_umask: None
) -> None:
    path = tmp_path / "sb.key"
    open_keys(path, FakeClock())
    assert mode(path) == 0o600
    KeyFile(path, TTL).rotate(FakeClock().now())
    assert mode(path) == 0o600  # replaced, still private
    assert [p.name for p in tmp_path.iterdir()] == ["sb.key"]  # no temporary left behind


def test_tokens_name_the_key_that_signed_them(tmp_path: Path) -> None:
    clock = FakeClock()
    keys, tokens = open_keys(tmp_path / "sb.key", clock)
    token, _ = tokens.issue("acme", 1, clock.now())
    assert kid_of(token) == keys.signing().kid
    assert tokens.verify(token, clock.now()) == ("acme", 1)


def test_after_a_rotation_the_new_key_signs_and_the_old_still_verifies(tmp_path: Path) -> None:
    clock = FakeClock()
    keys, tokens = open_keys(tmp_path / "sb.key", clock)
    old, _ = tokens.issue("acme", 1, clock.now())
    old_kid = kid_of(old)

    clock.advance(600)
    rotation = keys.rotate(clock.now())
    new, _ = tokens.issue("acme", 1, clock.now())

    assert kid_of(new) == rotation.new_kid != old_kid
    assert rotation.retiring == {old_kid: clock.now() + timedelta(seconds=TTL)}
    assert tokens.verify(old, clock.now()) == ("acme", 1)
    assert JwtAccessTokens(KeyFile(tmp_path / "sb.key", TTL)).verify(old, clock.now())


def test_a_retired_key_verifies_nothing_and_the_next_rotation_drops_it(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "sb.key"
    keys, tokens = open_keys(path, clock)
    old_kid = keys.signing().kid
    old_secret = keys.signing().secret
    keys.rotate(clock.now())
    # A token signed by the old key that outlives the key's retirement (a forged one, or one
    # issued under a longer lifetime): refused once the key has retired.
    long_lived = jwt.encode(
        {"iss": "switchboard", "sub": "acme", "gen": 1, "exp": 4102444800},
        old_secret,
        algorithm="HS256",
        headers={"kid": old_kid},
    )
    assert tokens.verify(long_lived, clock.now()) == ("acme", 1)  # cached from here on

    clock.advance(TTL + 1)
    with pytest.raises(InvalidAccessToken):
        tokens.verify(long_lived, clock.now())
    with pytest.raises(InvalidAccessToken):
        JwtAccessTokens(KeyFile(path, TTL)).verify(long_lived, clock.now())

    rotation = keys.rotate(clock.now())
    assert rotation.dropped == [old_kid]
    stored = [k["kid"] for k in json.loads(path.read_text())["keys"]]
    assert old_kid not in stored and len(stored) == 2


def test_a_rotation_by_another_process_is_seen_at_once(tmp_path: Path) -> None:
    """``switchboard keys rotate`` in one process; a server in another verifies the tokens
    another server signs with the new key, though it has not looked at the file since."""
    clock = FakeClock()
    path = tmp_path / "sb.key"
    _, server = open_keys(path, clock)
    other_keys, other_server = open_keys(path, clock)
    server.issue("acme", 1, clock.now())  # the server has read the file

    KeyFile(path, TTL).rotate(clock.now())
    other_keys._reload(force=True)
    token, _ = other_server.issue("acme", 1, clock.now())
    assert server.verify(token, clock.now()) == ("acme", 1)


def test_processes_making_the_key_file_at_once_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "sb.key"
    clock = FakeClock()

    def start() -> str:
        keys = KeyFile(path, TTL)
        keys.load_or_create(clock.now())
        return keys.signing().kid

    with ThreadPoolExecutor(8) as pool:
        kids = set(pool.map(lambda _: start(), range(16)))
    assert len(kids) == 1


def test_concurrent_rotations_lose_no_key(tmp_path: Path) -> None:
    path = tmp_path / "sb.key"
    clock = FakeClock()
    open_keys(path, clock)
    with ThreadPoolExecutor(4) as pool:
        made = set(pool.map(lambda _: KeyFile(path, TTL).rotate(clock.now()).new_kid, range(8)))
    stored = {k["kid"] for k in json.loads(path.read_text())["keys"]}
    assert made <= stored and len(stored) == 9


def test_a_token_from_before_key_ids_verifies_against_the_key_that_signed_it(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    keys = KeyFile(tmp_path / "sb.key", TTL)
    keys.adopt("legacy-secret-" + "x" * 40, clock.now())
    keys.load_or_create(clock.now())
    legacy = jwt.encode(
        {"iss": "switchboard", "sub": "acme", "gen": 1, "exp": clock.now().timestamp() + 60},
        "legacy-secret-" + "x" * 40,
        algorithm="HS256",
    )
    assert JwtAccessTokens(keys).verify(legacy, clock.now()) == ("acme", 1)
    assert keys.signing().secret == "legacy-secret-" + "x" * 40  # a new file: it still signs


def test_adopting_into_an_existing_file_keeps_its_signing_key(tmp_path: Path) -> None:
    clock = FakeClock()
    keys, _ = open_keys(tmp_path / "sb.key", clock)
    signing = keys.signing().kid
    keys.adopt("legacy-secret-" + "x" * 40, clock.now())
    keys.adopt("legacy-secret-" + "x" * 40, clock.now())  # twice: held once
    keys._reload(force=True)
    assert keys.signing().kid == signing
    assert len(keys.verifying(None, clock.now().timestamp())) == 2


def test_a_configured_key_cannot_be_rotated_and_verifies_its_old_tokens() -> None:
    clock = FakeClock()
    configured = ConfiguredKey("c" * 40)
    with pytest.raises(ProvisioningError, match="SWITCHBOARD_SECRET_KEY"):
        configured.rotate(clock.now())
    before_kids = jwt.encode(
        {"iss": "switchboard", "sub": "acme", "gen": 1, "exp": clock.now().timestamp() + 60},
        "c" * 40,
        algorithm="HS256",
    )
    assert JwtAccessTokens("c" * 40).verify(before_kids, clock.now()) == ("acme", 1)


def test_a_file_that_is_not_a_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "sb.key"
    path.write_text("not json")
    with pytest.raises(KeyFileError, match=str(path)):
        KeyFile(path, TTL).load_or_create(FakeClock().now())


def test_a_token_verified_before_a_rotation_elsewhere_dies_with_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A leaked key: a forged long-lived token, accepted (and remembered) before the operator
    rotated in another process, is refused once the old key has retired."""
    clock = FakeClock()
    path = tmp_path / "sb.key"
    keys, tokens = open_keys(path, clock)
    forged = jwt.encode(
        {"iss": "switchboard", "sub": "acme", "gen": 1, "exp": 4102444800},
        keys.signing().secret,
        algorithm="HS256",
        headers={"kid": keys.signing().kid},
    )
    assert tokens.verify(forged, clock.now()) == ("acme", 1)

    KeyFile(path, TTL).rotate(clock.now())
    monkeypatch.setattr("switchboard.adapters.signing_keys.RECHECK_S", 0.0)  # a second later
    assert tokens.verify(forged, clock.now()) == ("acme", 1)  # retiring: still verifies
    clock.advance(TTL + 1)
    with pytest.raises(InvalidAccessToken):
        tokens.verify(forged, clock.now())


def test_rotating_with_retire_now_ends_every_earlier_token(tmp_path: Path) -> None:
    clock = FakeClock()
    keys, tokens = open_keys(tmp_path / "sb.key", clock)
    old, _ = tokens.issue("acme", 1, clock.now())
    old_kid = kid_of(old)
    assert tokens.verify(old, clock.now()) == ("acme", 1)
    rotation = keys.rotate(clock.now(), retire_now=True)
    assert rotation.dropped == [old_kid] and rotation.retiring == {}
    with pytest.raises(InvalidAccessToken):
        tokens.verify(old, clock.now())
    fresh, _ = tokens.issue("acme", 1, clock.now())
    assert tokens.verify(fresh, clock.now()) == ("acme", 1)


def test_a_key_file_is_made_where_hard_links_are_not_supported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: object, target: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    open_keys(tmp_path / "sb.key", FakeClock())
    assert mode(tmp_path / "sb.key") == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["sb.key"]
    assert KeyFile(tmp_path / "sb.key", TTL).load_or_create(FakeClock().now()) is False


def test_a_key_file_others_can_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "sb.key"
    open_keys(path, FakeClock())
    os.chmod(path, 0o644)
    with caplog.at_level("WARNING", logger="switchboard.adapters.signing_keys"):
        KeyFile(path, TTL).load_or_create(FakeClock().now())
    assert any("chmod 600" in r.getMessage() for r in caplog.records)
