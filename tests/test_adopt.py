"""`db upgrade` adopts an existing database: every row and every foreign column survives (docs/design.md §2)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import select

from pbxwatch.db.engine import Database
from pbxwatch.db.history import HistoryEntry, write_history
from pbxwatch.db.migrate import MigrationError, check, upgrade, upgrade_url
from pbxwatch.db.tables import unit_status_history

LEGACY_SCHEMA = """
CREATE TABLE enterprises (number text PRIMARY KEY, name text, host text, legacy_code integer,
                          parameter_option_2 boolean);
INSERT INTO enterprises VALUES ('0201', 'Alpha', '10.1.0.1', 7, true), ('0202', 'Beta', '10.1.0.2', 8, false),
                               ('0203', 'Gamma', NULL, NULL, NULL);
CREATE TABLE unit_live_status (enterprise_number text PRIMARY KEY REFERENCES enterprises(number),
                               last_status text, last_checked_at timestamp, failure_counter integer, notes text);
INSERT INTO unit_live_status VALUES ('0201', 'online', '2025-01-02 03:04:05', 0, 'kept');
CREATE TABLE unit_status_history (id serial PRIMARY KEY, enterprise_number text, prev_status text,
                                  new_status text, change_time timestamp, action_type text, legacy_flag boolean);
INSERT INTO unit_status_history (enterprise_number, prev_status, new_status, change_time, action_type, legacy_flag)
VALUES ('0201', 'on', 'off', '2025-01-01 10:00:00', NULL, true),
       ('0201', 'on', 'on', '2025-01-01 10:01:00', 'ewelink_toggle', false);
"""


async def _sql(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        if ";" in sql.strip().rstrip(";"):
            await conn.execute(sql)
            return []
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def test_adopting_a_partial_schema_keeps_every_row_and_column(pg_empty_url: str) -> None:
    asyncio.run(_sql(pg_empty_url, LEGACY_SCHEMA))
    asyncio.run(upgrade_url(pg_empty_url))

    enterprises = asyncio.run(_sql(pg_empty_url, "SELECT * FROM enterprises ORDER BY number"))
    assert [(r["number"], r["name"], r["legacy_code"], r["ssh_port"], r["active"]) for r in enterprises] == [
        ("0201", "Alpha", 7, 22, True),
        ("0202", "Beta", 8, 22, True),
        ("0203", "Gamma", None, 22, True),
    ]
    live = asyncio.run(_sql(pg_empty_url, "SELECT * FROM unit_live_status"))
    assert [(r["notes"], r["last_checked_at"], r["ewelink_action_done"]) for r in live] == [
        ("kept", datetime(2025, 1, 2, 3, 4, 5), False)
    ]
    history = asyncio.run(_sql(pg_empty_url, "SELECT * FROM unit_status_history ORDER BY id"))
    assert [(r["id"], r["prev_status"], r["new_status"], r["legacy_flag"], r["extra_info"]) for r in history] == [
        (1, "on", "off", True, None),
        (2, "on", "on", False, None),
    ]
    fks = asyncio.run(
        _sql(
            pg_empty_url,
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = 'unit_status_history'::regclass",
        )
    )
    assert [r["conname"] for r in fks] == ["unit_status_history_enterprise_number_fkey"]


def test_naive_columns_are_accepted_with_a_warning_and_written_as_naive_utc(pg_empty_url: str) -> None:
    asyncio.run(_sql(pg_empty_url, LEGACY_SCHEMA))
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)

    async def run() -> tuple[list[tuple[str, str]], datetime, datetime]:
        db = Database.from_url(pg_empty_url)
        try:
            await upgrade(db)
            await db.prepare()
            findings = [(f.level, f.message) for f in await check(db)]
            async with db.begin() as conn:
                await write_history(conn, [HistoryEntry.recovered("0201", at=moment)])
            async with db.connect() as conn:
                query = select(unit_status_history.c.change_time).order_by(unit_status_history.c.id.desc()).limit(1)
                read_back = (await conn.execute(query)).scalar_one()
        finally:
            await db.dispose()
        raw = (await _sql(pg_empty_url, "SELECT change_time FROM unit_status_history ORDER BY id DESC LIMIT 1"))[0]
        return findings, read_back, raw["change_time"]

    findings, read_back, raw = asyncio.run(run())
    assert {level for level, _ in findings} == {"warning"}
    assert ("warning", "unit_status_history.change_time is timestamp without time zone (naive UTC)") in findings
    assert raw == datetime(2026, 3, 1, 12, 30)
    assert read_back == moment


def test_upgrade_refuses_when_the_primary_key_cannot_be_added_and_changes_nothing(pg_empty_url: str) -> None:
    asyncio.run(
        _sql(
            pg_empty_url,
            "CREATE TABLE enterprises (number text, host text); "
            "INSERT INTO enterprises VALUES ('1', 'a'), ('1', 'b'), (NULL, 'c');",
        )
    )
    with pytest.raises(MigrationError, match=r"cannot add the primary key \(number\) to enterprises: 1 duplicated"):
        asyncio.run(upgrade_url(pg_empty_url))
    columns = asyncio.run(
        _sql(pg_empty_url, "SELECT column_name FROM information_schema.columns WHERE table_name = 'enterprises'")
    )
    assert sorted(r["column_name"] for r in columns) == ["host", "number"]
    tables = asyncio.run(_sql(pg_empty_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    assert [r["tablename"] for r in tables] == ["enterprises"]


def test_upgrade_refuses_orphan_history_rows_naming_the_problem(pg_empty_url: str) -> None:
    asyncio.run(
        _sql(
            pg_empty_url,
            "CREATE TABLE enterprises (number text PRIMARY KEY); "
            "CREATE TABLE unit_status_history (id serial PRIMARY KEY, enterprise_number text); "
            "INSERT INTO unit_status_history (enterprise_number) VALUES ('ghost');",
        )
    )
    with pytest.raises(MigrationError, match="1 row\\(s\\) name an enterprise that does not exist"):
        asyncio.run(upgrade_url(pg_empty_url))
