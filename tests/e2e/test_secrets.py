"""Secrets on disk and on the wire, against the real server process: owner-only files, the
signing key out of the database and rotated by the operator, HTTPS served directly."""

from __future__ import annotations

import json
import os
import sqlite3
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.e2e.test_server import KEY, Server, cli
from tests.support.certs import Leaf, TestCa, openssl_available


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The most permissive umask for the processes started here: whatever is private is so
    by the server's own doing."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_and_key_files_are_owner_only(tmp_path: Path, loose_umask: None) -> None:
    path = tmp_path / "private.db"
    server = Server(f"sqlite:///{path}", "--demo")
    try:
        token = server.lines["Bearer token"]
        with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}) as c:
            placed = c.post(
                f"/v0/{KEY}/calls/",
                json={"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072060408"}},
            )
            assert placed.status_code == 201
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.key")]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        server.stop()


def test_an_older_world_readable_database_is_made_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    os.chmod(path, 0o644)
    cli(f"sqlite:///{path}", "accounts", "list")
    assert mode(path) == 0o600


def test_the_database_holds_no_signing_key(tmp_path: Path) -> None:
    path = tmp_path / "keyless.db"
    server = Server(f"sqlite:///{path}", "--demo")
    server.stop()
    key_file = Path(f"{path}.key")
    secrets = [k["secret"] for k in json.loads(key_file.read_text())["keys"]]
    assert secrets
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name != key_file.name)
    assert not any(secret.encode() in stored for secret in secrets)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT * FROM settings").fetchall() == []


def test_keys_rotate_while_serving_keeps_old_tokens_and_signs_with_the_new_key(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'rotate.db'}"
    server = Server(db, "--demo")
    try:
        old = server.lines["Bearer token"]
        rotated = cli(db, "keys", "rotate")
        new_kid = rotated.splitlines()[0].removeprefix("signing key: ")
        assert new_kid != jwt.get_unverified_header(old)["kid"]
        assert f": {jwt.get_unverified_header(old)['kid']}" in rotated
        time.sleep(1.2)  # the server looks at the key file at most once a second
        with httpx.Client(base_url=server.base) as client:
            issued = client.post(
                "/v0/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(KEY, server.lines["API token"]),
            ).json()["access_token"]
            assert jwt.get_unverified_header(issued)["kid"] == new_kid
            for token in (old, issued):
                got = client.get(
                    f"/v0/{KEY}/agents/1234", headers={"Authorization": f"Bearer {token}"}
                )
                assert got.status_code == 200
        assert cli(db, "token", KEY)  # the CLI signs with the new key too
    finally:
        server.stop()


def test_keys_rotate_with_a_configured_key_says_why_not(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "switchboard", "keys", "rotate"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "SWITCHBOARD_SECRET_KEY": "s" * 40},
    )
    assert done.returncode == 1
    assert "SWITCHBOARD_SECRET_KEY" in done.stderr and "Traceback" not in done.stderr


# --------------------------------------------------------------------------- TLS


def served_certificate(directory: Path) -> tuple[TestCa, Leaf]:
    """A CA (what the client trusts) and the certificate it signs for 127.0.0.1."""
    if not openssl_available():
        pytest.skip("openssl is not installed (.ci/run installs it)")
    ca = TestCa(directory)
    return ca, ca.issue("server", ["127.0.0.1"])


def test_https_is_served_when_a_certificate_and_key_are_configured(tmp_path: Path) -> None:
    ca, leaf = served_certificate(tmp_path / "pki")
    env = {
        "SWITCHBOARD_TLS_CERTIFICATE_FILE": str(leaf.cert),
        "SWITCHBOARD_TLS_KEY_FILE": str(leaf.key),
    }
    server = Server(f"sqlite:///{tmp_path / 'tls.db'}", "--demo", env=env)
    try:
        assert server.base.startswith("https://127.0.0.1:")
        token = server.lines["Bearer token"]
        with httpx.Client(
            base_url=server.base,
            verify=ssl.create_default_context(cafile=str(ca.cert)),
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            placed = client.post(
                f"/v0/{KEY}/calls/",
                json={"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072060408"}},
            )
            assert placed.status_code == 201
            assert placed.headers["location"].startswith(server.base + "/")
        plain = server.base.replace("https://", "http://")
        with pytest.raises(httpx.HTTPError), httpx.Client() as client:
            client.get(f"{plain}/v0/{KEY}/agents/1234")
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("SWITCHBOARD_TLS_CERTIFICATE_FILE", "missing"),
        ("SWITCHBOARD_TLS_CERTIFICATE_FILE", "garbage"),
        ("SWITCHBOARD_TLS_KEY_FILE", "missing"),
        ("SWITCHBOARD_TLS_KEY_FILE", "garbage"),
        ("SWITCHBOARD_TLS_KEY_FILE", "another key"),
        ("SWITCHBOARD_TLS_KEY_FILE", "unset"),
    ],
)
def test_a_bad_tls_file_stops_the_start_naming_its_setting(
    tmp_path: Path, setting: str, problem: str
) -> None:
    ca, leaf = served_certificate(tmp_path / "pki")
    env = {
        "SWITCHBOARD_TLS_CERTIFICATE_FILE": str(leaf.cert),
        "SWITCHBOARD_TLS_KEY_FILE": str(leaf.key),
    }
    if problem == "missing":
        env[setting] = str(tmp_path / "absent.pem")
    elif problem == "garbage":
        (tmp_path / "garbage.pem").write_text("not a PEM file\n")
        env[setting] = str(tmp_path / "garbage.pem")
    elif problem == "another key":
        env[setting] = str(ca.issue("other", ["127.0.0.1"]).key)
    else:
        del env[setting]
    done = subprocess.run(
        [sys.executable, "-m", "switchboard", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, **env},
    )
    assert done.returncode == 1, done.stdout
    assert done.stderr.startswith(f"error: {setting}: {env.get(setting, 'required')}"), done.stderr
    assert "Traceback" not in done.stderr and "Listening" not in done.stdout


# --------------------------------------------------------------------------- guessing


def test_guessing_at_the_real_server_is_refused_and_logged_once(tmp_path: Path) -> None:
    server = Server(f"sqlite:///{tmp_path / 'guess.db'}", "--demo")
    try:
        guesser = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        with guesser:
            statuses = [
                guesser.post(
                    f"{server.base}/v0/oauth2/token",
                    data={"grant_type": "client_credentials"},
                    auth=(KEY, f"guess-{n}"),
                )
                for n in range(40)
            ]
        assert [r.status_code for r in statuses] == [401] * 10 + [429] * 30
        assert all(int(r.headers["retry-after"]) >= 1 for r in statuses[10:])
        with httpx.Client() as right:  # the right credentials from 127.0.0.1
            served = right.post(
                f"{server.base}/v0/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(KEY, server.lines["API token"]),
            )
        assert served.status_code == 200
    finally:
        server.stop()
    reports = [line for line in server.stderr.splitlines() if "token requests:" in line]
    assert len(reports) == 1, reports


async def test_a_new_key_file_for_a_provisioned_database_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A second machine on a shared database makes its own key file: say so at start."""
    from switchboard.bootstrap import build
    from switchboard.config import load_settings

    db = f"sqlite:///{tmp_path / 'shared.db'}"
    cli(db, "accounts", "create", "acme")
    settings = load_settings(database_url=db, secret_key_file=str(tmp_path / "elsewhere.key"))
    with caplog.at_level("WARNING", logger="switchboard.bootstrap"):
        runtime = await build(settings, open_engine=False)
        await runtime.close()
        again = await build(settings, open_engine=False)  # the file exists now: no warning
        await again.close()
    warnings = [r.getMessage() for r in caplog.records if "new signing key" in r.getMessage()]
    assert len(warnings) == 1 and "elsewhere.key" in warnings[0]


def test_a_configured_key_and_a_key_file_together_are_refused_by_name(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "switchboard", "accounts", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={
            **os.environ,
            "SWITCHBOARD_SECRET_KEY": "s" * 40,
            "SWITCHBOARD_SECRET_KEY_FILE": str(tmp_path / "sb.key"),
        },
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: SWITCHBOARD_SECRET_KEY_FILE: set either it or")
    assert not (tmp_path / "sb.key").exists()
