"""The fleet status read model (`pbxwatch status`, the dashboard's table) and the `units rearm` flag clear."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from pbxwatch.db.engine import Database
from pbxwatch.db.tables import enterprises, unit_live_status, unit_status_history
from pbxwatch.db.unit_states import UnitView, unit_views
from pbxwatch.domain.vocabulary import HOLD_TYPES

H = unit_status_history
HOLD_WORDS = frozenset(t.value for t in HOLD_TYPES)


@dataclass(frozen=True)
class UnitStatus:
    number: str
    name: str | None
    host: str | None
    active: bool
    status: str | None  # online | offline | None (never checked)
    since: datetime | None  # the last status change row, else the first check we know of
    checked_at: datetime | None
    failure_counter: int
    disk_usage_percent: int | None
    sip_ok: int | None
    sip_total: int | None
    action_done: bool
    last_action: str | None  # "ewelink_power_cycle success"
    last_action_at: datetime | None
    hold_reason: str | None  # the reason of the last hold, while the unit is still down
    error: str | None
    view: UnitView | None = field(default=None, compare=False)  # state, reason, open incident

    def as_json(self, now: datetime | None = None) -> dict[str, Any]:
        data = asdict(self)
        data.pop("view")
        for key in ("since", "checked_at", "last_action_at"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        if self.view is not None:
            data.update(self.view.as_json(now or datetime.now(UTC)))
        return data


async def fleet_status(
    db: Database,
    *,
    now: datetime | None = None,
    stale: timedelta = timedelta(minutes=5),
    paused: dict[str, str] | None = None,
) -> list[UnitStatus]:
    """Every unit, with its state (`pbxwatch.domain.unit_status.unit_state`) as of `now`."""
    async with db.connect() as conn:
        units = (await conn.execute(_units_query())).mappings().all()
        transitions = await _latest_rows(conn, H.c.action_type.is_(None))
        actions = await _latest_rows(conn, H.c.action_type.is_not(None))
        views = await unit_views(conn, now or datetime.now(UTC), stale=stale, paused=paused)
    rows = [_status(u, transitions.get(u["number"]), actions.get(u["number"])) for u in units]
    return [replace(r, view=views.get(r.number)) for r in rows]


def _units_query() -> Any:
    e, s = enterprises.c, unit_live_status.c
    return (
        select(
            e.number,
            e.name,
            e.host,
            e.active,
            s.last_status,
            s.last_checked_at,
            s.failure_counter,
            s.disk_usage_percent,
            s.line_stats,
            s.sip_peers,
            s.ewelink_action_done,
            s.last_error_message,
        )
        .select_from(enterprises.outerjoin(unit_live_status, s.enterprise_number == e.number))
        .order_by(e.number)
    )


async def _latest_rows(conn: AsyncConnection, condition: Any) -> dict[str, Any]:
    ids = select(func.max(H.c.id)).where(condition).group_by(H.c.enterprise_number)
    rows = await conn.execute(select(H).where(H.c.id.in_(ids)))
    return {r["enterprise_number"]: r for r in rows.mappings()}


def _status(u: Any, transition: Any, action: Any) -> UnitStatus:
    stats = u["line_stats"] if isinstance(u["line_stats"], dict) else {}
    down = u["last_status"] == "offline"
    hold = action is not None and action["action_type"] in HOLD_WORDS and down
    return UnitStatus(
        number=u["number"],
        name=u["name"],
        host=u["host"],
        active=u["active"] is not False,
        status=u["last_status"],
        since=transition["change_time"] if transition is not None else None,
        checked_at=u["last_checked_at"],
        failure_counter=u["failure_counter"] or 0,
        disk_usage_percent=u["disk_usage_percent"],
        sip_ok=stats.get("ok") if isinstance(stats.get("ok"), int) else None,
        sip_total=u["sip_peers"],
        action_done=bool(u["ewelink_action_done"]),
        last_action=_action_text(action),
        last_action_at=action["change_time"] if action is not None else None,
        hold_reason=action["error_message"] if hold else None,
        error=u["last_error_message"],
    )


def _action_text(action: Any) -> str | None:
    if action is None:
        return None
    result = f" {action['action_result']}" if action["action_result"] else ""
    return f"{action['action_type']}{result}"


class RearmError(LookupError):
    pass


async def rearm(db: Database, number: str) -> bool:
    """Clear `ewelink_action_done` so the monitor may cycle this unit again in the current outage.

    Returns False when there was nothing to clear. Raises `RearmError` for an unknown unit.
    """
    async with db.begin() as conn:
        exists = await conn.scalar(select(func.count()).where(enterprises.c.number == number))
        if not exists:
            raise RearmError(f"unit {number} does not exist")
        c = unit_live_status.c
        result = await conn.execute(
            update(unit_live_status)
            .where(c.enterprise_number == number, c.ewelink_action_done.is_(True))
            .values(ewelink_action_done=False)
        )
        return bool(result.rowcount)
