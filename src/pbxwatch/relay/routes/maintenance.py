"""`GET /maintenance`, `POST /maintenance`, `POST /maintenance/end`: the windows of `pbxwatch maintenance`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from pbxwatch.db.maintenance import UnknownUnits, add_windows, end_windows, load_windows
from pbxwatch.domain.maintenance import Window, WindowError
from pbxwatch.domain.maintenance_request import WindowRequest
from pbxwatch.relay.deps import ApiToken, ClockDep, SettingsDep, StoreDep
from pbxwatch.relay.errors import InvalidRequest, NotFound
from pbxwatch.relay.schemas import PRINTABLE, UnitNumber

router = APIRouter(tags=["maintenance"], dependencies=[ApiToken])
Text = Annotated[str, Field(min_length=1, max_length=500, pattern=PRINTABLE)]
Short = Annotated[str, Field(min_length=1, max_length=64, pattern=PRINTABLE)]


class WindowIn(BaseModel):
    """Exactly one of `for` ("2h"), `until` (a local time in monitor.time_zone, or ISO with offset), `weekly`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    units: Annotated[list[UnitNumber], Field(max_length=10_000)] = []
    all: bool = False
    for_: Annotated[str | None, Field(alias="for", max_length=32)] = None
    until: Annotated[str | None, Field(max_length=40)] = None
    weekly: Annotated[str | None, Field(max_length=40)] = None
    reason: Text
    set_by: Short


class WindowEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    units: Annotated[list[UnitNumber], Field(max_length=10_000)] = []
    ids: Annotated[list[Annotated[int, Field(ge=1, le=2**31 - 1)]], Field(max_length=10_000)] = []
    all: bool = False
    by: Short


class WindowOut(BaseModel):
    id: int
    unit: str | None
    reason: str
    set_by: str
    starts_at: datetime | None
    ends_at: datetime | None
    weekly: str | None
    ended_at: datetime | None
    running: bool


class WindowList(BaseModel):
    windows: list[WindowOut]


def _out(window: Window, now: datetime, zone: ZoneInfo) -> WindowOut:
    return WindowOut(
        id=window.id,
        unit=window.unit_number,
        reason=window.reason,
        set_by=window.set_by,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        weekly=str(window.weekly) if window.weekly else None,
        ended_at=window.ended_at,
        running=window.occurrence(now, zone) is not None,
    )


@router.get("/maintenance")
async def list_maintenance(
    store: StoreDep, clock: ClockDep, settings: SettingsDep, past: Annotated[bool, Query()] = False
) -> WindowList:
    """Windows not over yet (`past=true`: every window); `running` says which pause their units now."""
    now = clock.now()
    windows = await load_windows(store.engine, now, include_past=past)
    zone = ZoneInfo(settings.monitor.time_zone)
    return WindowList(windows=[_out(w, now, zone) for w in windows])


@router.post("/maintenance", status_code=201)
async def add_maintenance(store: StoreDep, clock: ClockDep, settings: SettingsDep, body: WindowIn) -> WindowList:
    """One window per unit, or one fleet-wide window with `all: true`."""
    if body.all == bool(body.units):
        raise InvalidRequest("give units or all: true (not both)")
    now = clock.now()
    zone = ZoneInfo(settings.monitor.time_zone)
    try:
        request = WindowRequest.parse(for_=body.for_, until=body.until, weekly=body.weekly, now=now, zone=zone)
        windows = await add_windows(
            store.engine,
            body.units,
            now=now,
            reason=body.reason,
            set_by=body.set_by,
            duration=request.duration,
            until=request.until,
            weekly=request.weekly,
        )
    except WindowError as err:
        raise InvalidRequest(str(err)) from err
    except UnknownUnits as err:
        raise NotFound(str(err)) from err
    return WindowList(windows=[_out(w, now, zone) for w in windows])


@router.post("/maintenance/end")
async def end_maintenance(store: StoreDep, clock: ClockDep, settings: SettingsDep, body: WindowEnd) -> WindowList:
    """End now the running or future windows of these units, with these ids, or the fleet-wide ones."""
    if not (body.units or body.ids or body.all):
        raise InvalidRequest("give units, ids or all: true")
    now = clock.now()
    try:
        ended = await end_windows(store.engine, now=now, by=body.by, numbers=body.units, ids=body.ids, fleet=body.all)
    except WindowError as err:
        raise InvalidRequest(str(err)) from err
    return WindowList(windows=[_out(w, now, ZoneInfo(settings.monitor.time_zone)) for w in ended])
