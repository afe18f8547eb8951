"""The Interaction Content API (``interaction-content.md``): tokens, search and paging,
one interaction, the download with ``Range``, errors in their order, the rate limit; and
the simulator's synthetic recording, whose timing follows the V0 recording state."""

from __future__ import annotations

import io
import json
import logging
import wave
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchboard.domain.calls import Party
from switchboard.service.content_limit import ContentRateLimit
from tests.support.harness import Harness

KEY = "a1b2c3d4e5"
V3 = "application/vnd.newvoicemedia.v3+json"
BASE = "/interaction-content"
TO_NUMBER = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}
TO_AGENT = {"from": {"agentId": "1234"}, "to": {"agentId": "4567"}}
GUID_NOT_KNOWN = "017db4a2-44b5-672e-8b9f-1a805fed07ad"


# --------------------------------------------------------------------------- helpers


async def content_token(
    sb: Harness, key: str = KEY, secret: str | None = None, scope: str = "interaction-content:read"
) -> str:
    response = await sb.client.post(
        "/Auth/connect/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(key, secret or sb.api_token),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def ics_headers(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": V3, **extra}


async def set_recording(sb: Harness, call_id: str, status: str, key: str = KEY) -> None:
    response = await sb.client.post(
        f"/v0/{key}/calls/{call_id}",
        json={"recordingStatus": status},
        headers=await sb.headers(key),
    )
    assert response.status_code == 202, response.text


async def recorded_call(
    sb: Harness, body: dict[str, Any] = TO_NUMBER, talk: float = 2.0, key: str = KEY
) -> str:
    """Placed, connected (recording starts: the account records), ``talk`` s, ended."""
    response = await sb.place(body, key)
    assert response.status_code == 201, response.text
    call_id: str = response.json()["id"]
    await sb.advance(2.0)  # the agent answers, then the destination: connected
    await sb.advance(talk)
    await sb.end(call_id, Party.ORIGINATOR, key)
    await sb.advance(0.1)
    return call_id


def recordings_dir(sb: Harness) -> Path:
    return Path(sb.runtime.settings.recording_dir)


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as audio:
        assert audio.getnchannels() == 2 and audio.getsampwidth() == 2
        assert audio.getframerate() == 8000
        return audio.getnframes() / audio.getframerate()


async def search(sb: Harness, token: str, **params: Any) -> httpx.Response:
    return await sb.client.get(f"{BASE}/interactions", params=params, headers=ics_headers(token))


def day_of(sb: Harness) -> dict[str, str]:
    day = sb.clock.now().date().isoformat()
    return {"start": f"{day}T00:00:00.000Z", "end": f"{day}T23:59:59.999Z"}


# --------------------------------------------------------------------------- the recording


async def test_the_simulated_recording_follows_the_recording_state(sb: Harness) -> None:
    response = await sb.place(TO_NUMBER)
    call_id = response.json()["id"]
    await sb.advance(2.0)  # connected: Started (the account records its calls)
    assert (await sb.get_call(call_id))["recordingStatus"] == "Started"
    await sb.advance(3.0)
    await set_recording(sb, call_id, "Paused")
    await sb.advance(2.0)
    await set_recording(sb, call_id, "Started")
    await sb.advance(2.0)
    await sb.end(call_id, Party.ORIGINATOR)

    folder = recordings_dir(sb) / KEY
    meta = json.loads((folder / f"{call_id}.json").read_text())
    audio = (folder / f"{call_id}.wav").read_bytes()
    assert abs(wav_seconds(audio) - 5.0) <= 0.3
    assert abs(meta["durationSeconds"] - 5.0) <= 0.3
    [pause] = meta["pauses"]
    assert abs(pause["offsetSeconds"] - 3.0) <= 0.3
    paused = sb.clock.now() - timedelta(seconds=4)
    assert abs(_at(pause["pausedAt"]) - paused.timestamp()) <= 0.3
    assert abs(_at(pause["resumedAt"]) - (paused.timestamp() + 2)) <= 0.3
    assert [p["role"] for p in meta["parties"]] == ["agent", "destination"]
    assert (folder / f"{call_id}.wav").stat().st_mode & 0o777 == 0o600


def _at(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


async def test_each_party_has_its_own_tone(sb: Harness) -> None:
    call_id = await recorded_call(sb, talk=1.0)
    with wave.open(str(recordings_dir(sb) / KEY / f"{call_id}.wav")) as audio:
        frames = audio.readframes(8000)
    import array

    samples = array.array("h", frames)
    agent, destination = samples[0::2], samples[1::2]

    def crossings(channel: Any) -> int:
        return sum(1 for a, b in zip(channel, channel[1:], strict=False) if a < 0 <= b)

    assert abs(crossings(agent) - 440) <= 2
    assert abs(crossings(destination) - 660) <= 2


async def test_a_pause_until_the_end_is_in_the_metadata(sb: Harness) -> None:
    call_id = (await sb.place(TO_NUMBER)).json()["id"]
    await sb.advance(2.0)
    await sb.advance(1.5)
    await set_recording(sb, call_id, "Paused")
    await sb.advance(1.0)
    await sb.end(call_id, Party.ORIGINATOR)
    meta = json.loads((recordings_dir(sb) / KEY / f"{call_id}.json").read_text())
    assert abs(meta["durationSeconds"] - 1.5) <= 0.3
    assert meta["pauses"][0]["resumedAt"] is None


async def test_two_party_consent_keeps_no_file(sb: Harness) -> None:
    body = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}
    body["to"]["consent"] = "TwoParty"
    call_id = (await sb.place(body)).json()["id"]
    await sb.advance(2.0)
    await set_recording(sb, call_id, "Started")  # the API may say so; nothing is recorded
    await sb.advance(2.0)
    await sb.end(call_id, Party.ORIGINATOR)
    assert not (recordings_dir(sb) / KEY / f"{call_id}.wav").exists()
    assert not (recordings_dir(sb) / KEY / f"{call_id}.json").exists()
    token = await content_token(sb)
    response = await sb.client.get(f"{BASE}/interactions/{call_id}", headers=ics_headers(token))
    assert response.status_code == 404


async def test_a_call_paused_before_connection_keeps_no_file(sb: Harness) -> None:
    call_id = (await sb.place(TO_NUMBER)).json()["id"]
    await set_recording(sb, call_id, "Paused")
    await sb.advance(4.0)
    await sb.end(call_id, Party.ORIGINATOR)
    assert not (recordings_dir(sb) / KEY / f"{call_id}.json").exists()


async def test_retention_deletes_recordings_and_logs_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support.harness import close_harness, open_harness

    sb = await open_harness(tmp_path, recording_retention_seconds=120)
    try:
        call_id = await recorded_call(sb)
        assert (recordings_dir(sb) / KEY / f"{call_id}.wav").exists()
        from switchboard.service import scheduler

        with caplog.at_level(logging.WARNING):
            sb.clock.advance(119)
            await scheduler.purge_expired(sb.ctx)
            assert (recordings_dir(sb) / KEY / f"{call_id}.wav").exists()
            sb.clock.advance(2)
            await scheduler.purge_expired(sb.ctx)
        assert not (recordings_dir(sb) / KEY / f"{call_id}.wav").exists()
        assert any(call_id in r.getMessage() and "retention" in r.getMessage() for r in caplog.records)
    finally:
        await close_harness(sb)
