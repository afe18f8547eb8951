from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.rtpengine import Rtpengine, rtpengine_available


@pytest.fixture
async def rtpengine(tmp_path: Path) -> AsyncIterator[Rtpengine]:
    if not rtpengine_available():
        pytest.skip("rtpengine not found: install the Debian package rtpengine-daemon")
    engine = Rtpengine(tmp_path)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()
