"""Flap holds as history rows: a `held` row starts one, a `rearmed` row ends it (by `auto` when the unit
was stable long enough, or by whoever ran `pbxwatch units rearm`). No table of its own: the latest of
the two rows of a unit says whether it is held, for every process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from pbxwatch.db.engine import Database
from pbxwatch.db.history import HistoryEntry, write_history
from pbxwatch.db.tables import unit_live_status, unit_status_history
from pbxwatch.domain.vocabulary import ActionType, stored_pbx_status

H = unit_status_history.c


@dataclass(frozen=True)
class FlapMark:
    held_at: datetime | None = None
    rearmed_at: datetime | None = None

    @property
    def held(self) -> bool:
        return self.held_at is not None and (self.rearmed_at is None or self.held_at > self.rearmed_at)


async def flap_marks(db: Database, numbers: Sequence[str]) -> dict[str, FlapMark]:
    if not numbers:
        return {}
    async with db.connect() as conn:
        return await _marks(conn, numbers)


async def _marks(conn: AsyncConnection, numbers: Sequence[str]) -> dict[str, FlapMark]:
    kinds = (ActionType.HELD.value, ActionType.REARMED.value)
    rows = await conn.execute(
        select(H.enterprise_number, H.action_type, func.max(H.change_time))
        .where(H.enterprise_number.in_(list(numbers)), H.action_type.in_(kinds))
        .group_by(H.enterprise_number, H.action_type)
    )
    found: dict[str, dict[str, datetime]] = {}
    for number, kind, at in rows:
        found.setdefault(number, {})[kind] = at
    return {n: FlapMark(k.get(ActionType.HELD.value), k.get(ActionType.REARMED.value)) for n, k in found.items()}


async def rearm_flap(db: Database, number: str, *, by: str, now: datetime) -> bool:
    """End the flap hold of a unit (a `rearmed` row by `by`); False when it was not held."""
    async with db.begin() as conn:
        mark = (await _marks(conn, [number])).get(number, FlapMark())
        if not mark.held:
            return False
        status = await conn.scalar(
            select(unit_live_status.c.last_status).where(unit_live_status.c.enterprise_number == number)
        )
        entry = HistoryEntry.remediation(
            number,
            at=now,
            pbx_status=stored_pbx_status(status),
            kind=ActionType.REARMED,
            initiator=by,
            reason="flap hold ended by an operator (pbxwatch units rearm)",
        )
        await write_history(conn, [entry])
        return True


async def confirmed_outages(db: Database, numbers: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
    """The `on`→`off` rows of these units since `since` (the flap rule's window, after a monitor restart)."""
    if not numbers:
        return {}
    query = select(H.enterprise_number, H.change_time).where(
        H.enterprise_number.in_(list(numbers)),
        H.action_type.is_(None),
        H.prev_status == "on",
        H.new_status == "off",
        H.change_time >= since,
    )
    out: dict[str, list[datetime]] = {}
    async with db.connect() as conn:
        for number, at in await conn.execute(query):
            out.setdefault(number, []).append(at)
    return out
