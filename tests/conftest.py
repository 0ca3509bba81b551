"""Shared fixtures: throwaway databases on the real PostgreSQL server, and SQLite files; and the guard
that keeps every test off the machine's own pbxwatch paths."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from pbxwatch.config import SYSTEM_CONFIG_ENV
from pbxwatch.db.engine import Database
from pbxwatch.db.migrate import upgrade_url

# The server CI starts (see .ci/run); override to point the tests at another one.
PG_ADMIN_URL = os.environ.get("PBXWATCH_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")

pytest_plugins: list[str] = [
    "tests.relay_fixtures",
    "tests.cloud_fixtures",
    "tests.fleet_fixtures",
    "tests.notify_receivers",
]

#: where an installed pbxwatch keeps its config, pid/heartbeat files and logs
SYSTEM_PATHS = ("/etc/pbxwatch", "/run/pbxwatch", "/var/log/pbxwatch")
_AUDITED = {"open", "os.mkdir", "os.remove", "os.rename", "os.replace", "os.rmdir", "os.listdir", "os.scandir"}
#: system paths touched by this process since the last test ended (the guard fails that test)
touched: list[str] = []


def _system_path(arg: Any) -> str | None:
    if not isinstance(arg, str | bytes | os.PathLike):
        return None
    path = os.path.abspath(os.fsdecode(arg))
    return path if any(path == p or path.startswith(p + "/") for p in SYSTEM_PATHS) else None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """Refuse (and remember: callers may swallow the OSError) any file operation on a system path."""
    if event not in _AUDITED:
        return
    for arg in args[:2]:
        path = _system_path(arg)
        if path is not None:
            touched.append(f"{event} {path}")
            raise PermissionError(f"a test touched the system path {path} ({event})")


sys.addaudithook(_audit)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist the end-to-end tests (marked slow, minutes each) are handed out first, so that
    no worker starts one while the others run out of work. Every worker sorts alike, as xdist requires;
    a serial run keeps the file order."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def private_system_paths(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test: no system config file (`PBXWATCH_SYSTEM_CONFIG` empty, kept by the subprocess helpers),
    its own HOME; afterwards, fail it if this process touched a system path."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv(SYSTEM_CONFIG_ENV, "")
    monkeypatch.setenv("HOME", str(home))
    touched.clear()
    yield home
    found, touched[:] = list(touched), []
    assert not found, f"the test touched system paths: {found}"


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
