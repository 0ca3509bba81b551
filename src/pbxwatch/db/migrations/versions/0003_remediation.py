"""Maintenance windows and per-enterprise remediation ladders: `pbxwatch_maintenance`, `pbxwatch_unit_ladder`.

A database created by this version already has it (0001 creates every table pbxwatch knows); one created
before gets it here. Nothing existing is touched.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pbxwatch.db.tables import maintenance_windows, unit_ladders

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in (maintenance_windows, unit_ladders):
        if not sa.inspect(bind).has_table(table.name):
            table.create(bind)


def downgrade() -> None:
    raise NotImplementedError("pbxwatch migrations never drop data")
