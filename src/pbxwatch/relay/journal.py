"""The local journal of power-cycles in progress: one JSON-lines file per cycle under `run_dir/cycles/`.

Why a local file: a cycle must switch its relay back on whatever the database does, and every switch
the cloud may have applied must end up audited. Each entry is written (and fsynced) before the action it
announces, so after a crash or a database outage the journal says what was meant, what happened, and
which entries the database has not seen yet (see `recorder.py`). A file is removed once its cycle is
finished and every entry is in the database.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Entry = dict[str, Any]


class CycleJournal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _file(self, cycle_id: str) -> Path:
        return self.directory / f"{cycle_id}.jsonl"

    def append(self, cycle_id: str, entry: Entry) -> None:
        """Append one entry durably (flushed and fsynced before returning)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        fd = os.open(self._file(cycle_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove(self, cycle_id: str) -> None:
        self._file(cycle_id).unlink(missing_ok=True)

    def load(self) -> Iterator[tuple[str, list[Entry]]]:
        """Every journal left on disk, oldest first; a torn last line (crash mid-write) is ignored."""
        if not self.directory.is_dir():
            return
        files = sorted(self.directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
        for path in files:
            entries = list(_read(path))
            if entries:
                yield path.stem, entries


def _read(path: Path) -> Iterator[Entry]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        log.warning("power-cycle journal %s unreadable: %s", path, err)
        return
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            log.warning("power-cycle journal %s: a torn entry ignored", path.name)
            continue
        if isinstance(entry, dict) and isinstance(entry.get("seq"), int):
            yield entry
