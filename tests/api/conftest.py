from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.harness import Harness, close_harness, open_harness


@pytest.fixture
async def sb(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await open_harness(tmp_path)
    try:
        yield harness
    finally:
        await close_harness(harness)
