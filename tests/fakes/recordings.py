"""The recording store in memory: what the store port promises, without files."""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from switchboard.service.ports import Recording

log = logging.getLogger(__name__)


class FakeRecordingStore:
    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], tuple[Recording, bytes]] = {}
        self.deleted: list[tuple[str, str]] = []

    async def save(self, recording: Recording, wav: Path) -> Recording:
        audio = _take(wav)
        saved = replace(recording, size_bytes=len(audio))
        self.kept[(recording.account_key, recording.call_id)] = (saved, audio)
        return saved

    async def get(self, account_key: str, call_id: str) -> Recording | None:
        kept = self.kept.get((account_key, call_id))
        return kept[0] if kept else None

    async def list(
        self,
        account_key: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[Recording]:
        found = [
            r
            for (account, _), (r, _) in self.kept.items()
            if account == account_key
            and (since is None or r.started_at >= since)
            and (until is None or r.started_at < until)
        ]
        found.sort(key=lambda r: (r.started_at, r.call_id))
        return found[:limit]

    def open_audio(self, account_key: str, call_id: str) -> BinaryIO | None:
        kept = self.kept.get((account_key, call_id))
        return io.BytesIO(kept[1]) if kept else None

    async def delete(self, account_key: str, call_id: str) -> bool:
        if self.kept.pop((account_key, call_id), None) is None:
            return False
        self.deleted.append((account_key, call_id))
        log.warning("recording of call %s deleted (on request)", call_id)
        return True

    async def purge(self, before: datetime) -> int:
        due = [key for key, (r, _) in self.kept.items() if r.ended_at < before]
        for key in due:
            del self.kept[key]
            self.deleted.append(key)
            log.warning("recording of call %s deleted (retention)", key[1])
        return len(due)


def _take(path: Path) -> bytes:
    """Read and remove (a few bytes in tests: blocking is fine)."""
    data = path.read_bytes()
    path.unlink()
    return data
