"""pbxwatch's notification tables (migration 0004): incidents, the outbox and its deliveries.

They live in a MetaData of their own: revision 0001 creates or adopts the contract tables from
`pbxwatch.db.tables.metadata`, these are created by their own revision and never touch the seed's.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, Table, Text, UniqueConstraint, text

from pbxwatch.db.tables import JsonDoc
from pbxwatch.db.types import UtcTimestamp

notify_metadata = MetaData()

# One row per confirmed outage of one unit: opened on confirmation, closed on recovery.
incidents = Table(
    "pbxwatch_incidents",
    notify_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("enterprise_number", Text, nullable=False),
    Column("opened_at", UtcTimestamp(), nullable=False),  # the first failed check of the outage
    Column("confirmed_at", UtcTimestamp(), nullable=False),
    Column("closed_at", UtcTimestamp(), nullable=True),
    Column("reason", Text, nullable=True),
    Column("last_notice_at", UtcTimestamp(), nullable=True),
    Column("reminders", Integer, nullable=False, server_default=text("0")),
    UniqueConstraint("enterprise_number", "opened_at", name="uq_pbxwatch_incidents_unit_opened"),
    Index("ix_pbxwatch_incidents_open", "closed_at"),
)

# The durable outbox: one row per event; `event_key` makes producing an event idempotent.
outbox = Table(
    "pbxwatch_notify_outbox",
    notify_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_key", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("enterprise_number", Text, nullable=True),
    Column("incident_id", Integer, nullable=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("facts", JsonDoc, nullable=True),
    Column("created_at", UtcTimestamp(), nullable=False),
)

# One row per (event, channel). pending -> sending -> sent | failed; a claim is a conditional UPDATE
# pending -> sending whose row count must be 1, so each (event, channel) is attempted by one sender at a
# time, and a sender that died while `sending` never causes a second copy (at most once).
deliveries = Table(
    "pbxwatch_notify_deliveries",
    notify_metadata,
    Column("event_id", Integer, primary_key=True),
    Column("channel", Text, primary_key=True),  # a digest of the apprise URL: no secret in the database
    Column("label", Text, nullable=False),  # the URL's scheme, for operators
    Column("state", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_at", UtcTimestamp(), nullable=False),
    Column("owner", Text, nullable=True),
    Column("sent_at", UtcTimestamp(), nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_pbxwatch_notify_deliveries_due", "state", "next_at"),
)
