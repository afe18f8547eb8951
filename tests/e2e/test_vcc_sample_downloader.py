"""VCC's own sample downloader (``interaction-content-download`` from VCC's public Node code
snippets) run with node against the real server, with only its two base URLs changed.

Its sources are not part of this repository: set ``SWITCHBOARD_TEST_ICS_SAMPLE_DIR`` to a
checkout of that folder with its ``node_modules`` installed (``npm install``); without it the
test is skipped, and ``test_interaction_content_sample.py`` replays the same requests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_server import KEY, Server

SAMPLE = os.environ.get("SWITCHBOARD_TEST_ICS_SAMPLE_DIR")
pytestmark = pytest.mark.skipif(
    not SAMPLE or shutil.which("node") is None,
    reason="SWITCHBOARD_TEST_ICS_SAMPLE_DIR (VCC's sample with node_modules) and node needed",
)
ENV = {"SWITCHBOARD_SIMULATOR_TALK_SECONDS": "1", "SWITCHBOARD_SIMULATOR_ANSWER_MS": "200"}
OIDC = re.compile(r"https://\$\{region\}\.newvoicemedia\.com/Auth")
ICS = re.compile(r"https://\$\{region\}\.api\.newvoicemedia\.com/interaction-content")


def _sample_pointed_at(base: str, where: Path, secret: str) -> Path:
    """A copy of the sample whose two base-URL functions name ``base``."""
    assert SAMPLE is not None
    copy = where / "sample"
    shutil.copytree(SAMPLE, copy, ignore=shutil.ignore_patterns("node_modules", "download", ".env"))
    (copy / "node_modules").symlink_to(Path(SAMPLE, "node_modules").resolve())
    edited = {"oidc": 0, "ics": 0}
    for source in copy.glob("*.js"):
        text = source.read_text()
        text, oidc = OIDC.subn(f"{base}/Auth", text)
        text, ics = ICS.subn(f"{base}/interaction-content", text)
        edited["oidc"] += oidc
        edited["ics"] += ics
        source.write_text(text)
    assert edited["oidc"] >= 1 and edited["ics"] >= 1, edited
    (copy / ".env").write_text(
        f"CLIENT_ID={KEY}\nCLIENT_SECRET={secret}\nREGION=emea\nDOWNLOAD_FOLDER=download\n"
    )
    return copy


def _node(sample: Path, *args: str) -> str:
    done = subprocess.run(
        ["node", "app.js", *args], cwd=sample, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_vccs_sample_downloads_our_recordings(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'e2e.db'}"
    server = Server(db, "--demo", env=ENV)
    try:
        v0 = {
            "Authorization": f"Bearer {server.lines['Bearer token']}",
            "Content-Type": "application/json; version=6",
        }
        calls = []
        with httpx.Client(base_url=server.base, timeout=10) as client:
            for agent in ("1234", "4567"):
                placed = client.post(
                    f"/v0/{KEY}/calls",
                    json={"from": {"agentId": agent}, "to": {"telephoneNumber": "02072068888"}},
                    headers=v0,
                )
                assert placed.status_code == 201, placed.text
                calls.append(placed.json()["id"])
        stored = tmp_path / "recordings" / KEY
        deadline = time.monotonic() + 30
        while not all((stored / f"{c}.json").exists() for c in calls):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        sample = _sample_pointed_at(server.base, tmp_path, server.lines["API token"])
        day = time.strftime("%Y-%m-%d", time.gmtime())
        out = _node(sample, "-s", f"{day}T00:00:00Z", "-e", f"{day}T23:59:59Z")
        assert "All Done" in out, out
        for call_id in calls:
            saved = sample / "download" / f"{call_id}_callRecording.wav"
            assert saved.read_bytes() == (stored / f"{call_id}.wav").read_bytes()
        # The GUID-file mode: an unknown GUID is skipped (404), the known one downloaded.
        shutil.rmtree(sample / "download")
        (sample / "guids.txt").write_text(f"017db4a2-44b5-672e-8b9f-1a805fed07ad\n{calls[0]}\n")
        out = _node(sample, "-f", "guids.txt")
        assert "All done" in out, out
        assert [p.name for p in (sample / "download").iterdir()] == [
            f"{calls[0]}_callRecording.wav"
        ]
    finally:
        server.stop()
