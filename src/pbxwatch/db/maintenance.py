"""The maintenance windows repository (`pbxwatch_maintenance`): what the CLI, the relay service, the
monitor and the dashboard share, so every process sees the same windows.

    windows = await load_windows(db, now)                 # every window not over yet
    paused = await active_windows(db, now, zone)          # {unit number: Window} running right now
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol

from sqlalchemy import and_, insert, or_, select, update

from pbxwatch.db.tables import enterprises, maintenance_windows
from pbxwatch.domain.maintenance import Weekly, Window, WindowError, active_map, parse_weekly

M = maintenance_windows.c
TEXT_MAX = 500


class Connectable(Protocol):
    """A `Database` or a bare `AsyncEngine` (the relay service holds one): `begin()` and `connect()`."""

    def begin(self) -> Any: ...

    def connect(self) -> Any: ...


class UnknownUnits(LookupError):
    """Windows were asked for units that do not exist (one line naming them)."""


def window_of(row: Any) -> Window:
    return Window(
        id=row.id,
        unit_number=row.enterprise_number,
        reason=row.reason,
        set_by=row.set_by,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        weekly=parse_weekly(row.weekly) if row.weekly else None,
        ended_at=row.ended_at,
    )


async def add_windows(
    db: Connectable,
    numbers: Sequence[str],
    *,
    now: datetime,
    reason: str,
    set_by: str,
    duration: timedelta | None = None,
    until: datetime | None = None,
    weekly: Weekly | None = None,
) -> list[Window]:
    """One window per unit (`numbers` empty: one fleet-wide window); exactly one of duration/until/weekly."""
    starts_at, ends_at = _span(now, duration, until, weekly)
    reason, set_by = _clean(reason, "the reason"), _clean(set_by, "who set it")
    async with db.begin() as conn:
        if numbers:
            known = set(
                (await conn.execute(select(enterprises.c.number).where(enterprises.c.number.in_(numbers)))).scalars()
            )
            missing = [n for n in numbers if n not in known]
            if missing:
                raise UnknownUnits(f"no such unit: {', '.join(missing)}")
        targets: list[str | None] = [*dict.fromkeys(numbers)] or [None]
        values = [
            {
                "enterprise_number": n,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "weekly": str(weekly) if weekly else None,
                "reason": reason,
                "set_by": set_by,
                "created_at": now,
            }
            for n in targets
        ]
        rows = await conn.execute(insert(maintenance_windows).returning(*maintenance_windows.c), values)
        return [window_of(r) for r in rows]


async def load_windows(db: Connectable, now: datetime, *, include_past: bool = False) -> list[Window]:
    """Windows not over yet (weekly ones until ended), oldest first; with `include_past`, every window."""
    query = select(maintenance_windows).order_by(M.id)
    if not include_past:
        query = query.where(
            or_(M.ended_at.is_(None), M.ended_at > now),
            or_(M.weekly.is_not(None), M.ends_at > now),
        )
    async with db.connect() as conn:
        return [window_of(r) for r in await conn.execute(query)]


async def active_windows(db: Connectable, now: datetime, zone: tzinfo) -> Mapping[str, Window]:
    """{unit number: the window pausing it at `now`} for every unit in a window (fleet-wide ones included)."""
    windows = await load_windows(db, now)
    if not windows:
        return {}
    async with db.connect() as conn:
        units = list((await conn.execute(select(enterprises.c.number).order_by(enterprises.c.number))).scalars())
    return active_map(units, windows, now, zone)


async def paused_units(db: Connectable, now: datetime, zone: tzinfo) -> dict[str, str]:
    """{unit number: "reason (who set it)"} for every unit in a running window: what `paused` shows in
    `pbxwatch status`, GET /units and the dashboard."""
    running = await active_windows(db, now, zone)
    return {number: f"{w.reason} ({w.set_by})" for number, w in running.items()}


async def end_windows(
    db: Connectable,
    *,
    now: datetime,
    by: str,
    numbers: Sequence[str] = (),
    ids: Sequence[int] = (),
    fleet: bool = False,
) -> list[Window]:
    """End the running or future windows of these units / with these ids / the fleet-wide ones, now."""
    chosen = []
    if numbers:
        chosen.append(M.enterprise_number.in_(list(numbers)))
    if ids:
        chosen.append(M.id.in_(list(ids)))
    if fleet:
        chosen.append(M.enterprise_number.is_(None))
    if not chosen:
        return []
    still_on = and_(or_(M.ended_at.is_(None), M.ended_at > now), or_(M.weekly.is_not(None), M.ends_at > now))
    async with db.begin() as conn:
        rows = await conn.execute(
            update(maintenance_windows)
            .where(or_(*chosen), still_on)
            .values(ended_at=now, ended_by=_clean(by, "who ended it"))
            .returning(*maintenance_windows.c)
        )
        return [window_of(r) for r in rows]


def _span(
    now: datetime, duration: timedelta | None, until: datetime | None, weekly: Weekly | None
) -> tuple[datetime | None, datetime | None]:
    given = [x for x in (duration, until, weekly) if x is not None]
    if len(given) != 1:
        raise WindowError("give exactly one of --for, --until or --weekly")
    if weekly is not None:
        return None, None
    ends_at = until if until is not None else now + (duration or timedelta(0))
    if ends_at <= now:
        raise WindowError(f"the window would end in the past ({ends_at:%Y-%m-%d %H:%M} UTC)")
    return now, ends_at


def _clean(text: str, what: str) -> str:
    cleaned = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())[:TEXT_MAX]
    if not cleaned:
        raise WindowError(f"{what} must not be empty")
    return cleaned
