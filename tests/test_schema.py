"""The schema pbxwatch creates is the contract of docs/design.md §2, on PostgreSQL and on SQLite."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from pbxwatch.db.engine import Database
from pbxwatch.db.migrate import check, upgrade_url

CONTRACT = {
    "enterprises": {
        "number": ("text", "NO", None),
        "name": ("text", "YES", None),
        "host": ("text", "YES", None),
        "ssh_port": ("integer", "YES", "22"),
        "parameter_option_2": ("boolean", "YES", "false"),
        "ewelink_device_id": ("text", "YES", None),
        "ewelink_outlet": ("integer", "YES", None),
        "active": ("boolean", "YES", "true"),
        "cycle_mode": ("text", "YES", "'cloud'::text"),
    },
    "unit_live_status": {
        "enterprise_number": ("text", "NO", None),
        "last_status": ("text", "YES", None),
        "last_checked_at": ("timestamp with time zone", "YES", None),
        "failure_counter": ("integer", "YES", "0"),
        "last_error_message": ("text", "YES", None),
        "disk_usage_percent": ("integer", "YES", None),
        "line_stats": ("jsonb", "YES", None),
        "sip_peers": ("integer", "YES", None),
        "ewelink_action_done": ("boolean", "YES", "false"),
    },
    "unit_status_history": {
        "id": ("integer", "NO", "nextval('unit_status_history_id_seq'::regclass)"),
        "enterprise_number": ("text", "YES", None),
        "prev_status": ("text", "YES", None),
        "new_status": ("text", "YES", None),
        "change_time": ("timestamp with time zone", "YES", None),
        "failure_counter": ("integer", "YES", None),
        "error_message": ("text", "YES", None),
        "action_type": ("text", "YES", None),
        "action_result": ("text", "YES", None),
        "action_time": ("timestamp with time zone", "YES", None),
        "user_initiator": ("text", "YES", None),
        "extra_info": ("jsonb", "YES", None),
    },
}


async def _columns(url: str) -> dict[str, dict[str, tuple[str, str, str | None]]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ANY($1::text[])",
            list(CONTRACT),
        )
        index = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'unit_status_history' "
            "AND indexdef LIKE '%(enterprise_number, change_time)%'"
        )
    finally:
        await conn.close()
    assert index is not None, "history index on (enterprise_number, change_time) is missing"
    out: dict[str, dict[str, tuple[str, str, str | None]]] = {}
    for r in rows:
        out.setdefault(r["table_name"], {})[r["column_name"]] = (r["data_type"], r["is_nullable"], r["column_default"])
    return out


def test_upgrade_on_empty_postgres_creates_exactly_the_contract(pg_empty_url: str) -> None:
    asyncio.run(upgrade_url(pg_empty_url))
    assert asyncio.run(_columns(pg_empty_url)) == CONTRACT


def test_upgrade_twice_changes_nothing(pg_empty_url: str) -> None:
    asyncio.run(upgrade_url(pg_empty_url))
    asyncio.run(upgrade_url(pg_empty_url))
    assert asyncio.run(_columns(pg_empty_url)) == CONTRACT


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_db_check_finds_a_fresh_schema_clean(backend: str, request: pytest.FixtureRequest) -> None:
    url: str = request.getfixturevalue("pg_url" if backend == "postgresql" else "sqlite_url")

    async def run() -> list[tuple[str, str]]:
        db = Database.from_url(url)
        try:
            return [(f.level, f.message) for f in await check(db)]
        finally:
            await db.dispose()

    assert asyncio.run(run()) == [("ok", "schema matches the contract")]


def test_db_check_reports_a_missing_column(pg_url: str) -> None:
    async def run() -> list[tuple[str, str]]:
        conn = await asyncpg.connect(pg_url)
        await conn.execute("ALTER TABLE unit_live_status DROP COLUMN sip_peers")
        await conn.close()
        db = Database.from_url(pg_url)
        try:
            return [(f.level, f.message) for f in await check(db)]
        finally:
            await db.dispose()

    assert ("error", "column unit_live_status.sip_peers is missing") in asyncio.run(run())
