"""Alembic environment: pbxwatch always hands in an open connection (see `pbxwatch.db.migrate`)."""

from __future__ import annotations

from alembic import context

from pbxwatch.db.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
