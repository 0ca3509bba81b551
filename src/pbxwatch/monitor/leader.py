"""Only one monitor is active per database (docs/design.md §4): a PostgreSQL session advisory lock.

A second monitor waits as standby and takes over when the lock is released (its holder stopped or
died). While the database is away the active monitor keeps working from memory; when the database
returns it takes the lock again, or steps down if another monitor got it first. SQLite has no such
lock: a single monitor is assumed, and said so in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from pbxwatch.db.engine import DB_ERRORS, async_url

log = logging.getLogger(__name__)

MONITOR_LOCK_KEY = 0x70627877_00  # "pbxw" + 0: the active monitor's session lock


class Leadership(Protocol):
    async def acquire(self, halt: asyncio.Event) -> bool:
        """Wait until this monitor may be active; False when halted first."""
        ...

    async def still_leader(self) -> bool: ...

    async def release(self) -> None: ...


class SingleMonitor:
    """SQLite (the demo): no advisory lock; one monitor per database is assumed."""

    async def acquire(self, halt: asyncio.Event) -> bool:
        log.info("SQLite database: no advisory lock, a single monitor per database is assumed")
        return not halt.is_set()

    async def still_leader(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class AdvisoryLock:
    def __init__(self, database_url: str, *, poll_interval: float = 2.0, key: int = MONITOR_LOCK_KEY) -> None:
        # A connection of its own, outside the pool: closing it must really end the session (and the lock).
        self._engine: AsyncEngine = create_async_engine(async_url(database_url), poolclass=NullPool)
        self._poll = poll_interval
        self._key = key
        self._conn: AsyncConnection | None = None
        self._said_unreachable = False  # one log line per outage, not one per attempt
        self.waited = False  # the last acquire waited for another monitor (a standby taking over)

    async def acquire(self, halt: asyncio.Event) -> bool:
        said_standby = self.waited = False
        while not halt.is_set():
            if await self._try_lock():
                log.info("monitor is active (advisory lock %#x taken)", self._key)
                return True
            if not said_standby:
                log.info("another monitor is active on this database: waiting as standby")
                said_standby = self.waited = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(halt.wait(), self._poll)
        return False

    async def still_leader(self) -> bool:
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT 1"))
                await self._conn.commit()
                return True
            except DB_ERRORS:
                await self._drop()
        try:
            return await self._try_lock(raise_errors=True)
        except DB_ERRORS:
            return True  # database away: nobody can take over meanwhile; keep working from memory

    async def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(*DB_ERRORS):
                await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        await self._drop()
        await self._engine.dispose()

    async def _try_lock(self, *, raise_errors: bool = False) -> bool:
        try:
            conn = await self._engine.connect()
            got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})
            await conn.commit()
        except DB_ERRORS as err:
            if raise_errors:
                raise
            if not self._said_unreachable:
                log.warning("cannot reach the database for the monitor lock (%s); retrying", err.__class__.__name__)
                self._said_unreachable = True
            return False
        self._said_unreachable = False
        if got:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(*DB_ERRORS):
                await conn.close()
