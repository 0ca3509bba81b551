"""The remediation migration on a database created before it: the two pbxwatch-owned tables appear, nothing else
changes, and `db check` is clean afterwards."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import text

from pbxwatch.db.engine import Database
from pbxwatch.db.migrate import alembic_config, check, upgrade


async def test_a_database_at_0001_gets_the_remediation_tables(pg_url: str) -> None:
    db = Database.from_url(pg_url)
    try:
        async with db.begin() as conn:  # what 0001 left before this version knew the tables
            await conn.execute(text("DROP TABLE pbxwatch_maintenance"))
            await conn.execute(text("DROP TABLE pbxwatch_unit_ladder"))
            await conn.execute(text("INSERT INTO enterprises (number, host) VALUES ('0201', '10.0.0.1')"))
            await conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        await upgrade(db)
        async with db.connect() as conn:
            version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            tables = set(
                (
                    await conn.execute(text("SELECT tablename FROM pg_tables WHERE tablename LIKE 'pbxwatch_%'"))
                ).scalars()
            )
            kept = await conn.scalar(text("SELECT host FROM enterprises WHERE number = '0201'"))
        assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert {"pbxwatch_maintenance", "pbxwatch_unit_ladder"} <= tables
        assert kept == "10.0.0.1"
        assert [f for f in await check(db) if f.level != "ok"] == []
    finally:
        await db.dispose()
