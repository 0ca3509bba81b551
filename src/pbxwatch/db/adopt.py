"""Create missing tables, or adopt existing ones without losing a row or a foreign column (docs/design.md §2)."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

from pbxwatch.db.tables import metadata

log = logging.getLogger(__name__)

# The foreign keys pbxwatch relies on: (table, column) → (referenced table, column).
REQUIRED_FKS = {
    ("unit_live_status", "enterprise_number"): ("enterprises", "number"),
    ("unit_status_history", "enterprise_number"): ("enterprises", "number"),
}


class AdoptionError(Exception):
    """An existing table cannot be brought to the contract without changing its data."""


def adopt_or_create() -> None:
    bind = op.get_bind()
    for table in metadata.sorted_tables:
        if not sa.inspect(bind).has_table(table.name):
            table.create(bind)
            log.info("created table %s", table.name)
            continue
        _add_missing_columns(bind, table)
        _ensure_primary_key(bind, table)
        _ensure_indexes(bind, table)
    for (table_name, column), target in REQUIRED_FKS.items():
        _ensure_foreign_key(bind, table_name, column, target)


def _add_missing_columns(bind: Connection, table: sa.Table) -> None:
    existing = {c["name"] for c in sa.inspect(bind).get_columns(table.name)}
    for column in table.columns:
        if column.name in existing:
            continue
        if column.primary_key and table.name == "unit_status_history" and bind.dialect.name == "postgresql":
            # A serial id numbers the existing rows; the primary key is added below.
            op.execute(sa.text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" serial'))
        elif column.primary_key:
            raise AdoptionError(
                f"table {table.name} exists without its key column {column.name}; "
                "add it (unique, not null) by hand, then run `pbxwatch db upgrade` again"
            )
        else:
            op.add_column(table.name, column._copy())
        log.info("added column %s.%s", table.name, column.name)


def _ensure_primary_key(bind: Connection, table: sa.Table) -> None:
    wanted = [c.name for c in table.primary_key.columns]
    current = sa.inspect(bind).get_pk_constraint(table.name).get("constrained_columns") or []
    if current == wanted:
        return
    if current:
        raise AdoptionError(
            f"table {table.name} has primary key ({', '.join(current)}), pbxwatch needs ({', '.join(wanted)})"
        )
    key = ", ".join(f'"{c}"' for c in wanted)
    problems = bind.execute(
        sa.text(f'SELECT count(*) FROM (SELECT {key} FROM "{table.name}" GROUP BY {key} HAVING count(*) > 1) d')
    ).scalar_one()
    nulls = bind.execute(
        sa.text(f'SELECT count(*) FROM "{table.name}" WHERE ' + " OR ".join(f'"{c}" IS NULL' for c in wanted))
    ).scalar_one()
    if problems or nulls:
        raise AdoptionError(
            f"cannot add the primary key ({', '.join(wanted)}) to {table.name}: "
            f"{problems} duplicated and {nulls} empty key value(s); clean them up and run `db upgrade` again"
        )
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table(table.name, recreate="always") as batch:
            batch.create_primary_key(f"{table.name}_pkey", wanted)
    else:
        op.create_primary_key(f"{table.name}_pkey", table.name, wanted)
    log.info("added primary key to %s", table.name)


def _ensure_indexes(bind: Connection, table: sa.Table) -> None:
    existing = {tuple(ix["column_names"]) for ix in sa.inspect(bind).get_indexes(table.name)}
    for index in table.indexes:
        columns = tuple(c.name for c in index.columns)
        if columns not in existing:
            index.create(bind)
            log.info("created index %s", index.name)


def _ensure_foreign_key(bind: Connection, table_name: str, column: str, target: tuple[str, str]) -> None:
    inspector = sa.inspect(bind)
    for fk in inspector.get_foreign_keys(table_name):
        if fk["constrained_columns"] == [column] and fk["referred_table"] == target[0]:
            return
    orphans = bind.execute(
        sa.text(
            f'SELECT count(*) FROM "{table_name}" t WHERE t."{column}" IS NOT NULL AND NOT EXISTS '
            f'(SELECT 1 FROM "{target[0]}" e WHERE e."{target[1]}" = t."{column}")'
        )
    ).scalar_one()
    if orphans:
        raise AdoptionError(
            f"cannot add the foreign key {table_name}.{column} → {target[0]}.{target[1]}: "
            f"{orphans} row(s) name an enterprise that does not exist; add those enterprises first"
        )
    name = f"{table_name}_{column}_fkey"
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table(table_name, recreate="always") as batch:
            batch.create_foreign_key(name, target[0], [column], [target[1]])
    else:
        op.create_foreign_key(name, table_name, target[0], [column], [target[1]])
    log.info("added foreign key %s", name)
