"""Create or adopt the contract tables and pbxwatch's own tables.

Adoption rules (docs/design.md §2): a table that exists keeps every row and every column of its own; only the
missing columns are added, then the primary key / foreign keys / index pbxwatch relies on when the data
allows it. Nothing is dropped, renamed or retyped. When a constraint cannot be added the migration stops
with `AdoptionError` saying why, and the transaction is rolled back.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from pbxwatch.db.adopt import adopt_or_create

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    adopt_or_create()


def downgrade() -> None:
    raise NotImplementedError("pbxwatch migrations never drop data")
