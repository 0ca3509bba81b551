"""The relay service's database adapter: durable power-cycle intents, cloud call counters, unit views.

History rows are not written here: `pbxwatch.db.history` is their only writer (see `audit.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pbxwatch.db import units
from pbxwatch.db.tables import cloud_calls, enterprises, power_cycles, unit_live_status, unit_status_history
from pbxwatch.domain.units import Unit
from pbxwatch.domain.vocabulary import PbxStatus, stored_pbx_status

ACTIVE_STATES = ("pending", "off", "verifying")


@dataclass(frozen=True)
class Intent:
    """A durable power-cycle: pending → off → verifying → done | failed | cancelled."""

    id: str
    device_id: str
    outlet: int | None
    enterprise_number: str | None
    initiator: str
    idempotency_key: str | None
    mode: str
    state: str
    off_seconds: float
    created_at: datetime
    on_due_at: datetime
    attempts: int
    last_error: str | None
    journal_seq: int = 0  # the last journal entry the database has (see `recorder.py`)


def _intent(row: RowMapping) -> Intent:
    return Intent(**{k: row[k] for k in Intent.__dataclass_fields__})


class RelayStore:
    """Queries of the relay service. Each method runs in its own short transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def unit(self, number: str) -> Unit | None:
        async with self.engine.connect() as conn:
            try:
                return await units.get_unit(conn, number)
            except units.UnitNotFound:
                return None

    async def unit_for_device(self, device_id: str, outlet: int | None) -> Unit | None:
        """The enterprise fed by this relay outlet (None when the relay feeds no enterprise)."""
        async with self.engine.connect() as conn:
            return await units.find_by_device(conn, device_id, outlet)

    async def pbx_status(self, conn: AsyncConnection, number: str | None) -> PbxStatus:
        """ "PBX status now" for an audit row: online → on, offline → off, no row → on (docs/design.md §2)."""
        if number is None:
            return stored_pbx_status(None)
        query = select(unit_live_status.c.last_status).where(unit_live_status.c.enterprise_number == number)
        status = (await conn.execute(query)).scalar()
        return stored_pbx_status(status)

    async def unit_views(self, number: str | None = None) -> list[dict[str, Any]]:
        """Units with their live status (every unit, or the one named)."""
        query = (
            select(enterprises, *[c for c in unit_live_status.c if c.name != "enterprise_number"])
            .select_from(enterprises.outerjoin(unit_live_status))
            .order_by(enterprises.c.number)
        )
        if number is not None:
            query = query.where(enterprises.c.number == number)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def history(self, number: str, *, limit: int, before_id: int | None) -> list[dict[str, Any]]:
        query = select(unit_status_history).where(unit_status_history.c.enterprise_number == number)
        if before_id is not None:
            query = query.where(unit_status_history.c.id < before_id)
        query = query.order_by(unit_status_history.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def intent(self, cycle_id: str) -> Intent | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(power_cycles).where(power_cycles.c.id == cycle_id))).mappings()
            found = row.first()
        return _intent(found) if found else None

    async def intent_by_key(self, key: str) -> Intent | None:
        query = select(power_cycles).where(power_cycles.c.idempotency_key == key)
        async with self.engine.connect() as conn:
            found = (await conn.execute(query)).mappings().first()
        return _intent(found) if found else None

    async def insert_intent(self, intent: Intent) -> bool:
        """Store the intent; False when its idempotency key or an active cycle on the relay won the race."""
        row = {k: getattr(intent, k) for k in Intent.__dataclass_fields__}
        try:
            async with self.engine.begin() as conn:
                if await self._active_on(conn, intent.device_id, intent.outlet):
                    return False
                await conn.execute(insert(power_cycles).values(**row))
        except IntegrityError:
            return False
        return True

    async def _active_on(self, conn: AsyncConnection, device_id: str, outlet: int | None) -> bool:
        query = (
            select(func.count())
            .select_from(power_cycles)
            .where(and_(power_cycles.c.device_id == device_id, power_cycles.c.state.in_(ACTIVE_STATES)))
        )
        query = query.where(power_cycles.c.outlet.is_(None) if outlet is None else power_cycles.c.outlet == outlet)
        return bool((await conn.execute(query)).scalar())

    async def active_intent(self, device_id: str, outlet: int | None) -> Intent | None:
        query = select(power_cycles).where(
            power_cycles.c.device_id == device_id, power_cycles.c.state.in_(ACTIVE_STATES)
        )
        query = query.where(power_cycles.c.outlet.is_(None) if outlet is None else power_cycles.c.outlet == outlet)
        async with self.engine.connect() as conn:
            found = (await conn.execute(query)).mappings().first()
        return _intent(found) if found else None

    async def active_intents(self) -> list[Intent]:
        query = select(power_cycles).where(power_cycles.c.state.in_(ACTIVE_STATES)).order_by(power_cycles.c.on_due_at)
        async with self.engine.connect() as conn:
            return [_intent(r) for r in (await conn.execute(query)).mappings()]

    async def transition(self, cycle_id: str, from_states: Sequence[str], **values: Any) -> bool:
        """Conditional update of an intent; True when exactly one row moved (a claim)."""
        query = (
            update(power_cycles)
            .where(power_cycles.c.id == cycle_id, power_cycles.c.state.in_(tuple(from_states)))
            .values(**values)
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(query)
        return result.rowcount == 1

    async def add_cloud_calls(self, month: str, calls: int) -> int:
        """Add to this month's counter and return the new total."""
        bump = update(cloud_calls).where(cloud_calls.c.month == month).values(calls=cloud_calls.c.calls + calls)
        for _ in range(2):  # a concurrent first insert of the month wins at most once
            try:
                async with self.engine.begin() as conn:
                    if (await conn.execute(bump)).rowcount == 0:
                        await conn.execute(insert(cloud_calls).values(month=month, calls=calls))
                    query = select(cloud_calls.c.calls).where(cloud_calls.c.month == month)
                    return int((await conn.execute(query)).scalar() or 0)
            except IntegrityError:
                continue
        return 0

    async def cloud_calls(self, month: str) -> int:
        async with self.engine.connect() as conn:
            query = select(cloud_calls.c.calls).where(cloud_calls.c.month == month)
            return int((await conn.execute(query)).scalar() or 0)
