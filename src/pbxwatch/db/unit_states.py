"""Read what `pbxwatch.domain.unit_status.unit_state` needs for every unit, and apply it.

Shared by `pbxwatch status`, `GET /units` and the dashboard, so they cannot disagree about a unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from pbxwatch.db.tables import enterprises, power_cycles, unit_live_status, unit_status_history
from pbxwatch.domain.unit_status import State, UnitFacts, unit_state
from pbxwatch.domain.vocabulary import HOLD_TYPES
from pbxwatch.notify.outbox import open_incidents

H = unit_status_history
HOLD_WORDS = frozenset(t.value for t in HOLD_TYPES)
ACTIVE_CYCLE_STATES = ("pending", "off")


@dataclass(frozen=True)
class UnitView:
    state: State
    reason: str
    checked_at: datetime | None
    failure_counter: int
    incident_since: datetime | None

    def as_json(self, now: datetime) -> dict[str, Any]:
        age = max((now - self.checked_at).total_seconds(), 0.0) if self.checked_at else None
        return {
            "state": self.state.value,
            "reason": self.reason,
            "check_age_s": None if age is None else round(age, 1),
            "incident_since": self.incident_since.isoformat() if self.incident_since else None,
        }


def stale_after(poll_interval: float, check_timeout: float) -> timedelta:
    """A last check older than three polls (plus one check's time) no longer vouches for `online`."""
    return timedelta(seconds=3 * poll_interval + check_timeout)


async def unit_views(
    conn: AsyncConnection, now: datetime, *, stale: timedelta, paused: Mapping[str, str] | None = None
) -> dict[str, UnitView]:
    """Every unit's view. `paused`: unit → reason, for units inside a maintenance window."""
    e, s = enterprises.c, unit_live_status.c
    rows = await conn.execute(
        select(
            e.number, e.active, s.last_status, s.last_checked_at, s.failure_counter, s.last_error_message
        ).select_from(enterprises.outerjoin(unit_live_status, s.enterprise_number == e.number))
    )
    holds = await _last_holds(conn)
    cycling = await _cycling(conn)
    incidents = await open_incidents(conn)
    out: dict[str, UnitView] = {}
    for r in rows:
        facts = UnitFacts(
            active=r.active is not False,
            last_status=r.last_status,
            last_checked_at=r.last_checked_at,
            failure_counter=r.failure_counter or 0,
            last_error_message=r.last_error_message,
            hold=holds.get(r.number),
            cycling=r.number in cycling,
            paused=(paused or {}).get(r.number),
        )
        state, reason = unit_state(facts, now, stale_after=stale)
        out[r.number] = UnitView(state, reason, r.last_checked_at, facts.failure_counter, incidents.get(r.number))
    return out


async def _last_holds(conn: AsyncConnection) -> dict[str, str]:
    """unit → the action type of its last action row, when that row is a hold of the current outage."""
    actions = select(func.max(H.c.id)).where(H.c.action_type.is_not(None)).group_by(H.c.enterprise_number)
    rows = await conn.execute(select(H.c.enterprise_number, H.c.action_type, H.c.id).where(H.c.id.in_(actions)))
    transitions = select(func.max(H.c.id)).where(H.c.action_type.is_(None)).group_by(H.c.enterprise_number)
    opened = {
        r.enterprise_number: (r.id, r.new_status)
        for r in await conn.execute(
            select(H.c.enterprise_number, H.c.id, H.c.new_status).where(H.c.id.in_(transitions))
        )
    }
    holds: dict[str, str] = {}
    for r in rows:
        last_id, new_status = opened.get(r.enterprise_number, (0, "on"))
        if r.action_type in HOLD_WORDS and r.id > last_id and new_status == "off":
            holds[r.enterprise_number] = r.action_type
    return holds


async def _cycling(conn: AsyncConnection) -> set[str]:
    c = power_cycles.c
    rows = await conn.execute(select(c.enterprise_number).where(c.state.in_(ACTIVE_CYCLE_STATES)))
    return {r.enterprise_number for r in rows if r.enterprise_number}
