"""`pbxwatch db upgrade` (Alembic) and `pbxwatch db check` (the schema against the contract)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from pbxwatch.db.adopt import REQUIRED_FKS, AdoptionError
from pbxwatch.db.engine import DB_ERRORS, Database, DatabaseError, describe
from pbxwatch.db.tables import metadata

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class MigrationError(Exception):
    """`db upgrade` could not bring the schema to the contract; nothing was changed."""


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


@dataclass(frozen=True)
class UpgradeReport:
    """What `db upgrade` found and left: pbxwatch's tables and the schema revision, before and after."""

    tables_before: frozenset[str]
    tables_after: frozenset[str]
    revision_before: str | None
    revision_after: str | None

    def describe(self) -> str:
        created = sorted(self.tables_after - self.tables_before)
        revision = f"revision {self.revision_after}"
        if not self.tables_before:
            return f"created the schema: {len(created)} tables ({revision})"
        if self.revision_before is None:
            also = f"; created {', '.join(created)}" if created else ""
            return f"adopted the existing tables {', '.join(sorted(self.tables_before))}{also} ({revision})"
        if self.revision_before != self.revision_after:
            return f"upgraded the schema from revision {self.revision_before} to {self.revision_after}"
        return f"schema is up to date ({revision})"


def _state(sync_conn: Connection) -> tuple[frozenset[str], str | None]:
    tables = frozenset(sa.inspect(sync_conn).get_table_names()) & frozenset(metadata.tables)
    return tables, MigrationContext.configure(sync_conn).get_current_revision()


def _upgrade(sync_conn: Connection, cfg: Config) -> UpgradeReport:
    tables_before, revision_before = _state(sync_conn)
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, "head")
    tables_after, revision_after = _state(sync_conn)
    return UpgradeReport(tables_before, tables_after, revision_before, revision_after)


async def upgrade(db: Database) -> UpgradeReport:
    """Create or adopt the schema in one transaction (rolled back whole on any problem)."""
    cfg = alembic_config()
    try:
        async with db.begin() as conn:
            report: UpgradeReport = await conn.run_sync(_upgrade, cfg)
            return report
    except AdoptionError as err:
        raise MigrationError(str(err)) from err
    except DB_ERRORS as err:
        raise DatabaseError(f"database {db.display_url}: {describe(err)}") from err


async def upgrade_url(url: str) -> None:
    db = Database.from_url(url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()


@dataclass(frozen=True)
class Finding:
    level: Literal["ok", "warning", "error"]
    message: str


def _category(type_: Any) -> str:
    name = type(type_).__name__.upper()
    text = str(type_).upper()
    if "TIMESTAMP" in text or "DATETIME" in text:
        return "timestamptz" if getattr(type_, "timezone", False) else "timestamp"
    for word, category in (("JSON", "json"), ("BOOL", "boolean"), ("INT", "integer"), ("CHAR", "text")):
        if word in name or word in text:
            return category
    if "TEXT" in text or "STRING" in name:
        return "text"
    if "FLOAT" in text or "DOUBLE" in text or "REAL" in text or "NUMERIC" in text:
        return "float"
    return text.lower()


def _expected(column: sa.Column[Any]) -> str:
    compiled = str(column.type.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
    return _category(_Compiled(compiled.upper()))


@dataclass(frozen=True)
class _Compiled:
    """A type as PostgreSQL spells it, shaped like an inspected type for `_category`."""

    text: str

    @property
    def timezone(self) -> bool:
        return "WITH TIME ZONE" in self.text

    def __str__(self) -> str:
        return self.text


def _check(sync_conn: Connection) -> list[Finding]:
    inspector = sa.inspect(sync_conn)
    findings: list[Finding] = []
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            findings.append(Finding("error", f"table {table.name} is missing (run `pbxwatch db upgrade`)"))
            continue
        actual = {c["name"]: c for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in actual:
                findings.append(Finding("error", f"column {table.name}.{column.name} is missing"))
                continue
            want, got = _expected(column), _category(actual[column.name]["type"])
            if want == "timestamptz" and got == "timestamp" and sync_conn.dialect.name == "postgresql":
                findings.append(
                    Finding("warning", f"{table.name}.{column.name} is timestamp without time zone (naive UTC)")
                )
            elif sync_conn.dialect.name == "postgresql" and want != got:
                findings.append(Finding("error", f"{table.name}.{column.name} is {got}, the contract says {want}"))
        pk = inspector.get_pk_constraint(table.name).get("constrained_columns") or []
        if pk != [c.name for c in table.primary_key.columns]:
            findings.append(Finding("error", f"{table.name} primary key is ({', '.join(pk)})"))
        indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes(table.name)}
        findings.extend(
            Finding("error", f"index {ix.name} is missing")
            for ix in table.indexes
            if tuple(c.name for c in ix.columns) not in indexed
        )
    for (table_name, fk_column), (target, _) in REQUIRED_FKS.items():
        if inspector.has_table(table_name) and not any(
            fk["constrained_columns"] == [fk_column] and fk["referred_table"] == target
            for fk in inspector.get_foreign_keys(table_name)
        ):
            findings.append(Finding("error", f"foreign key {table_name}.{fk_column} → {target} is missing"))
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    current = MigrationContext.configure(sync_conn).get_current_revision()
    if current != head:
        findings.append(Finding("error", f"schema revision is {current or 'none'}, pbxwatch expects {head}"))
    if not findings:
        findings.append(Finding("ok", "schema matches the contract"))
    return findings


async def check(db: Database) -> list[Finding]:
    try:
        async with db.connect() as conn:
            result: list[Finding] = await conn.run_sync(_check)
            return result
    except DB_ERRORS as err:
        raise DatabaseError(f"cannot reach the database {db.display_url}: {describe(err)}") from err
