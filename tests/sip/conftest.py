from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.sip.sip_harness import SipHarness
from tests.support.sipp import sipp_available


@pytest.fixture(params=["udp", "tcp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def sip(tmp_path: Path, transport: str) -> AsyncIterator[SipHarness]:
    if not sipp_available():
        pytest.skip("sipp not found: install the Debian package sip-tester")
    harness = SipHarness(tmp_path, transport)
    try:
        yield harness
    finally:
        await harness.aclose()
