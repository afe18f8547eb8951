"""The Interaction Content API on the real server: a simulated call's recording is searched
and downloaded over HTTP (streamed in chunks, ``Range``, ``HEAD``), and a content token
outlives a restart."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.e2e.test_server import KEY, Server

V3 = {"Accept": "application/vnd.newvoicemedia.v3+json", "x-nvm-application": "node-sample"}
ENV = {"SWITCHBOARD_SIMULATOR_TALK_SECONDS": "3", "SWITCHBOARD_SIMULATOR_ANSWER_MS": "200"}


def _token(client: httpx.Client, secret: str) -> str:
    response = client.post(
        "/Auth/connect/token",
        data={"grant_type": "client_credentials", "scope": "interaction-content:read"},
        auth=(KEY, secret),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_a_recording_is_searched_and_downloaded_over_http(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'e2e.db'}"
    server = Server(db, "--demo", env=ENV)
    try:
        secret = server.lines["API token"]
        v0 = {"Authorization": f"Bearer {server.lines['Bearer token']}"}
        with httpx.Client(base_url=server.base, timeout=10) as client:
            placed = client.post(
                f"/v0/{KEY}/calls",
                json={"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}},
                headers={**v0, "Content-Type": "application/json; version=6"},
            )
            assert placed.status_code == 201, placed.text
            call_id = placed.json()["id"]
            deadline = time.monotonic() + 20
            while client.get(f"/v0/{KEY}/calls/{call_id}", headers=v0).json()["result"] is None:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            wav = tmp_path / "recordings" / KEY / f"{call_id}.wav"
            while not wav.exists():  # kept just after the call's end is committed
                assert time.monotonic() < deadline
                time.sleep(0.05)
            stored = wav.read_bytes()
            assert len(stored) > 64 * 1024  # more than one chunk of the stream
            token = _token(client, secret)
            auth = {**V3, "Authorization": f"Bearer {token}"}
            day = time.strftime("%Y-%m-%d", time.gmtime())
            found = client.get(
                "/interaction-content/interactions",
                params={"start": f"{day}T00:00:00.000Z", "end": f"{day}T23:59:59.999Z"},
                headers=auth,
            ).json()
            assert [i["guid"] for i in found["items"]] == [call_id]
            assert found["items"][0]["content"][0]["contentLength"] == len(stored)
            url = f"/interaction-content/interactions/{call_id}/content/callRecording"
            whole = client.get(url, headers=auth)
            assert (whole.status_code, whole.content) == (200, stored)
            part = client.get(url, headers={**auth, "Range": "bytes=65530-65549"})
            assert (part.status_code, part.content) == (206, stored[65530:65550])
            head = client.head(url, headers=auth)
            assert head.headers["content-length"] == str(len(stored)) and head.content == b""
        assert server.stop() == 0
        again = Server(db, env=ENV)
        try:
            with httpx.Client(base_url=again.base, timeout=10) as client:
                response = client.get(f"/interaction-content/interactions/{call_id}", headers=auth)
                assert response.status_code == 200, response.text
        finally:
            again.stop()
    finally:
        server.stop()
