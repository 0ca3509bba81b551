"""The one query path of the uptime report (`pbxwatch report`, the unit page, the fleet summary).

Loads each unit's status changes and started power-cycles in the window, plus the last status change
before it (an outage may already be open), and hands them to `pbxwatch.domain.uptime`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from pbxwatch.db.tables import enterprises, unit_status_history
from pbxwatch.domain.uptime import Mark, MarkKind, UnitReport, summarize
from pbxwatch.domain.vocabulary import ActionResult, ActionType

H = unit_status_history


@dataclass
class UnitMarks:
    marks: list[Mark] = field(default_factory=list)
    open_since: datetime | None = None  # an outage open when the window began (its on→off time)


def _mark(row: Any) -> Mark:
    if row["action_type"] is None:
        kind = MarkKind.DOWN if row["new_status"] == "off" else MarkKind.UP
        return Mark(row["change_time"], kind)
    return Mark(row["change_time"], MarkKind.CYCLE, automatic=row["user_initiator"] == "auto")


async def load_marks(
    conn: AsyncConnection, since: datetime, until: datetime, numbers: Sequence[str] | None = None
) -> dict[str, UnitMarks]:
    """Every enterprise (or those named) with its marks in [since, until]."""
    listed = select(enterprises.c.number).order_by(enterprises.c.number)
    if numbers is not None:
        listed = listed.where(enterprises.c.number.in_(list(numbers)))
    out = {n: UnitMarks() for n in (await conn.execute(listed)).scalars()}
    if not out:
        return out
    mine = H.c.enterprise_number.in_(list(out)) if numbers is not None else H.c.enterprise_number.is_not(None)
    status_row = H.c.action_type.is_(None)
    cycle_row = and_(H.c.action_type == ActionType.POWER_CYCLE.value, H.c.action_result == ActionResult.SUCCESS.value)
    query = (
        select(H.c.enterprise_number, H.c.change_time, H.c.new_status, H.c.action_type, H.c.user_initiator)
        .where(mine, H.c.change_time >= since, H.c.change_time <= until, or_(status_row, cycle_row))
        .order_by(H.c.change_time, H.c.id)
    )
    for row in (await conn.execute(query)).mappings():
        if row["enterprise_number"] in out:
            out[row["enterprise_number"]].marks.append(_mark(row))
    before = select(func.max(H.c.id)).where(mine, status_row, H.c.change_time < since).group_by(H.c.enterprise_number)
    for row in (await conn.execute(select(H).where(H.c.id.in_(before)))).mappings():
        if row["new_status"] == "off" and row["enterprise_number"] in out:
            out[row["enterprise_number"]].open_since = row["change_time"]
    return out


async def unit_reports(
    conn: AsyncConnection, since: datetime, until: datetime, numbers: Sequence[str] | None = None
) -> list[UnitReport]:
    """The report rows, one per enterprise, ordered by number."""
    loaded = await load_marks(conn, since, until, numbers)
    return [summarize(n, m.marks, m.open_since, since, until) for n, m in loaded.items()]


def windows_of(number: str, loaded: UnitMarks, since_list: Sequence[datetime], until: datetime) -> list[UnitReport]:
    """Several windows ending at `until` from one load (the widest `since` must have been loaded)."""
    widest = min(since_list)
    out = []
    for since in since_list:
        open_since = loaded.open_since
        marks = loaded.marks
        if since > widest:  # the state at this window's start follows from the marks before it
            open_since = _open_at(loaded, since)
        out.append(summarize(number, marks, open_since, since, until))
    return out


def _open_at(loaded: UnitMarks, at: datetime) -> datetime | None:
    open_since = loaded.open_since
    for mark in loaded.marks:
        if mark.at >= at:
            break
        if mark.kind is MarkKind.DOWN and open_since is None:
            open_since = mark.at
        elif mark.kind is MarkKind.UP:
            open_since = None
    return open_since
