"""Notification tables: incidents, the outbox and its deliveries (pbxwatch's own; the seed's are untouched).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from pbxwatch.notify.tables import notify_metadata

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    notify_metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    raise NotImplementedError("pbxwatch migrations never drop data")
