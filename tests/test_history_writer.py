"""The one history writer only lets the closed vocabulary of docs/design.md §2 reach `unit_status_history`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from pbxwatch.db.engine import Database
from pbxwatch.db.history import HistoryEntry, write_history
from pbxwatch.db.tables import unit_status_history
from pbxwatch.db.units import add_unit
from pbxwatch.domain.units import Unit
from pbxwatch.domain.vocabulary import ActionType, Initiator

AT = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def test_each_row_kind_is_stored_with_the_seed_vocabulary(any_db_url: str) -> None:
    entries = [
        HistoryEntry.outage_confirmed("42", at=AT, failure_counter=3, error_message="cli_hung: no answer"),
        HistoryEntry.power_cycle(
            "42", at=AT, pbx_status="off", ok=True, initiator=Initiator.AUTO,
            extra_info={"device_id": "1000abcdef", "cycle_id": "c1"},
        ),
        HistoryEntry.relay_switched(
            "42", at=AT, pbx_status="off", requested=False, ok=True, initiator=Initiator.AUTO,
            extra_info={"device_id": "1000abcdef", "state": False, "state_after": False},
        ),
        HistoryEntry.relay_switched(
            None, at=AT, pbx_status="on", requested=None, ok=False, initiator=Initiator.API,
            extra_info={"device_id": "1000ffffff", "cloud_error": 4002}, error_message="relay offline",
        ),
        HistoryEntry.hold("42", at=AT, pbx_status="off", kind=ActionType.SKIPPED_RELAY_OFFLINE, reason="relay offline"),
        HistoryEntry.recovered("42", at=AT),
    ]  # fmt: skip

    async def run() -> list[tuple[object, ...]]:
        db = Database.from_url(any_db_url)
        try:
            await db.prepare()
            async with db.begin() as conn:
                await add_unit(conn, Unit(number="42", host="127.0.0.1"))
                await write_history(conn, entries)
            async with db.connect() as conn:
                h = unit_status_history.c
                rows = await conn.execute(
                    select(h.enterprise_number, h.prev_status, h.new_status, h.action_type, h.action_result,
                           h.user_initiator, h.extra_info, h.change_time).order_by(h.id)
                )  # fmt: skip
                return [tuple(r) for r in rows]
        finally:
            await db.dispose()

    rows = asyncio.run(run())
    assert [r[:6] for r in rows] == [
        ("42", "on", "off", None, None, "auto"),
        ("42", "off", "off", "ewelink_power_cycle", "success", "auto"),
        ("42", "off", "off", "ewelink_toggle_off", "success", "auto"),
        (None, "on", "on", "ewelink_toggle", "fail", "api"),
        ("42", "off", "off", "skipped_relay_offline", None, "auto"),
        ("42", "off", "on", None, None, "auto"),
    ]
    assert rows[2][6] == {"device_id": "1000abcdef", "state": False, "state_after": False}
    assert rows[4][6] == {"reason": "skipped_relay_offline"}
    assert all(r[7] == AT for r in rows)


@pytest.mark.parametrize(
    "build",
    [
        lambda: HistoryEntry("1", "on", "on", AT, Initiator.AUTO),  # a status row that changes nothing
        lambda: HistoryEntry("1", "on", "off", AT.replace(tzinfo=None), Initiator.AUTO),  # naive time
        lambda: HistoryEntry.hold("1", at=AT, pbx_status="on", kind=ActionType.TOGGLE, reason="x"),
        lambda: HistoryEntry.power_cycle(
            "1", at=AT, pbx_status="on", ok=True, initiator=Initiator.AUTO, extra_info={}, kind=ActionType.DRY_RUN
        ),  # a hold is no relay action
        lambda: HistoryEntry("1", "on", "on", AT, Initiator.API, action_type=ActionType.POWER_CYCLE),  # no result
        lambda: HistoryEntry.recovered("1", at=AT).__class__(
            "1", "off", "on", AT, Initiator.AUTO, extra_info={"token": "x"}
        ),  # a key outside the contract
    ],
)
def test_rows_outside_the_vocabulary_are_refused(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]
