"""Whatever a client sends, the answer is a designed one: never a 500, never a traceback."""

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.domain.calls import Party
from tests.support.harness import Harness, close_harness, open_harness

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
fields = st.sampled_from(
    ["agentId", "AGENTID", "groups", "presentedCLID", "telephoneNumber", "consent", "reference"]
)
sides = st.dictionaries(
    fields, values | st.sampled_from(["1234", "4567", "02072068888", "030"]), max_size=4
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "from": sides | values,
        "to": sides | values,
        "regarding": sides | values,
        "application": values,
    },
)

DESIGNED = {201, 400}


async def test_random_bodies_get_designed_answers(tmp_path: Path) -> None:
    harness = await open_harness(tmp_path)
    try:
        await _fuzz(harness)
    finally:
        await close_harness(harness)


async def _fuzz(sb: Harness) -> None:
    headers = await sb.headers()
    seen: list[Any] = []

    # Hypothesis draws the inputs synchronously; the app is then driven on this test's loop.
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies, raw=st.binary(max_size=64))
    def collect(body: dict[str, Any], raw: bytes) -> None:
        seen.append((json.dumps(body).encode(), raw))

    collect()
    for encoded, raw in seen:
        for content in (encoded, raw):
            response = await sb.client.post(
                "/v0/a1b2c3d4e5/calls/", content=content, headers=headers
            )
            assert response.status_code in DESIGNED, (content, response.text)
            assert set(response.json()) >= ({"message"} if response.status_code == 400 else {"id"})
            if response.status_code == 201:
                await sb.end(response.json()["id"], Party.ORIGINATOR)
