"""The tables pbxwatch reads and writes.

`enterprises`, `unit_live_status` and `unit_status_history` are a compatibility contract with
existing databases (docs/design.md §2): names, types and vocabularies are fixed. Tables whose name starts
with `pbxwatch_` are pbxwatch's own (durable power-cycle intents, cloud call counters).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from pbxwatch.db.types import ContractTimestamp, UtcTimestamp

metadata = MetaData()

# jsonb on PostgreSQL (the contract), JSON text on SQLite.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")

enterprises = Table(
    "enterprises",
    metadata,
    Column("number", Text, primary_key=True),
    Column("name", Text, nullable=True),
    Column("host", Text, nullable=True),
    Column("ssh_port", Integer, nullable=True, server_default=text("22")),
    Column("parameter_option_2", Boolean, nullable=True, server_default=text("false")),
    Column("ewelink_device_id", Text, nullable=True),
    Column("ewelink_outlet", Integer, nullable=True),
    Column("active", Boolean, nullable=True, server_default=text("true")),
    # pbxwatch's addition: how this unit's relay is power-cycled (docs/design.md §5): 'cloud' or 'device_timer'.
    Column("cycle_mode", Text, nullable=True, server_default=text("'cloud'")),
)

unit_live_status = Table(
    "unit_live_status",
    metadata,
    Column("enterprise_number", Text, ForeignKey("enterprises.number"), primary_key=True),
    Column("last_status", Text, nullable=True),
    Column("last_checked_at", ContractTimestamp("unit_live_status.last_checked_at"), nullable=True),
    Column("failure_counter", Integer, nullable=True, server_default=text("0")),
    Column("last_error_message", Text, nullable=True),
    Column("disk_usage_percent", Integer, nullable=True),
    Column("line_stats", JsonDoc, nullable=True),
    Column("sip_peers", Integer, nullable=True),
    Column("ewelink_action_done", Boolean, nullable=True, server_default=text("false")),
)

unit_status_history = Table(
    "unit_status_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("enterprise_number", Text, ForeignKey("enterprises.number"), nullable=True),
    Column("prev_status", Text, nullable=True),
    Column("new_status", Text, nullable=True),
    Column("change_time", ContractTimestamp("unit_status_history.change_time"), nullable=True),
    Column("failure_counter", Integer, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("action_type", Text, nullable=True),
    Column("action_result", Text, nullable=True),
    Column("action_time", ContractTimestamp("unit_status_history.action_time"), nullable=True),
    Column("user_initiator", Text, nullable=True),
    Column("extra_info", JsonDoc, nullable=True),
    Index("ix_unit_status_history_enterprise_time", "enterprise_number", "change_time"),
)

power_cycles = Table(
    "pbxwatch_power_cycles",
    metadata,
    Column("id", Text, primary_key=True),  # cycle_id (uuid4 hex)
    Column("device_id", Text, nullable=False),
    Column("outlet", Integer, nullable=True),
    Column("enterprise_number", Text, nullable=True),
    Column("initiator", Text, nullable=False),
    Column("idempotency_key", Text, nullable=True, unique=True),
    Column("mode", Text, nullable=False, server_default=text("'cloud'")),
    # pending -> off -> verifying -> done | failed | cancelled ; 'off' with on_due_at in the past is overdue
    Column("state", Text, nullable=False),
    Column("off_seconds", Float, nullable=False),
    Column("created_at", UtcTimestamp(), nullable=False),
    Column("off_at", UtcTimestamp(), nullable=True),
    Column("on_due_at", UtcTimestamp(), nullable=False),
    Column("on_at", UtcTimestamp(), nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=True),
    # the last entry of the cycle's local journal (run_dir) written here: replays never write a row twice
    Column("journal_seq", Integer, nullable=False, server_default=text("0")),
    Index("ix_pbxwatch_power_cycles_device_state", "device_id", "state"),
)

cloud_calls = Table(
    "pbxwatch_cloud_calls",
    metadata,
    Column("month", Text, primary_key=True),  # 'YYYY-MM' (UTC)
    Column("calls", Integer, nullable=False, server_default=text("0")),
)

# Maintenance windows (docs: README "Maintenance windows"): one unit, or every unit when
# enterprise_number is null; one-off (starts_at..ends_at) or weekly ("sun 02:00-04:00", local time).
maintenance_windows = Table(
    "pbxwatch_maintenance",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("enterprise_number", Text, nullable=True),  # no foreign key: a fleet-wide window has none
    Column("starts_at", UtcTimestamp(), nullable=True),
    Column("ends_at", UtcTimestamp(), nullable=True),
    Column("weekly", Text, nullable=True),
    Column("reason", Text, nullable=False),
    Column("set_by", Text, nullable=False),
    Column("created_at", UtcTimestamp(), nullable=False),
    Column("ended_at", UtcTimestamp(), nullable=True),
    Column("ended_by", Text, nullable=True),
    Index("ix_pbxwatch_maintenance_unit", "enterprise_number"),
)

# The remediation ladder of one enterprise, when it differs from the settings (monitor.restart_command):
# power_only = no soft restart; restart_command = this unit's own command. No row: the settings' default.
unit_ladders = Table(
    "pbxwatch_unit_ladder",
    metadata,
    Column("enterprise_number", Text, primary_key=True),  # no foreign key: `units remove` stays simple
    Column("power_only", Boolean, nullable=False, server_default=text("false")),
    Column("restart_command", Text, nullable=True),
)
