"""`GET /units`, `GET /units/{number}` and its history page."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query

from pbxwatch.config import Settings
from pbxwatch.db.maintenance import paused_units
from pbxwatch.db.unit_states import stale_after, unit_views
from pbxwatch.relay.clock import Clock
from pbxwatch.relay.deps import ApiToken, ClockDep, SettingsDep, StoreDep
from pbxwatch.relay.errors import NotFound
from pbxwatch.relay.schemas import PRINTABLE, HistoryPage, HistoryRow, UnitList, UnitOut
from pbxwatch.relay.store import RelayStore

router = APIRouter(tags=["units"], dependencies=[ApiToken])
Number = Annotated[str, Path(min_length=1, max_length=64, pattern=PRINTABLE)]


@router.get("/units")
async def list_units(store: StoreDep, clock: ClockDep, settings: SettingsDep) -> UnitList:
    """Every unit with its live row and its `state` / `reason` (the same as `pbxwatch status`)."""
    return UnitList(units=await _with_states(store, clock, settings, await store.unit_views()))


@router.get("/units/{number}")
async def get_unit(store: StoreDep, clock: ClockDep, settings: SettingsDep, number: Number) -> UnitOut:
    found = await store.unit_views(number)
    if not found:
        raise NotFound(f"unit {number} does not exist")
    return (await _with_states(store, clock, settings, found))[0]


async def _with_states(
    store: RelayStore, clock: Clock, settings: Settings, rows: list[dict[str, Any]]
) -> list[UnitOut]:
    now = clock.now()
    monitor, ssh = settings.monitor, settings.ssh
    stale = stale_after(monitor.poll_interval, ssh.connect_timeout + ssh.command_timeout + 5)
    paused = await paused_units(store.engine, now, ZoneInfo(monitor.time_zone))
    async with store.engine.connect() as conn:
        views = await unit_views(conn, now, stale=stale, paused=paused)
    out = []
    for row in rows:
        view = views.get(row["number"])
        extra = view.as_json(now) if view is not None else {}
        out.append(UnitOut.model_validate({**row, **extra}))
    return out


@router.get("/units/{number}/history")
async def unit_history(
    store: StoreDep,
    number: Number,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> HistoryPage:
    """Newest first; page back with `before_id` = the previous page's `next_before_id`."""
    if await store.unit(number) is None:
        raise NotFound(f"unit {number} does not exist")
    rows = await store.history(number, limit=limit, before_id=before_id)
    next_id = rows[-1]["id"] if len(rows) == limit else None
    return HistoryPage(rows=[HistoryRow.model_validate(r) for r in rows], next_before_id=next_id)
