"""What a power-cycle did, written first to its local journal, then to the database in order.

A cycle never waits for the database: `record()` appends to the journal (fsynced) and returns; a
background flusher replays the entries the database has not seen, each in one transaction with the
intent's `journal_seq`, so nothing is lost, nothing is written twice and rows keep their order and their
own timestamps. An expected database outage is one WARNING line; its end one INFO line.

Entry kinds: `created` (the intent, so a journal alone can finish a cycle), `intent` (a switch is about
to be sent: the write-ahead entry), `switched` (its outcome: one `unit_status_history` row, plus intent
values), `state` (intent values only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update

from pbxwatch.db.engine import DB_ERRORS, describe
from pbxwatch.db.history import HistoryEntry, write_history
from pbxwatch.db.tables import power_cycles
from pbxwatch.domain.vocabulary import Initiator
from pbxwatch.relay.journal import CycleJournal, Entry
from pbxwatch.relay.store import RelayStore

log = logging.getLogger(__name__)

FINAL_STATES = ("done", "failed", "cancelled")
INTENT_VALUES = ("state", "off_at", "on_due_at", "on_at", "last_error")
TIME_VALUES = ("off_at", "on_due_at", "on_at")
RETRY_SECONDS = 1.0
RETRY_MAX_SECONDS = 5.0


class DatabaseWatch:
    """Says once that the database went away and once that it is back (shared by the relay's loops)."""

    def __init__(self) -> None:
        self.down = False

    def failed(self, err: BaseException, consequence: str) -> None:
        if not self.down:
            log.warning("database unavailable (%s): %s", describe(err), consequence)
        self.down = True

    def ok(self) -> None:
        if self.down:
            log.info("database reachable again: writing what was kept")
        self.down = False


@dataclass
class _Backlog:
    """One cycle's entries not yet in the database."""

    meta: Entry
    entries: list[Entry] = field(default_factory=list)
    seq: int = 0
    finished: bool = False
    unjournalled: bool = False  # the journal could not be written: memory and the database only


class CycleRecorder:
    def __init__(self, journal: CycleJournal, store: RelayStore, watch: DatabaseWatch) -> None:
        self.journal = journal
        self.store = store
        self.watch = watch
        self._backlog: dict[str, _Backlog] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def start(self, cycle_id: str, at: datetime, meta: Entry, *, after_seq: int = 0) -> None:
        """Open a cycle's journal with its `created` entry (numbered after `after_seq`)."""
        self._backlog[cycle_id] = _Backlog(meta=meta, seq=after_seq)
        self.record(cycle_id, "created", at, **meta)

    def record(self, cycle_id: str, kind: str, at: datetime, **data: Any) -> None:
        """Journal one entry now (durable before the caller acts on it); the database gets it later."""
        backlog = self._backlog[cycle_id]
        backlog.seq += 1
        entry = {"seq": backlog.seq, "kind": kind, "at": at.isoformat(), **data}
        try:
            self.journal.append(cycle_id, entry)
        except OSError as err:  # a relay must not stay off for want of a local file: go on from memory
            if not backlog.unjournalled:
                log.error(  # noqa: TRY400 - one line
                    "power-cycle %s: journal not writable in %s (%s); going on without it (check run_dir)",
                    cycle_id,
                    self.journal.directory,
                    err,
                )
            backlog.unjournalled = True
        backlog.entries.append(entry)
        backlog.finished = backlog.finished or (kind != "created" and data.get("state") in FINAL_STATES)
        self._wake.set()

    def adopt(self, cycle_id: str, entries: list[Entry]) -> None:
        """A journal found at start: its entries are replayed (the database skips those it has)."""
        meta = next((e for e in entries if e["kind"] == "created"), None)
        if meta is None:
            log.warning("power-cycle journal %s has no `created` entry; ignored", cycle_id)
            return
        finished = any(e["kind"] != "created" and e.get("state") in FINAL_STATES for e in entries)
        self._backlog[cycle_id] = _Backlog(meta, list(entries), max(e["seq"] for e in entries), finished)
        self._wake.set()

    def unwritten(self, cycle_id: str) -> bool:
        return cycle_id in self._backlog

    def kept(self) -> int:
        return sum(len(b.entries) for b in self._backlog.values())

    async def run(self, stop: asyncio.Event) -> None:
        """Flush whenever something was recorded; retry (1 s, up to 5 s apart) while the database is down."""
        delay = RETRY_SECONDS
        while not stop.is_set():
            if await self.flush():
                delay = RETRY_SECONDS
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=RETRY_MAX_SECONDS)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(RETRY_MAX_SECONDS, delay * 2)

    async def flush(self) -> bool:
        """Write every kept entry, cycle by cycle in order; False while the database is unreachable."""
        async with self._lock:
            self._wake.clear()
            try:
                for cycle_id in list(self._backlog):
                    await self._flush_cycle(cycle_id, self._backlog[cycle_id])
            except DB_ERRORS as err:
                self.watch.failed(
                    err,
                    f"{self.kept()} power-cycle record(s) kept in {self.journal.directory}, "
                    "written when it is back; relays are switched on on time meanwhile",
                )
                return False
            self.watch.ok()
            return True

    async def _flush_cycle(self, cycle_id: str, backlog: _Backlog) -> None:
        while backlog.entries:
            await self._write(cycle_id, backlog.meta, backlog.entries[0])
            backlog.entries.pop(0)
        if backlog.finished:
            self.journal.remove(cycle_id)
            del self._backlog[cycle_id]

    async def _write(self, cycle_id: str, meta: Entry, entry: Entry) -> None:
        values: dict[str, Any] = {k: _value(k, entry[k]) for k in INTENT_VALUES if k in entry}
        if entry["kind"] == "switched" and entry.get("on") and not entry.get("ok"):
            values["attempts"] = power_cycles.c.attempts + 1
        query = (
            update(power_cycles)
            .where(power_cycles.c.id == cycle_id, power_cycles.c.journal_seq < entry["seq"])
            .values(journal_seq=entry["seq"], **values)
        )
        async with self.store.engine.begin() as conn:
            moved = (await conn.execute(query)).rowcount == 1
            if moved and entry["kind"] == "switched":
                status = await self.store.pbx_status(conn, meta.get("enterprise_number"))
                await write_history(conn, [_history(meta, entry, status)])


def _value(key: str, raw: Any) -> Any:
    return datetime.fromisoformat(raw) if key in TIME_VALUES and raw is not None else raw


def _history(meta: Entry, entry: Entry, status: Any) -> HistoryEntry:
    """The seed's `ewelink_toggle_off` / `_on` row of one switch of a cycle."""
    info: dict[str, Any] = {
        "device_id": meta["device_id"],
        "outlet": meta.get("outlet"),
        "state": entry["on"],
        "cycle_id": meta["id"],
    }
    info.update({k: entry[k] for k in ("state_after", "reason", "cloud_error") if entry.get(k) is not None})
    return HistoryEntry.relay_switched(
        meta.get("enterprise_number"),
        at=datetime.fromisoformat(entry["at"]),
        pbx_status=status,
        requested=bool(entry["on"]),
        ok=bool(entry["ok"]),
        initiator=Initiator(meta["initiator"]),
        extra_info=info,
        error_message=entry.get("error"),
    )
