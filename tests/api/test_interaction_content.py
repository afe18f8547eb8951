"""The Interaction Content API (``interaction-content.md``): tokens, search and paging,
one interaction, the download with ``Range``, errors in their order, the rate limit; and
the simulator's synthetic recording, whose timing follows the V0 recording state."""

from __future__ import annotations

import io
import itertools
import json
import logging
import wave
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchboard.domain.agents import AgentState
from switchboard.domain.calls import Party
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
    for agent in ("1234", "4567"):  # out of wrap-up, free for the next call
        await sb.set_state(agent, AgentState.READY, key)
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


async def test_the_simulated_recording_follows_the_recording_state(sb_any: Harness) -> None:
    """Over SQLite and PostgreSQL: the timing comes from the events each stores."""
    sb = sb_any
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
        return sum(1 for a, b in itertools.pairwise(channel) if a < 0 <= b)

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

        token = await content_token(sb)
        with caplog.at_level(logging.WARNING):
            sb.clock.advance(119)
            found = await sb.client.get(
                f"{BASE}/interactions/{call_id}", headers=ics_headers(token)
            )
            assert found.status_code == 200
            await scheduler.purge_expired(sb.ctx)
            assert (recordings_dir(sb) / KEY / f"{call_id}.wav").exists()
            sb.clock.advance(2)
            # Past retention: gone for the API before the purge comes round.
            gone = await sb.client.get(f"{BASE}/interactions/{call_id}", headers=ics_headers(token))
            assert gone.status_code == 404
            listed = await search(sb, token, **day_of(sb))
            assert listed.json()["items"] == []
            await scheduler.purge_expired(sb.ctx)
        assert not (recordings_dir(sb) / KEY / f"{call_id}.wav").exists()
        assert any(
            call_id in r.getMessage() and "retention" in r.getMessage() for r in caplog.records
        )
    finally:
        await close_harness(sb)


# --------------------------------------------------------------------------- the token


async def token_request(
    sb: Harness,
    data: dict[str, str] | None,
    auth: tuple[str, str] | None = None,
    path: str = "/Auth/connect/token",
    **kw: Any,
) -> httpx.Response:
    return await sb.client.post(path, data=data, auth=auth, **kw)


GRANT = {"grant_type": "client_credentials", "scope": "interaction-content:read"}


async def test_the_token_endpoint_takes_the_samples_request(sb: Harness) -> None:
    # What the sample sends: the form by qs, the credentials by axios ``auth`` (Basic).
    response = await token_request(sb, GRANT, (KEY, sb.api_token))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token_type", "access_token", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 7200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"


async def test_the_token_endpoint_takes_form_credentials_and_basic_wins(sb: Harness) -> None:
    form = {**GRANT, "client_id": KEY, "client_secret": sb.api_token}
    assert (await token_request(sb, form)).status_code == 200
    wrong_form = {**GRANT, "client_id": KEY, "client_secret": "wrong"}
    assert (await token_request(sb, wrong_form, (KEY, sb.api_token))).status_code == 200
    response = await token_request(sb, form, (KEY, "wrong"))
    assert response.status_code == 401


async def test_the_token_endpoint_path_matches_in_any_case(sb: Harness) -> None:
    response = await token_request(sb, GRANT, (KEY, sb.api_token), path="/auth/CONNECT/Token/")
    assert response.status_code == 200
    response = await sb.client.get("/Auth/connect/token")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("data", "content", "auth", "status", "body"),
    [
        (None, b"grant_type=client_credentials", "ok", 400, {"error": "invalid_request"}),
        ({"scope": "interaction-content:read"}, None, "ok", 400, None),
        ({**GRANT, "grant_type": "password"}, None, "ok", 400, None),
        (GRANT, None, None, 400, {"error": "invalid_request"}),
        (GRANT, None, "bad", 401, {"error": "invalid_client"}),
        ({"grant_type": "client_credentials"}, None, "ok", 400, "scope"),
        ({"grant_type": "client_credentials", "scope": " "}, None, "ok", 400, "scope"),
        (
            {"grant_type": "client_credentials", "scope": "interaction-content:read foo bar"},
            None,
            "ok",
            400,
            {"error": "invalid_scope", "error_description": '"foo" is an invalid scope'},
        ),
    ],
)
async def test_token_errors_in_their_order(
    sb: Harness,
    data: dict[str, str] | None,
    content: bytes | None,
    auth: str | None,
    status: int,
    body: Any,
) -> None:
    credentials = {"ok": (KEY, sb.api_token), "bad": (KEY, "wrong"), None: None}[auth]
    kw: dict[str, Any] = {}
    if content is not None:
        kw = {"content": content, "headers": {"Content-Type": "text/plain"}}
    response = await token_request(sb, data, credentials, **kw)
    assert response.status_code == status
    if body is None:
        body = {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
    elif body == "scope":
        body = {"error": "invalid_scope", "error_description": "You must specify a scope"}
    assert response.json() == body
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_a_form_over_100_kib_is_an_invalid_request(sb: Harness) -> None:
    data = {**GRANT, "padding": "x" * (100 * 1024)}
    response = await token_request(sb, data, (KEY, sb.api_token))
    assert (response.status_code, response.json()) == (400, {"error": "invalid_request"})


# --------------------------------------------------------------------------- using it


async def test_requests_without_a_valid_token_are_401(sb: Harness) -> None:
    expected = {"message": "The access token is invalid or has expired"}
    for headers in ({"Accept": V3}, ics_headers("not-a-token"), {"Authorization": "Basic x"}):
        response = await sb.client.get(f"{BASE}/interactions", params=day_of(sb), headers=headers)
        assert (response.status_code, response.json()) == (401, expected)
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_token_expires_after_two_hours(sb: Harness) -> None:
    token = await content_token(sb)
    sb.clock.advance(7199)
    assert (await search(sb, token, **day_of(sb))).status_code == 200
    sb.clock.advance(2)
    assert (await search(sb, token, **day_of(sb))).status_code == 401


async def test_a_new_api_token_revokes_content_tokens(sb: Harness) -> None:
    from switchboard.service import provisioning

    token = await content_token(sb)
    await provisioning.new_api_token(sb.ctx, KEY)
    assert (await search(sb, token, **day_of(sb))).status_code == 401


async def test_a_token_without_the_read_scope_is_403(sb: Harness) -> None:
    expected = {"message": "The access token does not grant the interaction-content:read scope"}
    for token in (await sb.bearer(), await content_token(sb, scope="interaction-content:delete")):
        response = await search(sb, token, **day_of(sb))
        assert (response.status_code, response.json()) == (403, expected)


async def test_a_content_token_is_not_a_v0_token(sb: Harness) -> None:
    token = await content_token(sb)
    response = await sb.client.get(
        f"/v0/{KEY}/agents/1234",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 401


# --------------------------------------------------------------------------- version, GUID


async def test_the_version_is_required_everywhere(sb: Harness) -> None:
    call_id = await recorded_call(sb)
    token = await content_token(sb)
    any_version = {
        "message": "Invalid api-version! Valid values: "
        "'application/vnd.newvoicemedia.v2+json', 'application/vnd.newvoicemedia.v3+json'"
    }
    only_3 = {
        "message": "Invalid api-version! Valid values: 'application/vnd.newvoicemedia.v3+json'"
    }
    paths = [
        f"{BASE}/interactions?start=2025-01-06&end=2025-01-07",
        f"{BASE}/interactions/{call_id}",
        f"{BASE}/interactions/{call_id}/content/callRecording",
    ]
    auth = {"Authorization": f"Bearer {token}"}
    for path in paths:
        for accept, expected in [
            (None, any_version),
            ("application/json", any_version),
            ("application/vnd.newvoicemedia.v2+json", only_3),
            (
                "application/vnd.newvoicemedia.v2+json, application/vnd.newvoicemedia.v3+json",
                only_3,
            ),
        ]:
            headers = dict(auth) if accept is None else {**auth, "Accept": accept}
            response = await sb.client.get(path, headers=headers)
            assert (response.status_code, response.json()) == (400, expected), (path, accept)
        headers = {**auth, "Accept": "text/html, APPLICATION/VND.NEWVOICEMEDIA.V3+JSON; q=0.9"}
        assert (await sb.client.get(path, headers=headers)).status_code == 200, path


async def test_auth_comes_before_the_version(sb: Harness) -> None:
    response = await sb.client.get(f"{BASE}/interactions")
    assert response.status_code == 401


async def test_guids_in_the_path_are_checked(sb: Harness) -> None:
    token = await content_token(sb)
    for tail in ("", "/content/callRecording"):
        response = await sb.client.get(
            f"{BASE}/interactions/1234{tail}", headers=ics_headers(token)
        )
        assert response.json() == {"message": "GUID must be 36 characters in length"}
        assert response.status_code == 400
        bad = "zzzzzzzz-44b5-672e-8b9f-1a805fed07ad"
        response = await sb.client.get(
            f"{BASE}/interactions/{bad}{tail}", headers=ics_headers(token)
        )
        assert response.status_code == 400
        assert response.json() == {"message": f"GUID '{bad}' is not a valid UUID string"}


async def test_a_guid_in_any_case_is_found_and_emitted_lower_case(sb: Harness) -> None:
    call_id = await recorded_call(sb)
    token = await content_token(sb)
    response = await sb.client.get(
        f"{BASE}/INTERACTIONS/{call_id.upper()}/", headers=ics_headers(token)
    )
    assert response.status_code == 200
    assert response.json()["guid"] == call_id


# --------------------------------------------------------------------------- one interaction


async def test_an_interaction_has_the_documented_shape(sb: Harness) -> None:
    call_id = await recorded_call(sb)
    placed = sb.clock.now()
    token = await content_token(sb)
    response = await sb.client.get(f"{BASE}/interactions/{call_id}", headers=ics_headers(token))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    item = response.json()
    file = (recordings_dir(sb) / KEY / f"{call_id}.wav").read_bytes()
    call = await sb.get_call(call_id)
    assert item == {
        "guid": call_id,
        "start": item["start"],
        "connectFrom": call["presentedClid"] if "presentedClid" in call else item["connectFrom"],
        "connectTo": item["connectTo"],
        "direction": "outbound",
        "handlingAgents": [{"id": "1234"}],
        "content": [
            {
                "contentKey": "callRecording",
                "type": "callRecording",
                "contentType": "audio/wav",
                "contentLength": len(file),
                "lastModified": item["content"][0]["lastModified"],
                "properties": {},
            }
        ],
    }
    assert item["start"].endswith("Z") and len(item["start"]) == 20
    assert item["start"] <= placed.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert item["connectTo"].endswith("2072068888")
    assert item["connectFrom"]


async def test_an_agent_to_agent_call_names_both_agents(sb: Harness) -> None:
    call_id = await recorded_call(sb, TO_AGENT)
    token = await content_token(sb)
    item = (
        await sb.client.get(f"{BASE}/interactions/{call_id}", headers=ics_headers(token))
    ).json()
    assert item["handlingAgents"] == [{"id": "1234"}, {"id": "4567"}]
    assert item["connectTo"] == "4567"


async def test_unknown_unfinished_and_other_accounts_calls_are_not_found(sb: Harness) -> None:
    expected = {"message": "Interaction not found"}
    ours = await recorded_call(sb)
    busy = {"from": {"agentId": "4567"}, "to": {"agentId": "5464"}}
    in_progress = (await sb.place(busy)).json()["id"]
    await sb.advance(2.5)
    other = "f0f0f0f0f0"
    secret = await sb.create_account(other)
    for key, secret_, guid in [
        (KEY, None, GUID_NOT_KNOWN),
        (KEY, None, in_progress),
        (other, secret, ours),
    ]:
        token = await content_token(sb, key, secret_)
        for tail in ("", "/content/callRecording"):
            response = await sb.client.get(
                f"{BASE}/interactions/{guid}{tail}", headers=ics_headers(token)
            )
            assert (response.status_code, response.json()) == (404, expected), (key, guid, tail)


# --------------------------------------------------------------------------- the file


async def download(
    sb: Harness, token: str, call_id: str, key: str = "callRecording", **headers: str
) -> httpx.Response:
    return await sb.client.get(
        f"{BASE}/interactions/{call_id}/content/{key}", headers=ics_headers(token, **headers)
    )


async def test_the_recording_downloads_whole(sb: Harness) -> None:
    call_id = await recorded_call(sb)
    token = await content_token(sb)
    file = (recordings_dir(sb) / KEY / f"{call_id}.wav").read_bytes()
    for key in ("callRecording", "callrecording", "CALLRECORDING"):
        response = await download(sb, token, call_id, key)
        assert response.status_code == 200
        assert response.content == file
        assert response.headers["content-type"] == "audio/wav"
        assert response.headers["accept-ranges"] == "bytes"
        assert response.headers["content-length"] == str(len(file))
    head = await sb.client.head(
        f"{BASE}/interactions/{call_id}/content/callRecording", headers=ics_headers(token)
    )
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(file))


async def test_content_keys_are_checked(sb: Harness) -> None:
    call_id = await recorded_call(sb)
    token = await content_token(sb)
    response = await download(sb, token, call_id, "transcript")
    assert (response.status_code, response.json()) == (
        404,
        {"message": "Interaction content not found"},
    )
    for bad in ("a@b", "x" * 37):
        response = await download(sb, token, call_id, bad)
        assert (response.status_code, response.json()) == (
            400,
            {"message": "Parameter 'contentKey' is invalid."},
        )


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-1023", 0, 1023),  # the first bytes
        ("bytes=-100", -100, None),  # the suffix
        ("bytes=100-", 100, None),  # open-ended
        ("bytes=10-99999999", 10, None),  # clamped to the end
        ("BYTES=0-0", 0, 0),
    ],
)
async def test_a_range_is_served_as_206(
    sb: Harness, header: str, first: int, last: int | None
) -> None:
    call_id = await recorded_call(sb)
    token = await content_token(sb)
    file = (recordings_dir(sb) / KEY / f"{call_id}.wav").read_bytes()
    size = len(file)
    response = await download(sb, token, call_id, Range=header)
    assert response.status_code == 206
    start = first if first >= 0 else size + first
    end = size - 1 if last is None else last
    assert response.content == file[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.headers["content-type"] == "audio/wav"


async def test_an_unsatisfiable_range_is_416(sb: Harness) -> None:
    call_id = await recorded_call(sb)
    token = await content_token(sb)
    size = (recordings_dir(sb) / KEY / f"{call_id}.wav").stat().st_size
    for header in (f"bytes={size}-", f"bytes={size + 5}-{size + 10}", "bytes=-0"):
        response = await download(sb, token, call_id, Range=header)
        assert response.status_code == 416, header
        assert response.json() == {"message": "Range Not Satisfiable"}
        assert response.headers["content-range"] == f"bytes */{size}"


async def test_several_ranges_or_bad_syntax_get_the_whole_file(sb: Harness) -> None:
    call_id = await recorded_call(sb)
    token = await content_token(sb)
    file = (recordings_dir(sb) / KEY / f"{call_id}.wav").read_bytes()
    for header in ("bytes=0-1,5-9", "bytes=abc", "items=0-1", "bytes=9-1", "bytes=-"):
        response = await download(sb, token, call_id, Range=header)
        assert (response.status_code, response.content) == (200, file), header


async def test_other_methods_are_405_and_unknown_paths_404(sb: Harness) -> None:
    token = await content_token(sb)
    response = await sb.client.post(f"{BASE}/interactions", headers=ics_headers(token))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    response = await sb.client.get(f"{BASE}/elsewhere", headers=ics_headers(token))
    assert response.status_code == 404
    assert set(response.json()) == {"message"}


# --------------------------------------------------------------------------- search


async def test_the_search_validates_its_query(sb: Harness) -> None:
    token = await content_token(sb)
    day = day_of(sb)
    cases = [
        ({}, "Parameters 'start' and 'end' are required."),
        ({"start": day["start"]}, "Parameters 'start' and 'end' are required."),
        ({"start": "yesterday", "end": "x"}, "Parameter 'start' must be an ISO 8601 date."),
        ({"start": day["start"], "end": "2025-13-01"}, "Parameter 'end' must be an ISO 8601 date."),
        (
            {"start": "2025-01-06T10:00:00Z", "end": "2025-01-06T09:59:59Z"},
            "Parameter 'end' must not be earlier than 'start'.",
        ),
        (
            {"start": "2025-01-01T00:00:00Z", "end": "2025-01-08T00:00:00.001Z"},
            "The date range between 'start' and 'end' must not exceed 7 days.",
        ),
        ({**day, "limit": "0"}, "Parameter 'limit' must be an integer between 1 and 1000."),
        ({**day, "limit": "1001"}, "Parameter 'limit' must be an integer between 1 and 1000."),
        ({**day, "limit": "ten"}, "Parameter 'limit' must be an integer between 1 and 1000."),
        ({**day, "direction": "sideways"}, "Parameter 'direction' is invalid."),
        ({**day, "connectFrom": "0" * 51}, "Parameter 'connectFrom' is invalid."),
        ({**day, "connectTo": ""}, "Parameter 'connectTo' is invalid."),
        ({**day, "handlingAgentId": ""}, "Parameter 'handlingAgentId' is invalid."),
        ({**day, "continuationToken": "not a token!"}, "Parameter 'continuationToken' is invalid."),
        ({**day, "continuationToken": "AAAA"}, "Parameter 'continuationToken' is invalid."),
    ]
    for params, message in cases:
        response = await search(sb, token, **params)
        assert (response.status_code, response.json()) == (400, {"message": message}), params


async def test_seven_days_exactly_pass(sb: Harness) -> None:
    token = await content_token(sb)
    response = await search(sb, token, start="2025-01-01T00:00:00Z", end="2025-01-08T00:00:00Z")
    assert response.json() == {"items": [], "meta": {"nextContinuationToken": None}}


async def test_dates_in_the_forms_the_sample_sends(sb: Harness) -> None:
    call_id = await recorded_call(sb)
    token = await content_token(sb)
    day = sb.clock.now().date().isoformat()
    forms = [
        (f"{day}T00:00:00.000Z", f"{day}T23:59:59.999Z"),  # the default run
        (day, f"{day}T23:59:59Z"),  # a bare date is its midnight
        (f"{day}T01:00:00+01:00", f"{day}T23:59:59+00:00"),  # sent as %2B
        (f"{day}T00:00:00", f"{day}T23:59:59"),  # no offset: UTC
    ]
    for start, end in forms:
        response = await search(sb, token, start=start, end=end)
        assert response.status_code == 200, (start, end, response.text)
        assert [i["guid"] for i in response.json()["items"]] == [call_id], (start, end)
    # A "+" left raw in a query string decodes as a space: read as the offset's "+".
    query = f"start={day}T01:00:00+01:00&end={day}T23:59:59Z"
    response = await sb.client.get(f"{BASE}/interactions?{query}", headers=ics_headers(token))
    assert [i["guid"] for i in response.json()["items"]] == [call_id]


async def test_the_search_selects_by_start_and_filters(sb: Harness) -> None:
    first = await recorded_call(sb)
    sb.clock.advance(3600)
    second = await recorded_call(sb, TO_AGENT)
    token = await content_token(sb)
    found = (await search(sb, token, **day_of(sb))).json()
    assert [i["guid"] for i in found["items"]] == [first, second]
    item = found["items"][0]
    single = await sb.client.get(f"{BASE}/interactions/{first}", headers=ics_headers(token))
    assert item == single.json()
    later = await search(sb, token, start=found["items"][1]["start"], end=day_of(sb)["end"])
    assert [i["guid"] for i in later.json()["items"]] == [second]
    # Both ends are inclusive.
    exact = await search(sb, token, start=item["start"], end=item["start"])
    assert [i["guid"] for i in exact.json()["items"]] == [first]

    async def guids(**params: str) -> list[str]:
        response = await search(sb, token, **day_of(sb), **params)
        assert response.status_code == 200, response.text
        return [i["guid"] for i in response.json()["items"]]

    assert await guids(handlingAgentId="4567") == [second]
    assert await guids(handlingAgentId="1234") == [first, second]
    assert await guids(connectTo="4567") == [second]
    assert await guids(connectTo=item["connectTo"][:4]) == [first]
    assert await guids(connectFrom=item["connectFrom"]) == [first, second]
    assert await guids(connectFrom="999") == []
    assert await guids(direction="OUTBOUND") == [first, second]
    assert await guids(direction="inbound") == []


async def test_paging_across_pages_with_a_token(sb: Harness) -> None:
    made = []
    for _ in range(5):
        made.append(await recorded_call(sb, talk=1.0))
        sb.clock.advance(30)
    token = await content_token(sb)
    day = day_of(sb)
    seen: list[str] = []
    pages = []
    continuation = None
    while True:
        params = {**day, "limit": "2"}
        if continuation is not None:
            params["continuationToken"] = continuation
        response = await search(sb, token, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(len(body["items"]))
        seen += [i["guid"] for i in body["items"]]
        continuation = body["meta"]["nextContinuationToken"]
        if continuation is None:
            break
        assert set(continuation) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )
        if len(pages) == 1:  # a new recording in between changes nothing already paged
            made.append(await recorded_call(sb, talk=1.0))
    assert pages == [2, 2, 2]
    assert seen == made


async def test_no_empty_trailing_page_and_the_limit_may_change(sb: Harness) -> None:
    made = [await recorded_call(sb, talk=1.0) for _ in range(4)]
    token = await content_token(sb)
    day = day_of(sb)
    first = (await search(sb, token, **day, limit=2)).json()
    rest = (
        await search(
            sb, token, **day, limit=5, continuationToken=first["meta"]["nextContinuationToken"]
        )
    ).json()
    assert [i["guid"] for i in first["items"] + rest["items"]] == made
    assert rest["meta"]["nextContinuationToken"] is None
    exact = (await search(sb, token, **day, limit=4)).json()
    assert exact["meta"]["nextContinuationToken"] is None


async def test_a_token_belongs_to_its_query(sb: Harness) -> None:
    for _ in range(3):
        await recorded_call(sb, talk=1.0)
    token = await content_token(sb)
    day = day_of(sb)
    page = (await search(sb, token, **day, limit=1)).json()
    next_token = page["meta"]["nextContinuationToken"]
    other = {**day, "end": sb.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")}
    response = await search(sb, token, **other, continuationToken=next_token)
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Parameter 'continuationToken' is invalid."},
    )
    response = await search(sb, token, **day, direction="outbound", continuationToken=next_token)
    assert response.status_code == 400


async def test_the_search_sees_only_its_accounts_recordings(sb: Harness) -> None:
    await recorded_call(sb)
    other = "f0f0f0f0f0"
    secret = await sb.create_account(other)
    token = await content_token(sb, other, secret)
    assert (await search(sb, token, **day_of(sb))).json()["items"] == []


# --------------------------------------------------------------------------- the limit


async def test_over_the_limit_is_429_with_retry_after(tmp_path: Path) -> None:
    from tests.support.harness import close_harness, open_harness

    sb = await open_harness(tmp_path, content_rate_limit=3)
    try:
        token = await content_token(sb)
        day = day_of(sb)
        for _ in range(3):
            assert (await search(sb, token, **day)).status_code == 200
            sb.clock.advance(10)
        response = await search(sb, token, **day)
        assert (response.status_code, response.json()) == (429, {"message": "Too Many Requests"})
        assert response.headers["retry-after"] == "30"  # the first of the 3 leaves in 30 s
        # The token endpoint is not counted, nor is another account.
        other = "f0f0f0f0f0"
        other_token = await content_token(sb, other, await sb.create_account(other))
        assert (await search(sb, other_token, **day)).status_code == 200
        sb.clock.advance(29.5)
        response = await search(sb, token, **day)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        sb.clock.advance(0.6)
        assert (await search(sb, token, **day)).status_code == 200
        # Downloads and single interactions count too; the limit comes before the version.
        response = await sb.client.get(
            f"{BASE}/interactions/{GUID_NOT_KNOWN}", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 429
    finally:
        await close_harness(sb)
