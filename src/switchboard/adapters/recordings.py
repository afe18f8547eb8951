"""The recording store on files: ``RECORDING_DIR/<account key>/<call id>.wav`` and, beside it,
``<call id>.json`` (the metadata, format in ``docs/recording.md``).

Directories are made 0700 and files 0600 (recordings are personal data). Each file is written
under a temporary name and renamed into place, the WAV first: a metadata file present means
its recording is complete, and readers look only at those. Account keys and call ids are
checked against their formats before they become path components.

Known holes: listing reads every metadata file of the account (fine for thousands of calls,
not for millions: an index would belong in the database); one process purges at a time, or
two may log the same deletion.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from switchboard.domain.accounts import is_account_key
from switchboard.service.ports import Recording, RecordingParty, RecordingPause

log = logging.getLogger(__name__)

# ``list`` is a method here; inside the class body that name hides the builtin.
List = list

CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
FORMAT_VERSION = 1


class FileRecordingStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def prepare(self) -> None:
        """Make the directory (0700) at start, so a bad path fails at once, by name."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    # ----------------------------------------------------------------- the port

    async def save(self, recording: Recording, wav: Path) -> Recording:
        return await asyncio.to_thread(self._save, recording, wav)

    async def get(self, account_key: str, call_id: str) -> Recording | None:
        path = self._paths(account_key, call_id)
        if path is None:
            return None
        return await asyncio.to_thread(_read, path[1])

    async def list(
        self,
        account_key: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> List[Recording]:
        return await asyncio.to_thread(self._list, account_key, since, until, limit)

    def open_audio(self, account_key: str, call_id: str) -> BinaryIO | None:
        path = self._paths(account_key, call_id)
        if path is None or not path[1].exists():
            return None
        try:
            return open(path[0], "rb")  # the caller closes it
        except FileNotFoundError:
            return None

    async def delete(self, account_key: str, call_id: str) -> bool:
        path = self._paths(account_key, call_id)
        if path is None:
            return False
        return await asyncio.to_thread(self._delete, path, "on request")

    async def purge(self, before: datetime) -> int:
        return await asyncio.to_thread(self._purge, before)

    # ----------------------------------------------------------------- inside

    def _paths(self, account_key: str, call_id: str) -> tuple[Path, Path] | None:
        if not is_account_key(account_key) or CALL_ID.fullmatch(call_id) is None:
            return None
        folder = self.directory / account_key
        return folder / f"{call_id}.wav", folder / f"{call_id}.json"

    def _save(self, recording: Recording, wav: Path) -> Recording:
        paths = self._paths(recording.account_key, recording.call_id)
        if paths is None:
            raise ValueError(f"not a storable recording id: {recording.call_id!r}")
        audio, meta = paths
        self.prepare()
        audio.parent.mkdir(mode=0o700, exist_ok=True)
        partial = audio.with_suffix(".wav.partial")
        try:
            os.replace(wav, partial)
        except OSError:  # another file system: copy instead
            shutil.copyfile(wav, partial)
            wav.unlink(missing_ok=True)
        os.chmod(partial, 0o600)
        os.replace(partial, audio)
        saved = _with_size(recording, audio.stat().st_size)
        text = json.dumps(to_json(saved), indent=2, sort_keys=True)
        partial_meta = meta.with_suffix(".json.partial")
        fd = os.open(partial_meta, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(partial_meta, meta)
        log.info(
            "recording of call %s kept: %.1f s, %d bytes",
            saved.call_id,
            saved.duration_s,
            saved.size_bytes,
        )
        return saved

    def _list(
        self, account_key: str, since: datetime | None, until: datetime | None, limit: int
    ) -> List[Recording]:
        if not is_account_key(account_key):
            return []
        folder = self.directory / account_key
        found = []
        for meta in folder.glob("*.json") if folder.is_dir() else ():
            recording = _read(meta)
            if recording is None:
                continue
            if since is not None and recording.started_at < since:
                continue
            if until is not None and recording.started_at >= until:
                continue
            found.append(recording)
        found.sort(key=lambda r: (r.started_at, r.call_id))
        return found[:limit]

    def _delete(self, paths: tuple[Path, Path], why: str) -> bool:
        audio, meta = paths
        existed = meta.exists()
        meta.unlink(missing_ok=True)  # first: a half-deleted recording is never listed
        audio.unlink(missing_ok=True)
        if existed:
            log.warning("recording of call %s deleted (%s)", audio.stem, why)
        return existed

    def _purge(self, before: datetime) -> int:
        if not self.directory.is_dir():
            return 0
        count = 0
        for meta in self.directory.glob("*/*.json"):
            recording = _read(meta)
            if recording is None or recording.ended_at >= before:
                continue
            if self._delete((meta.with_suffix(".wav"), meta), "retention"):
                count += 1
        return count


def _with_size(recording: Recording, size: int) -> Recording:
    return replace(recording, size_bytes=size)


def to_json(recording: Recording) -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,
        "callId": recording.call_id,
        "account": recording.account_key,
        "startedAt": recording.started_at.isoformat(),
        "endedAt": recording.ended_at.isoformat(),
        "durationSeconds": round(recording.duration_s, 3),
        "codec": recording.codec,
        "sampleRate": recording.sample_rate,
        "channels": recording.channels,
        "sizeBytes": recording.size_bytes,
        "parties": [
            {
                "role": p.role,
                "channel": p.channel,
                "agentId": p.agent_id,
                "phone": p.phone,
                "number": p.number,
            }
            for p in recording.parties
        ],
        "placedAt": recording.placed_at.isoformat() if recording.placed_at else None,
        "presentedClid": recording.presented_clid,
        "pauses": [
            {
                "offsetSeconds": round(p.offset_s, 3),
                "pausedAt": p.paused_at.isoformat(),
                "resumedAt": p.resumed_at.isoformat() if p.resumed_at else None,
            }
            for p in recording.pauses
        ],
    }


def from_json(data: dict[str, Any]) -> Recording:
    return Recording(
        call_id=str(data["callId"]),
        account_key=str(data["account"]),
        started_at=datetime.fromisoformat(data["startedAt"]),
        ended_at=datetime.fromisoformat(data["endedAt"]),
        duration_s=float(data["durationSeconds"]),
        codec=str(data["codec"]),
        sample_rate=int(data["sampleRate"]),
        channels=int(data["channels"]),
        size_bytes=int(data["sizeBytes"]),
        parties=tuple(
            RecordingParty(
                role=p["role"],
                channel=int(p["channel"]),
                agent_id=p.get("agentId"),
                phone=p.get("phone"),
                number=p.get("number"),
            )
            for p in data["parties"]
        ),
        pauses=tuple(
            RecordingPause(
                offset_s=float(p["offsetSeconds"]),
                paused_at=datetime.fromisoformat(p["pausedAt"]),
                resumed_at=datetime.fromisoformat(p["resumedAt"]) if p["resumedAt"] else None,
            )
            for p in data["pauses"]
        ),
        placed_at=datetime.fromisoformat(data["placedAt"]) if data.get("placedAt") else None,
        presented_clid=data.get("presentedClid"),
    )


def _read(meta: Path) -> Recording | None:
    try:
        return from_json(json.loads(meta.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("recording metadata %s unreadable: %s", meta, exc)
        return None
