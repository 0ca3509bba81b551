"""The monitor's batched writes on both backends: a flush of thousands of live rows, and history rows in order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from pbxwatch.db.engine import Database
from pbxwatch.db.history import HistoryEntry, Initiator
from pbxwatch.db.tables import enterprises, unit_live_status, unit_status_history
from pbxwatch.monitor.store import LIVE_ROWS_PER_STATEMENT, Batch, LiveRow, MonitorStore, Owed

UNITS = 2 * LIVE_ROWS_PER_STATEMENT + 500  # three statements' worth of live rows
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(any_db_url: str) -> AsyncIterator[MonitorStore]:
    db = Database.from_url(any_db_url)
    await db.prepare()
    async with db.begin() as conn:
        await conn.execute(
            insert(enterprises),
            [{"number": f"{i}", "name": f"Customer {i}", "host": "127.0.0.1"} for i in range(UNITS)],
        )
    yield MonitorStore(db)
    await db.dispose()


def _row(i: int, at: datetime) -> LiveRow:
    return LiveRow(
        last_status="online" if i % 7 else "offline",
        last_checked_at=at,
        failure_counter=i % 4,
        last_error_message=None if i % 7 else f"down {i}",
        disk_usage_percent=i % 100,
        line_stats={"ok": i % 5, "total": 5},
        sip_peers=i % 9,
    )


async def _live(store: MonitorStore) -> dict[str, tuple[LiveRow, bool | None]]:
    async with store.db.connect() as conn:
        rows = (await conn.execute(select(unit_live_status))).mappings()
        return {
            r["enterprise_number"]: (LiveRow(**{k: r[k] for k in LiveRow().values()}), r["ewelink_action_done"])
            for r in rows
        }


async def test_one_flush_writes_thousands_of_live_rows_and_a_second_one_updates_them(store: MonitorStore) -> None:
    first = Batch(live={f"{i}": _row(i, T0) for i in range(UNITS)})
    assert await store.write(first) == 0
    assert await _live(store) == {f"{i}": (_row(i, T0), False) for i in range(UNITS)}

    async with store.db.begin() as conn:  # two units had their power-cycle claimed meanwhile
        await conn.execute(
            update(unit_live_status)
            .where(unit_live_status.c.enterprise_number.in_(["5", "6"]))
            .values(ewelink_action_done=True)
        )
    later = T0 + timedelta(seconds=60)
    second = Batch(live={f"{i}": _row(i + 1, later) for i in range(UNITS)}, reset_action_done={"5"})
    await store.write(second)
    stored = await _live(store)
    assert stored["5"] == (_row(6, later), False)  # the recovery cleared the claim
    assert stored["6"] == (_row(7, later), True)  # a live write alone leaves the claim alone
    assert all(stored[f"{i}"] == (_row(i + 1, later), False) for i in range(UNITS) if i not in (5, 6))


async def test_a_unit_removed_meanwhile_is_skipped_and_the_rest_of_the_flush_is_written(store: MonitorStore) -> None:
    batch = Batch(live={"1": _row(1, T0), "gone": _row(2, T0), "3": _row(3, T0)})
    await store.write(batch)
    assert set(await _live(store)) == {"1", "3"}


async def test_history_rows_of_one_flush_are_written_in_the_order_owed(store: MonitorStore) -> None:
    steps = [("on", "off"), ("off", "on"), ("on", "off"), ("off", "on")]
    owed = [
        Owed(
            HistoryEntry(
                enterprise_number="42",
                prev_status=prev,
                new_status=new,
                change_time=T0 + timedelta(seconds=n),
                user_initiator=Initiator.AUTO,
            )
        )
        for n, (prev, new) in enumerate(steps)
    ]
    assert await store.write(Batch(rows=owed)) == 4
    async with store.db.connect() as conn:
        h = unit_status_history.c
        rows = list(await conn.execute(select(h.prev_status, h.new_status, h.change_time).order_by(h.id)))
    assert [(r.prev_status, r.new_status) for r in rows] == steps
    assert [r.change_time for r in rows] == [T0 + timedelta(seconds=n) for n in range(4)]
