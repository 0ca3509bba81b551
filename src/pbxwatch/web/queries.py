"""What the dashboard reads from the database: unit rows with their latest status change and action,
the history of one unit, and the audit log. Read-only; each call is one short connection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from pbxwatch.db.tables import enterprises, unit_live_status, unit_status_history
from pbxwatch.web.unit_state import SEVERITY, DashboardFacts, DashboardState, DashboardVerdict, dashboard_unit_state

H = unit_status_history
PAGE_SIZE = 100


@dataclass(frozen=True)
class UnitRow:
    number: str
    name: str | None
    host: str | None
    verdict: DashboardVerdict
    checked_at: datetime | None
    failure_counter: int
    sip_ok: int | None
    sip_total: int | None
    disk: int | None
    device_id: str | None
    outlet: int | None
    relay_online: bool | None  # from the relay service's device cache; None when not known yet
    down_since: datetime | None
    line_stats: Mapping[str, Any]
    error: str | None
    action_done: bool

    @property
    def state(self) -> DashboardState:
        return self.verdict.state


@dataclass(frozen=True)
class Judge:
    """When the units are judged, how old a check may be before the state is unknown, and what the relay
    service knows now (cycles running, relays online, maintenance windows open)."""

    now: datetime
    stale_after: timedelta
    cycling: frozenset[tuple[str, int | None]]  # (device_id, outlet) with an active power-cycle
    relays: Mapping[str, bool]  # device_id -> online, as last read from the cloud
    paused: Mapping[str, str] = field(default_factory=dict)  # unit -> its running maintenance window


async def unit_rows(conn: AsyncConnection, judge: Judge, number: str | None = None) -> list[UnitRow]:
    e, s = enterprises.c, unit_live_status.c
    query = (
        select(
            e.number,
            e.name,
            e.host,
            e.active,
            e.ewelink_device_id,
            e.ewelink_outlet,
            s.last_status,
            s.last_checked_at,
            s.failure_counter,
            s.last_error_message,
            s.disk_usage_percent,
            s.line_stats,
            s.sip_peers,
            s.ewelink_action_done,
        )
        .select_from(enterprises.outerjoin(unit_live_status, s.enterprise_number == e.number))
        .order_by(e.number)
    )
    if number is not None:
        query = query.where(e.number == number)
    units = (await conn.execute(query)).mappings().all()
    changes = await _latest(conn, H.c.action_type.is_(None), number)
    actions = await _latest(conn, H.c.action_type.is_not(None), number)
    return [_row(u, changes.get(u["number"]), actions.get(u["number"]), judge) for u in units]


async def _latest(conn: AsyncConnection, condition: Any, number: str | None) -> dict[str, Any]:
    ids = select(func.max(H.c.id)).where(condition)
    if number is not None:
        ids = ids.where(H.c.enterprise_number == number)
    rows = await conn.execute(select(H).where(H.c.id.in_(ids.group_by(H.c.enterprise_number))))
    return {r["enterprise_number"]: r for r in rows.mappings()}


def _row(u: Any, change: Any, action: Any, judge: Judge) -> UnitRow:
    stats = u["line_stats"] if isinstance(u["line_stats"], dict) else {}
    down = u["last_status"] == "offline"
    down_since = change["change_time"] if change is not None and change["new_status"] == "off" and down else None
    facts = DashboardFacts(
        active=u["active"] is not False,
        last_status=u["last_status"],
        checked_at=u["last_checked_at"],
        failure_counter=u["failure_counter"] or 0,
        error=u["last_error_message"],
        down_since=down_since,
        last_action=action["action_type"] if action is not None else None,
        last_action_ok=action is not None and action["action_result"] == "success",
        last_action_at=action["change_time"] if action is not None else None,
        last_action_error=action["error_message"] if action is not None else None,
        cycling=(u["ewelink_device_id"], u["ewelink_outlet"]) in judge.cycling,
        maintenance=judge.paused.get(u["number"]),
    )
    verdict = dashboard_unit_state(facts, judge.now, stale_after=judge.stale_after)
    device = u["ewelink_device_id"]
    return UnitRow(
        number=u["number"],
        name=u["name"],
        host=u["host"],
        verdict=verdict,
        checked_at=u["last_checked_at"],
        failure_counter=u["failure_counter"] or 0,
        sip_ok=stats.get("ok") if isinstance(stats.get("ok"), int) else None,
        sip_total=u["sip_peers"],
        disk=u["disk_usage_percent"],
        device_id=device,
        outlet=u["ewelink_outlet"],
        relay_online=judge.relays.get(device) if device else None,
        down_since=down_since,
        line_stats=stats,
        error=u["last_error_message"],
        action_done=bool(u["ewelink_action_done"]),
    )


def count_states(rows: list[UnitRow]) -> dict[DashboardState, int]:
    counts = dict.fromkeys(DashboardState, 0)
    for row in rows:
        counts[row.state] += 1
    return counts


def select_rows(rows: list[UnitRow], *, query: str, state: DashboardState | None) -> list[UnitRow]:
    """Search by number, name or host (substring, any case), filter by state, worst first."""
    needle = query.strip().casefold()

    def matches(r: UnitRow) -> bool:
        return not needle or any(needle in (v or "").casefold() for v in (r.number, r.name, r.host))

    chosen = [r for r in rows if matches(r) and (state is None or r.state is state)]
    return sorted(chosen, key=lambda r: (SEVERITY[r.state], r.number))


@dataclass(frozen=True)
class EventFilter:
    unit: str | None = None
    action: str | None = None  # an action_type, or "status" for the status changes
    result: str | None = None
    initiator: str | None = None


async def history_page(
    conn: AsyncConnection, events: EventFilter, *, before_id: int | None, limit: int = PAGE_SIZE
) -> list[dict[str, Any]]:
    """Rows newest first; page back with `before_id` = the last row's id."""
    query = select(H)
    if events.unit:
        query = query.where(H.c.enterprise_number == events.unit)
    if events.action == "status":
        query = query.where(H.c.action_type.is_(None))
    elif events.action:
        query = query.where(H.c.action_type == events.action)
    if events.result:
        query = query.where(H.c.action_result == events.result)
    if events.initiator:
        query = query.where(H.c.user_initiator == events.initiator)
    if before_id is not None:
        query = query.where(H.c.id < before_id)
    rows = await conn.execute(query.order_by(H.c.id.desc()).limit(limit))
    return [dict(r) for r in rows.mappings()]
