"""The database connection: PostgreSQL (asyncpg) in production, SQLite (aiosqlite, WAL) embedded.

Users write plain URLs (`postgresql://…`, `sqlite:///pbxwatch.db`); pbxwatch picks the async driver.
SQLite runs in WAL mode with a busy timeout, and every transaction starts with `BEGIN IMMEDIATE` so two
processes writing at once wait for each other instead of failing with "database is locked".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pbxwatch.config import mask_url
from pbxwatch.db.tables import metadata
from pbxwatch.db.types import NAIVE_COLUMNS_ATTR

SQLITE_BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_S = 10
# What a database that is down or unusable raises: asyncpg raises plain OSError / TimeoutError when the
# server cannot be reached at all, everything else arrives wrapped by SQLAlchemy.
DB_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, OSError, TimeoutError)


class DatabaseError(Exception):
    """The database cannot be reached or used. The message is one line, password masked."""


def async_url(url: str) -> URL:
    """`postgresql://` → asyncpg, `sqlite:///` → aiosqlite; explicit drivers are kept."""
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise DatabaseError(f"invalid database URL {mask_url(url)}") from err
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    raise DatabaseError(f"unsupported database URL {mask_url(url)} (use postgresql:// or sqlite:///)")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Take transaction control away from the driver so we can say BEGIN IMMEDIATE ourselves.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass
class Database:
    """One engine per process; `naive_columns` lists adopted `timestamp without time zone` columns."""

    url: str
    engine: AsyncEngine
    naive_columns: frozenset[str] = frozenset()

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 5) -> Database:
        target = async_url(url)
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if target.get_backend_name() == "sqlite":
            kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
        else:
            kwargs |= {
                "pool_size": pool_size,
                "max_overflow": pool_size,
                "connect_args": {"timeout": CONNECT_TIMEOUT_S, "command_timeout": 60},
            }
        engine = create_async_engine(target, **kwargs)
        if target.get_backend_name() == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return cls(url=url, engine=engine)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    async def prepare(self) -> None:
        """Connect once (clear error if unreachable) and learn which contract columns are naive."""
        try:
            async with self.engine.connect() as conn:
                naive = await conn.run_sync(_naive_timestamp_columns)
        except DB_ERRORS as err:
            raise DatabaseError(f"cannot reach the database {self.display_url}: {describe(err)}") from err
        self.naive_columns = frozenset(naive)
        setattr(self.engine.dialect, NAIVE_COLUMNS_ATTR, self.naive_columns)

    async def dispose(self) -> None:
        await self.engine.dispose()

    def begin(self) -> Any:
        """`async with db.begin() as conn:` — one transaction."""
        return self.engine.begin()

    def connect(self) -> Any:
        return self.engine.connect()


def _naive_timestamp_columns(sync_conn: Connection) -> set[str]:
    if sync_conn.dialect.name != "postgresql":
        return set()
    inspector = inspect(sync_conn)
    naive: set[str] = set()
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        for column in inspector.get_columns(table.name):
            type_text = str(column["type"]).upper()
            if type_text.startswith("TIMESTAMP") and not getattr(column["type"], "timezone", False):
                naive.add(f"{table.name}.{column['name']}")
    return naive


def describe(err: BaseException) -> str:
    """One line for an operator: the driver's own message, without SQL or a traceback."""
    inner = getattr(err, "orig", None) or err
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    return text[:300]


async def lock_timeout(conn: AsyncConnection, seconds: float) -> None:
    """Bound how long a PostgreSQL statement waits for a row lock (no-op on SQLite)."""
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(seconds * 1000)}ms'")
