"""Shared fixtures: throwaway databases on the real PostgreSQL server, and SQLite files."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from pbxwatch.db.engine import Database
from pbxwatch.db.migrate import upgrade_url

# The server CI starts (see .ci/run); override to point the tests at another one.
PG_ADMIN_URL = os.environ.get("PBXWATCH_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")

pytest_plugins: list[str] = ["tests.relay_fixtures", "tests.cloud_fixtures", "tests.fleet_fixtures"]


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _db_url(name: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
def pg_empty_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test. Never touches other databases."""
    name = f"pbxwatch_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _db_url(name)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url(pg_empty_url: str) -> str:
    """A fresh PostgreSQL database with the pbxwatch schema."""
    asyncio.run(upgrade_url(pg_empty_url))
    return pg_empty_url


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    """A connected `Database` on a fresh PostgreSQL database with the schema."""
    database = Database.from_url(pg_url)
    await database.prepare()
    yield database
    await database.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file with the pbxwatch schema."""
    url = f"sqlite:///{tmp_path / 'pbxwatch.db'}"
    asyncio.run(upgrade_url(url))
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on both backends."""
    name = "pg_url" if request.param == "postgresql" else "sqlite_url"
    url: str = request.getfixturevalue(name)
    return url
