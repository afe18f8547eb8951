"""VCC's sample downloader (``interaction-content-download`` in VCC's Node code snippets),
replayed request for request as axios sends them: its sources are not in this repository
and the stored copies we could read do not make one consistent version, so this test makes
the same requests rather than running it (docs/recording.md).

What it sends [client.js, oidcClient.js]: ``POST {Auth}/connect/token`` with
``qs.stringify({grant_type, scope})`` and axios ``auth`` (Basic); then, with
``Accept: application/vnd.newvoicemedia.v3+json`` and ``x-nvm-application: node-sample``,
``GET {ics}/interactions?start=..&end=..&limit=1000[&continuationToken=..]`` page after page
while ``meta.nextContinuationToken`` is truthy, and for every ``items[].content[]``
``GET {ics}/interactions/{guid}/content/{contentKey}``, saved as ``{guid}_{contentKey}.wav``
when the Content-Type contains "wav". The GUID-file mode asks ``GET {ics}/interactions/{guid}``
and skips a 404.
"""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote

import httpx

from tests.api.test_interaction_content import KEY, TO_AGENT, recorded_call, recordings_dir
from tests.support.harness import Harness

AUTH = "/Auth"  # the sample's edited OIDC base: http://HOST:PORT/Auth
ICS = "/interaction-content"  # its edited ICS base
SAMPLE_HEADERS = {
    "Accept": "application/vnd.newvoicemedia.v3+json",
    "x-nvm-application": "node-sample",
}


def axios_param(value: str) -> str:
    """axios's ``buildURL``: encodeURIComponent, then ``:``, ``$``, ``,`` and ``%20``→``+``
    put back."""
    encoded = quote(value, safe="-_.!~*'()")
    for raw, back in (("%3A", ":"), ("%24", "$"), ("%2C", ","), ("%20", "+")):
        encoded = encoded.replace(raw, back)
    return encoded


class Sample:
    def __init__(self, sb: Harness, client_id: str, secret: str, folder: Path) -> None:
        self.sb, self.client_id, self.secret, self.folder = sb, client_id, secret, folder
        self.requests: list[str] = []

    async def authenticate(self) -> str:
        basic = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        response = await self.sb.client.post(
            f"{AUTH}/connect/token",
            content=b"grant_type=client_credentials&scope=interaction-content%3Aread",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": f"Basic {basic}",
            },
        )
        response.raise_for_status()
        body = response.json()
        assert body["expires_in"] > 0
        token: str = body["access_token"]
        return token

    async def get(self, path: str) -> httpx.Response:
        token = await self.authenticate()
        self.requests.append(path)
        return await self.sb.client.get(
            f"{ICS}{path}", headers={**SAMPLE_HEADERS, "Authorization": f"Bearer {token}"}
        )

    async def download_by_date_range(self, start: str, end: str) -> None:
        token: str | None = None
        while True:
            query = f"start={axios_param(start)}&end={axios_param(end)}&limit=1000"
            if token:
                query += f"&continuationToken={axios_param(token)}"
            response = await self.get(f"/interactions?{query}")
            response.raise_for_status()
            page = response.json()
            for item in page["items"]:
                for content in item["content"]:
                    await self.download(item["guid"], content["contentKey"])
            token = page["meta"]["nextContinuationToken"]
            if not token:
                return

    async def download_by_guids(self, guids: list[str]) -> None:
        for guid in guids:
            response = await self.get(f"/interactions/{guid}")
            if response.status_code == 404:
                continue  # "no content", and on to the next line
            response.raise_for_status()
            item = response.json()
            for content in item["content"]:
                await self.download(item["guid"], content["contentKey"])

    async def download(self, guid: str, key: str) -> None:
        response = await self.get(f"/interactions/{guid}/content/{key}")
        response.raise_for_status()
        kind = response.headers.get("content-type", "")
        ext = ".wav" if "wav" in kind else ".json" if "json" in kind else ""
        (self.folder / f"{guid}_{key}{ext}").write_bytes(response.content)


async def test_the_samples_date_range_run_downloads_every_recording(
    sb: Harness, tmp_path: Path
) -> None:
    made = [await recorded_call(sb, talk=1.0), await recorded_call(sb, TO_AGENT, talk=1.0)]
    day = sb.clock.now().date().isoformat()
    sample = Sample(sb, KEY, sb.api_token, tmp_path)
    # The default run: all of a day, as moment prints it.
    await sample.download_by_date_range(f"{day}T00:00:00.000Z", f"{day}T23:59:59.999Z")
    for guid in made:
        saved = (tmp_path / f"{guid}_callRecording.wav").read_bytes()
        assert saved == (recordings_dir(sb) / KEY / f"{guid}.wav").read_bytes()
    # A typed date with an offset goes as %2B.
    await sample.download_by_date_range(f"{day}T01:00:00+01:00", f"{day}T23:59:59+00:00")
    assert any("%2B01:00" in path for path in sample.requests)


async def test_the_samples_guid_file_run_skips_what_is_not_found(
    sb: Harness, tmp_path: Path
) -> None:
    guid = await recorded_call(sb, talk=1.0)
    other = "f0f0f0f0f0"
    theirs_secret = await sb.create_account(other)
    unknown = "017db4a2-44b5-672e-8b9f-1a805fed07ad"
    await Sample(sb, KEY, sb.api_token, tmp_path).download_by_guids([unknown, guid])
    assert (tmp_path / f"{guid}_callRecording.wav").exists()
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    # Another account's GUID is "not found" (skipped), never an error that ends the run.
    await Sample(sb, other, theirs_secret, elsewhere).download_by_guids([guid])
    assert list(elsewhere.iterdir()) == []
