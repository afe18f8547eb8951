"""The storage contract for text a database cannot keep: a client's mistake, never an outage.

A lone surrogate is refused by every backend with ``UnstorableValue`` (the API's 400), read
or written, never ``StorageUnavailable`` (503 with ``Retry-After``: a client would retry
forever). A NUL is kept by SQLite and refused by PostgreSQL, whose text type has none; the
API keeps NULs from reaching storage, so both answer a client alike.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from switchboard.domain.errors import UnstorableValue
from tests.contract.test_storage_contract import KEY, a_call, an_account, an_agent, seed

if TYPE_CHECKING:
    from tests.contract.conftest import Backend

SURROGATE = "ab\ud800c"
CALL_ID = "01461e37-deb9-b2bf-240d-032be5fe917e"


async def test_a_lone_surrogate_is_refused_as_unstorable_when_written(backend: Backend) -> None:
    await seed(backend.uow, an_account(), an_agent("1"), a_call(CALL_ID))
    async with backend.uow() as uow:
        call = await uow.calls.get(CALL_ID)
        assert call is not None
        with pytest.raises(UnstorableValue):
            await uow.calls.save(replace(call, disposition_code=SURROGATE))
    async with backend.uow() as uow:
        with pytest.raises(UnstorableValue):
            await uow.agents.add(an_agent("2", name=SURROGATE))
    async with backend.uow(write=False) as uow:
        stored = await uow.calls.get(CALL_ID)
        assert stored is not None and stored.disposition_code is None
        assert [a.agent_id for a in await uow.agents.list(KEY)] == ["1"]


@pytest.mark.parametrize("lookup", ["agent", "groups", "credentials", "account"])
async def test_a_lone_surrogate_is_refused_as_unstorable_when_looked_up(
    backend: Backend, lookup: str
) -> None:
    await seed(backend.uow, an_account(), an_agent("1"))
    async with backend.uow(write=False) as uow:
        with pytest.raises(UnstorableValue):
            if lookup == "agent":
                await uow.agents.get(KEY, SURROGATE)
            elif lookup == "groups":
                await uow.groups.existing(KEY, ["sales", SURROGATE])
            elif lookup == "credentials":
                await uow.accounts.credentials(SURROGATE)
            else:
                await uow.accounts.get(SURROGATE)


async def test_a_nul_is_kept_by_sqlite_and_refused_as_unstorable_by_postgres(
    backend: Backend,
) -> None:
    await seed(backend.uow, an_account(), an_agent("1"), a_call(CALL_ID))
    async with backend.uow() as uow:
        call = await uow.calls.get(CALL_ID)
        assert call is not None
        if backend.name == "postgres":
            with pytest.raises(UnstorableValue):
                await uow.calls.save(replace(call, disposition_code="ab\x00c"))
            return
        await uow.calls.save(replace(call, disposition_code="ab\x00c"))
        await uow.commit()
    async with backend.uow(write=False) as uow:
        stored = await uow.calls.get(CALL_ID)
        assert stored is not None and stored.disposition_code == "ab\x00c"
        assert await uow.agents.get(KEY, "1\x00") is None
