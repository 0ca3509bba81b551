"""The monitor's database adapter: load units and their stored state, write what the monitor owes.

All writes of one flush happen in one transaction. History rows go through the foundation's writer
(`pbxwatch.db.history.write_history`) and are *conditional* (docs/design.md §4): an `on`→`off` row is written
only when the unit's last status row is not already `off`, an `off`→`on` only when it is, and a hold
only when the same hold was not already written for this outage — so a restarted monitor, or two
active ones, cannot double a row. On PostgreSQL a transaction-scoped advisory lock serializes
flushes; SQLite's `BEGIN IMMEDIATE` does the same there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from pbxwatch.db.engine import Database
from pbxwatch.db.history import HistoryEntry, write_history
from pbxwatch.db.ladders import Ladder, ladders
from pbxwatch.db.tables import enterprises, unit_live_status, unit_status_history
from pbxwatch.domain.state import WatchedUnit
from pbxwatch.domain.units import UNIT_FIELDS
from pbxwatch.domain.units import Unit as UnitRecord
from pbxwatch.domain.vocabulary import ActionType, Initiator

FLUSH_LOCK_KEY = 0x70627877_01  # pg_advisory_xact_lock key of monitor flushes ("pbxw" + 1)
H = unit_status_history
# Nine bound parameters a row: far under the drivers' limits (asyncpg 32,767, SQLite 32,766) per statement.
LIVE_ROWS_PER_STATEMENT = 1000


@dataclass
class LiveRow:
    """An in-memory mirror of one `unit_live_status` row (the columns the monitor writes)."""

    last_status: str | None = None
    last_checked_at: datetime | None = None
    failure_counter: int = 0
    last_error_message: str | None = None
    disk_usage_percent: int | None = None
    line_stats: dict[str, Any] | None = None
    sip_peers: int | None = None

    def values(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Owed:
    """A history row the monitor owes. `hold_since` makes a hold conditional on this outage."""

    entry: HistoryEntry
    hold_since: datetime | None = None

    @property
    def is_transition(self) -> bool:
        return self.entry.action_type is None


@dataclass
class Batch:
    live: dict[str, LiveRow] = field(default_factory=dict)
    reset_action_done: set[str] = field(default_factory=set)
    rows: list[Owed] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.live or self.rows or self.reset_action_done)


@dataclass(frozen=True)
class Stored:
    """What the database knows about one unit when the monitor (re)loads it."""

    live: LiveRow | None
    action_done: bool
    outage_since: datetime | None  # change_time of the open `on`→`off` row
    cycles: tuple[datetime, ...]  # automatic power-cycles in the last day


class MonitorStore:
    def __init__(self, db: Database, *, restart_command: str | None = None) -> None:
        self.db = db
        self.restart_command = restart_command  # monitor.restart_command: the ladder's soft rung, every unit

    async def active_units(self) -> list[WatchedUnit]:
        """Active enterprises with a host (a unit without a host cannot be probed)."""
        e = enterprises.c
        query = (
            select(*(e[name] for name in UNIT_FIELDS))
            .where(e.active.is_not(False), e.host.is_not(None), e.host != "")
            .order_by(e.number)
        )
        async with self.db.connect() as conn:
            records = [UnitRecord.from_row(r) for r in (await conn.execute(query)).mappings()]
            own = await ladders(conn)  # per-enterprise remediation ladders (pbxwatch_unit_ladder)
        return [WatchedUnit.watching(r, own.get(r.number, Ladder()).command(self.restart_command)) for r in records]

    async def action_flags(self) -> dict[str, bool]:
        """`ewelink_action_done` of every unit (an operator's `units rearm` clears it)."""
        c = unit_live_status.c
        async with self.db.connect() as conn:
            rows = await conn.execute(select(c.enterprise_number, c.ewelink_action_done))
            return {r.enterprise_number: bool(r.ewelink_action_done) for r in rows}

    async def stored(self, numbers: Sequence[str], now: datetime) -> dict[str, Stored]:
        if not numbers:
            return {}
        async with self.db.connect() as conn:
            live = await _live_rows(conn, numbers)
            opened = await _open_outages(conn, numbers)
            cycles = await _auto_cycles(conn, numbers, now - timedelta(days=1))
        out: dict[str, Stored] = {}
        for number in numbers:
            row, done = live.get(number, (None, False))
            out[number] = Stored(row, done, opened.get(number), tuple(cycles.get(number, ())))
        return out

    async def write(self, batch: Batch) -> int:
        """Write one batch in one transaction; returns how many history rows were actually inserted."""
        async with self.db.begin() as conn:
            if self.db.is_postgres:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FLUSH_LOCK_KEY})
            named = {*batch.live, *(o.entry.enterprise_number or "" for o in batch.rows)}
            existing = await _existing_units(conn, named)
            await _upsert_live(conn, {n: r for n, r in batch.live.items() if n in existing}, batch.reset_action_done)
            kept = await _conditional(conn, [o for o in batch.rows if o.entry.enterprise_number in existing])
            await write_history(conn, kept)
            return len(kept)

    async def claim(self, number: str) -> bool:
        """The atomic claim of docs/design.md §4: true only for the one caller that flipped the flag."""
        c = unit_live_status.c
        async with self.db.begin() as conn:
            result = await conn.execute(
                update(unit_live_status)
                .where(c.enterprise_number == number, _unclaimed(c))
                .values(ewelink_action_done=True)
            )
            return bool(result.rowcount == 1)

    async def release(self, number: str) -> None:
        """Undo a claim whose cycle never started (the relay service refused or was unreachable)."""
        async with self.db.begin() as conn:
            await conn.execute(
                update(unit_live_status)
                .where(unit_live_status.c.enterprise_number == number)
                .values(ewelink_action_done=False)
            )


def _unclaimed(c: Any) -> Any:
    return or_(c.ewelink_action_done.is_(False), c.ewelink_action_done.is_(None))


async def _live_rows(conn: AsyncConnection, numbers: Sequence[str]) -> dict[str, tuple[LiveRow, bool]]:
    c = unit_live_status.c
    rows = await conn.execute(select(unit_live_status).where(c.enterprise_number.in_(numbers)))
    out: dict[str, tuple[LiveRow, bool]] = {}
    for r in rows.mappings():
        live = LiveRow(
            last_status=r["last_status"],
            last_checked_at=r["last_checked_at"],
            failure_counter=r["failure_counter"] or 0,
            last_error_message=r["last_error_message"],
            disk_usage_percent=r["disk_usage_percent"],
            line_stats=r["line_stats"],
            sip_peers=r["sip_peers"],
        )
        out[r["enterprise_number"]] = (live, bool(r["ewelink_action_done"]))
    return out


def _latest_status_ids(numbers: Iterable[str]) -> Any:
    return (
        select(func.max(H.c.id))
        .where(H.c.enterprise_number.in_(list(numbers)), H.c.action_type.is_(None), H.c.prev_status != H.c.new_status)
        .group_by(H.c.enterprise_number)
    )


async def _open_outages(conn: AsyncConnection, numbers: Sequence[str]) -> dict[str, datetime]:
    """Units whose last status row is `on`→`off`, with its time."""
    rows = await conn.execute(
        select(H.c.enterprise_number, H.c.new_status, H.c.change_time).where(H.c.id.in_(_latest_status_ids(numbers)))
    )
    return {r.enterprise_number: r.change_time for r in rows if r.new_status == "off"}


async def _auto_cycles(conn: AsyncConnection, numbers: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
    rows = await conn.execute(
        select(H.c.enterprise_number, H.c.change_time).where(
            H.c.enterprise_number.in_(numbers),
            H.c.action_type == ActionType.POWER_CYCLE.value,
            H.c.action_result == "success",
            H.c.user_initiator == Initiator.AUTO.value,
            H.c.change_time >= since,
        )
    )
    out: dict[str, list[datetime]] = {}
    for r in rows:
        out.setdefault(r.enterprise_number, []).append(r.change_time)
    return out


async def _existing_units(conn: AsyncConnection, numbers: set[str]) -> set[str]:
    """Units still in `enterprises` (one removed meanwhile must not fail the whole batch)."""
    if not numbers:
        return set()
    rows = await conn.execute(select(enterprises.c.number).where(enterprises.c.number.in_(numbers)))
    return set(rows.scalars())


async def _upsert_live(conn: AsyncConnection, live: dict[str, LiveRow], reset: set[str]) -> None:
    """One multi-row `INSERT ... ON CONFLICT DO UPDATE` per chunk: a flush of many units is one statement.

    Rows go in unit order (every flush locks live rows in the same order). A reset of
    `ewelink_action_done` is rare, so those rows get their own statement rather than a per-row CASE.
    """
    plain = [_live_values(n, r) for n, r in sorted(live.items()) if n not in reset]
    cleared = [{**_live_values(n, r), "ewelink_action_done": False} for n, r in sorted(live.items()) if n in reset]
    for rows in (plain, cleared):
        for start in range(0, len(rows), LIVE_ROWS_PER_STATEMENT):
            await conn.execute(_upsert(conn, rows[start : start + LIVE_ROWS_PER_STATEMENT]))


def _live_values(number: str, row: LiveRow) -> dict[str, Any]:
    return {"enterprise_number": number, **row.values()}


def _upsert(conn: AsyncConnection, rows: list[dict[str, Any]]) -> Any:
    make_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = make_insert(unit_live_status).values(rows)
    changed = [name for name in rows[0] if name != "enterprise_number"]
    return statement.on_conflict_do_update(
        index_elements=["enterprise_number"], set_={name: statement.excluded[name] for name in changed}
    )


async def _conditional(conn: AsyncConnection, owed: Sequence[Owed]) -> list[HistoryEntry]:
    """Drop rows the database already holds: repeated transitions and repeated holds."""
    numbers = {o.entry.enterprise_number for o in owed if o.is_transition}
    last: dict[str, str] = {}
    if numbers:
        rows = await conn.execute(
            select(H.c.enterprise_number, H.c.new_status).where(H.c.id.in_(_latest_status_ids(n for n in numbers if n)))
        )
        last = {r.enterprise_number: r.new_status for r in rows}
    kept: list[HistoryEntry] = []
    for item in owed:
        entry, number = item.entry, item.entry.enterprise_number or ""
        if item.is_transition:
            if last.get(number, "on") == entry.new_status:
                continue
            last[number] = entry.new_status
        elif item.hold_since is not None and await _hold_written(conn, entry, item.hold_since):
            continue
        kept.append(entry)
    return kept


async def _hold_written(conn: AsyncConnection, entry: HistoryEntry, since: datetime) -> bool:
    assert entry.action_type is not None
    found = await conn.scalar(
        select(func.count())
        .select_from(H)
        .where(
            and_(
                H.c.enterprise_number == entry.enterprise_number,
                H.c.action_type == entry.action_type.value,
                H.c.change_time >= since,
            )
        )
    )
    return bool(found)
