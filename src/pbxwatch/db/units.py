"""The `enterprises` repository. Only the columns pbxwatch manages are ever written; others are kept."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from pbxwatch.db.tables import enterprises, unit_live_status, unit_status_history
from pbxwatch.domain.units import UNIT_FIELDS, Unit

_COLUMNS = [enterprises.c[name] for name in UNIT_FIELDS]
IMPORT_BATCH = 1000  # rows per executemany and per IN (...) look-up; well under SQLite's bound-parameter limit


class UnitNotFound(LookupError):
    def __init__(self, number: str) -> None:
        super().__init__(f"unit {number} does not exist")


class UnitExists(ValueError):
    def __init__(self, number: str) -> None:
        super().__init__(f"unit {number} already exists (use `pbxwatch units set`)")


class UnitHasHistory(ValueError):
    def __init__(self, number: str, rows: int) -> None:
        super().__init__(
            f"unit {number} has {rows} history row(s); `remove --purge` would lose them "
            "(use `pbxwatch units remove` to deactivate it instead)"
        )


async def list_units(conn: AsyncConnection, *, active_only: bool = False) -> list[Unit]:
    query = select(*_COLUMNS).order_by(enterprises.c.number)
    if active_only:
        query = query.where(enterprises.c.active.is_not(False))
    return [Unit.from_row(r) for r in (await conn.execute(query)).mappings()]


async def get_unit(conn: AsyncConnection, number: str) -> Unit:
    row = (await conn.execute(select(*_COLUMNS).where(enterprises.c.number == number))).mappings().first()
    if row is None:
        raise UnitNotFound(number)
    return Unit.from_row(row)


async def find_by_device(conn: AsyncConnection, device_id: str, outlet: int | None = None) -> Unit | None:
    """The unit fed by this relay (and outlet, when given); None when no unit names it."""
    query = select(*_COLUMNS).where(enterprises.c.ewelink_device_id == device_id)
    if outlet is not None:
        query = query.where((enterprises.c.ewelink_outlet == outlet) | enterprises.c.ewelink_outlet.is_(None))
    row = (await conn.execute(query.order_by(enterprises.c.number))).mappings().first()
    return Unit.from_row(row) if row else None


async def add_unit(conn: AsyncConnection, unit: Unit) -> None:
    exists = await conn.scalar(select(func.count()).where(enterprises.c.number == unit.number))
    if exists:
        raise UnitExists(unit.number)
    await conn.execute(insert(enterprises).values(**unit.as_dict()))


async def update_unit(conn: AsyncConnection, number: str, changes: Mapping[str, Any]) -> Unit:
    if changes:
        result = await conn.execute(update(enterprises).where(enterprises.c.number == number).values(**dict(changes)))
        if result.rowcount == 0:
            raise UnitNotFound(number)
    return await get_unit(conn, number)


async def upsert_units(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """Insert or update by `number`; each row sets only the columns it names. Returns (added, updated).

    Rows naming the same columns share one statement executed for a batch of them at once: an import of
    20,000 units is a few round trips, not 20,000.
    """
    numbers = [r["number"] for r in rows]
    existing: set[str] = set()
    for start in range(0, len(numbers), IMPORT_BATCH):
        chunk = numbers[start : start + IMPORT_BATCH]
        found = await conn.execute(select(enterprises.c.number).where(enterprises.c.number.in_(chunk)))
        existing.update(found.scalars())
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_columns.setdefault(tuple(sorted(row)), []).append(dict(row))
    for columns, group in by_columns.items():
        statement = _upsert_statement(conn, columns)
        for start in range(0, len(group), IMPORT_BATCH):
            await conn.execute(statement, group[start : start + IMPORT_BATCH])
    added = sum(1 for number in numbers if number not in existing)
    return added, len(rows) - added


def _upsert_statement(conn: AsyncConnection, columns: tuple[str, ...]) -> Any:
    make_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = make_insert(enterprises)
    changes = {k: statement.excluded[k] for k in columns if k != "number"}
    if changes:
        return statement.on_conflict_do_update(index_elements=["number"], set_=changes)
    return statement.on_conflict_do_nothing(index_elements=["number"])


async def deactivate(conn: AsyncConnection, number: str) -> Unit:
    return await update_unit(conn, number, {"active": False})


async def purge(conn: AsyncConnection, number: str) -> None:
    """Delete the unit and its live status; refused while history rows exist."""
    await get_unit(conn, number)
    rows = await conn.scalar(
        select(func.count()).select_from(unit_status_history).where(unit_status_history.c.enterprise_number == number)
    )
    if rows:
        raise UnitHasHistory(number, int(rows))
    await conn.execute(delete(unit_live_status).where(unit_live_status.c.enterprise_number == number))
    await conn.execute(delete(enterprises).where(enterprises.c.number == number))
