"""The recording store's contract, over the file store and the fake."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from switchboard.adapters.recordings import FileRecordingStore
from switchboard.service.ports import Recording, RecordingParty, RecordingPause, RecordingStore
from tests.fakes.recordings import FakeRecordingStore

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["files", "fake"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordingStore]:
    if request.param == "files":
        yield FileRecordingStore(tmp_path / "recordings")
    else:
        yield FakeRecordingStore()


def recording(call_id: str, account: str = "acc1", minute: int = 0) -> Recording:
    start = T0 + timedelta(minutes=minute)
    return Recording(
        call_id=call_id,
        account_key=account,
        started_at=start,
        ended_at=start + timedelta(seconds=9),
        duration_s=5.0,
        parties=(
            RecordingParty("agent", 0, agent_id="1001", phone="sip:1001@127.0.0.1"),
            RecordingParty("destination", 1, number="+441234567890"),
        ),
        pauses=(RecordingPause(3.0, start + timedelta(seconds=3), start + timedelta(seconds=5)),),
    )


def wav(tmp_path: Path, name: str, body: bytes = b"RIFF....WAVE") -> Path:
    path = tmp_path / f"{name}.tmp"
    path.write_bytes(body)
    return path


async def test_a_saved_recording_reads_back_with_its_metadata_and_audio(
    store: RecordingStore, tmp_path: Path
) -> None:
    saved = await store.save(recording("c1"), wav(tmp_path, "a", b"RIFF-audio"))
    assert saved.size_bytes == len(b"RIFF-audio")
    got = await store.get("acc1", "c1")
    assert got == saved
    assert got.pauses[0].offset_s == 3.0 and got.parties[1].number == "+441234567890"
    audio = store.open_audio("acc1", "c1")
    assert audio is not None
    with audio:
        audio.seek(4)
        assert audio.read() == b"-audio"


async def test_another_account_sees_nothing(store: RecordingStore, tmp_path: Path) -> None:
    await store.save(recording("c1"), wav(tmp_path, "a"))
    assert await store.get("acc2", "c1") is None
    assert store.open_audio("acc2", "c1") is None
    assert await store.list("acc2") == []
    assert not await store.delete("acc2", "c1")
    assert await store.get("acc1", "c1") is not None


async def test_list_is_by_account_and_start_time_oldest_first(
    store: RecordingStore, tmp_path: Path
) -> None:
    for index, minute in enumerate([5, 1, 3]):
        await store.save(recording(f"c{index}", minute=minute), wav(tmp_path, f"w{index}"))
    await store.save(recording("other", account="acc2"), wav(tmp_path, "o"))
    assert [r.call_id for r in await store.list("acc1")] == ["c1", "c2", "c0"]
    since = T0 + timedelta(minutes=2)
    until = T0 + timedelta(minutes=5)
    assert [r.call_id for r in await store.list("acc1", since=since, until=until)] == ["c2"]
    assert [r.call_id for r in await store.list("acc1", limit=2)] == ["c1", "c2"]


async def test_delete_removes_it(store: RecordingStore, tmp_path: Path) -> None:
    await store.save(recording("c1"), wav(tmp_path, "a"))
    assert await store.delete("acc1", "c1")
    assert await store.get("acc1", "c1") is None
    assert store.open_audio("acc1", "c1") is None
    assert not await store.delete("acc1", "c1")


async def test_purge_deletes_what_ended_before_and_logs_each(
    store: RecordingStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await store.save(recording("old", minute=0), wav(tmp_path, "a"))
    await store.save(recording("new", minute=60), wav(tmp_path, "b"))
    with caplog.at_level(logging.WARNING):
        assert await store.purge(T0 + timedelta(minutes=30)) == 1
    assert [r.call_id for r in await store.list("acc1")] == ["new"]
    assert any("old" in r.getMessage() and "retention" in r.getMessage() for r in caplog.records)


async def test_unknown_ids_are_absent_not_errors(store: RecordingStore) -> None:
    assert await store.get("acc1", "../../etc/passwd") is None
    assert store.open_audio("acc1", "nope") is None
    assert await store.get("not a key!", "c1") is None


async def test_files_are_owner_only_and_named_by_call_id(tmp_path: Path) -> None:
    store = FileRecordingStore(tmp_path / "recordings")
    await store.save(recording("c1"), wav(tmp_path, "a"))
    root = tmp_path / "recordings"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "acc1").stat().st_mode) == 0o700
    for name in ("c1.wav", "c1.json"):
        assert stat.S_IMODE((root / "acc1" / name).stat().st_mode) == 0o600
    assert sorted(p.name for p in (root / "acc1").iterdir()) == ["c1.json", "c1.wav"]


async def test_a_recording_without_its_metadata_file_is_not_there(tmp_path: Path) -> None:
    store = FileRecordingStore(tmp_path / "recordings")
    await store.save(recording("c1"), wav(tmp_path, "a"))
    (tmp_path / "recordings" / "acc1" / "c1.json").unlink()
    assert await store.get("acc1", "c1") is None
    assert store.open_audio("acc1", "c1") is None
    assert await store.list("acc1") == []


async def test_when_the_call_was_placed_and_its_clid_read_back(
    store: RecordingStore, tmp_path: Path
) -> None:
    from dataclasses import replace

    placed = replace(
        recording("c9"), placed_at=T0 - timedelta(seconds=4), presented_clid="+441256636451"
    )
    await store.save(placed, wav(tmp_path, "p"))
    got = await store.get("acc1", "c9")
    assert got is not None
    assert (got.placed_at, got.presented_clid) == (T0 - timedelta(seconds=4), "+441256636451")
    await store.save(recording("c8"), wav(tmp_path, "q"))
    older = await store.get("acc1", "c8")
    assert older is not None and (older.placed_at, older.presented_clid) == (None, None)
