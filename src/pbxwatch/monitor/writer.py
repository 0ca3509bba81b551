"""What the monitor owes the database, batched: live rows (coalesced per unit) and history rows (in order).

A flush writes everything in one transaction. When the database is away the batch is kept, newer
writes are merged into it, and it is written when the database is back (docs/design.md §4: no row lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pbxwatch.db.engine import DB_ERRORS, describe
from pbxwatch.domain.state import LiveWrite
from pbxwatch.monitor.store import Batch, LiveRow, MonitorStore, Owed

log = logging.getLogger("pbxwatch.monitor")


class Writer:
    def __init__(self, store: MonitorStore, *, flush_interval: float) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.live: dict[str, LiveRow] = {}  # the mirror of each unit's `unit_live_status` row
        self.pending = Batch()
        self.db_ok = True
        self.rows_written = 0
        self.wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def apply_live(self, number: str, write: LiveWrite) -> None:
        """Apply one check's live write to the mirror (docs/design.md §3 table) and owe the row."""
        row = self.live.setdefault(number, LiveRow())
        row.last_checked_at = write.checked_at
        row.last_error_message = write.error_message
        if write.last_status is not None:
            row.last_status = write.last_status.value
        if write.failure_counter is not None:
            row.failure_counter = write.failure_counter
        if write.metrics is not None:
            row.disk_usage_percent = write.metrics.disk_usage_percent
            row.line_stats = write.metrics.line_stats
            row.sip_peers = write.metrics.sip_peers
        self.pending.live[number] = LiveRow(**row.values())
        if write.reset_action_done:
            self.pending.reset_action_done.add(number)

    def owe(self, owed: Owed) -> None:
        self.pending.rows.append(owed)
        self.wake.set()

    def forget(self, number: str) -> None:
        self.live.pop(number, None)

    async def loop(self, halt: asyncio.Event) -> None:
        while not halt.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.flush_interval)
            self.wake.clear()
            await self.flush()

    async def flush(self) -> bool:
        """Write everything owed in one transaction; on failure keep it all for the next attempt."""
        async with self._lock:
            batch, self.pending = self.pending, Batch()
            if not batch:
                return self.db_ok
            try:
                written = await self.store.write(batch)
            except DB_ERRORS as err:
                self._requeue(batch)
                self.db_down(err)
                return False
            self.rows_written += written
            if not self.db_ok:
                log.warning(
                    "database is back: wrote %d owed history row(s) and %d live row(s)", written, len(batch.live)
                )
                self.db_ok = True
            return True

    def db_down(self, err: BaseException) -> None:
        if self.db_ok:
            log.error(
                "database unavailable (%s): checks go on, rows kept in memory, no power-cycle until it is back",
                describe(err),
            )
        self.db_ok = False

    def _requeue(self, batch: Batch) -> None:
        newer = self.pending
        batch.live.update(newer.live)
        batch.rows.extend(newer.rows)
        batch.reset_action_done |= newer.reset_action_done
        self.pending = batch
