"""Power-cycle intents remember how much of their local journal reached the database.

`pbxwatch_power_cycles.journal_seq`: the relay service replays a cycle's journal (kept in `run_dir`
while the database is down) entry by entry, each in one transaction with this counter, so a replay after
a crash never writes a history row twice.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("pbxwatch_power_cycles")}
    if "journal_seq" not in columns:  # 0001 creates it on a fresh database (it builds the current tables)
        op.add_column(
            "pbxwatch_power_cycles", sa.Column("journal_seq", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    raise NotImplementedError("pbxwatch migrations never drop data")
