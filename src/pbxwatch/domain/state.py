"""Domain values of the watchdog: a unit, its remembered state, and the actions a decision asks for.

Actions are data (docs/design.md §4): the monitor turns them into database rows, log lines and
HTTP calls. Nothing here performs I/O or reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pbxwatch.domain.flap import NOTHING_YET, FlapHeld, FlapMemory, FlapReleased
from pbxwatch.domain.maintenance import Occurrence
from pbxwatch.domain.units import Unit as UnitRecord
from pbxwatch.domain.vocabulary import HoldKind, LiveStatus, PbxStatus, pbx_status


@dataclass(frozen=True)
class WatchedUnit:
    """One enterprise as the watchdog watches it: its `enterprises` record (`pbxwatch.domain.units.Unit`,
    built by `watching`) with a host to probe and the soft-restart command of its ladder resolved."""

    number: str
    host: str
    ssh_port: int = 22
    auto_cycle: bool = False  # parameter_option_2
    device_id: str | None = None
    outlet: int | None = None
    name: str | None = None
    restart_command: str | None = None  # the soft restart rung of the ladder (None: power-cycle only)

    @classmethod
    def watching(cls, record: UnitRecord, restart_command: str | None = None) -> WatchedUnit:
        """The watchdog's view of an enterprise (one with a host: a unit without one cannot be probed)."""
        return cls(
            number=record.number,
            host=record.host or "",
            ssh_port=record.ssh_port,
            auto_cycle=record.parameter_option_2,
            device_id=record.ewelink_device_id,
            outlet=record.ewelink_outlet,
            name=record.name,
            restart_command=restart_command,
        )


@dataclass(frozen=True)
class UnitState:
    """What the watchdog remembers about one unit between checks.

    The first three fields mirror `unit_live_status`; the rest live in the monitor's memory and
    are rebuilt conservatively after a restart (`UnitState.restored`).
    """

    last_status: LiveStatus | None = None
    failure_counter: int = 0
    action_done: bool = False  # ewelink_action_done
    confirmed: bool = False  # the current outage was confirmed (its on→off row is written or owed)
    outage_since: datetime | None = None  # first check of the current outage; None while up
    holds: frozenset[HoldKind] = frozenset()  # holds already audited in the current outage
    cycle_failure_audited: bool = False  # a `fail` row for an unreachable relay service, this outage
    cycle_at: datetime | None = None  # last automatic cycle we started: boot grace runs from here
    relay_offline_at: datetime | None = None  # when the relay was last seen offline (re-check timer)
    retry_cycle_at: datetime | None = None  # back-off after the relay service failed us
    cycles: tuple[datetime, ...] = ()  # automatic cycles of this unit in the last day
    flap: FlapMemory = NOTHING_YET  # survives recoveries: the flap rule looks across outages
    maintenance: Occurrence | None = None  # the maintenance window the unit is in
    soft_restart_at: datetime | None = None  # the soft restart of this outage (at most one)
    sweep_awaited: bool = False  # the wait for a full sweep before a power-cycle is logged (once per outage)

    @classmethod
    def restored(
        cls,
        *,
        last_status: str | None,
        failure_counter: int | None,
        action_done: bool | None,
        threshold: int,
        outage_since: datetime | None,
        cycles: tuple[datetime, ...] = (),
    ) -> UnitState:
        """State after a restart, from the stored row: a counter at the threshold is a confirmed outage."""
        status = LiveStatus(last_status) if last_status in {"online", "offline"} else None
        counter = failure_counter or 0
        confirmed = status is LiveStatus.OFFLINE and counter >= threshold
        return cls(
            last_status=status,
            failure_counter=counter,
            action_done=bool(action_done),
            confirmed=confirmed,
            outage_since=outage_since if status is LiveStatus.OFFLINE else None,
            cycle_at=max(cycles) if cycles else None,
            cycles=cycles,
        )

    @property
    def pbx_status(self) -> PbxStatus:
        """The PBX as the history rows name it: `off` during a confirmed outage, else `on`."""
        return pbx_status(self.confirmed)


@dataclass(frozen=True)
class Metrics:
    disk_usage_percent: int | None
    line_stats: dict[str, Any] | None
    sip_peers: int | None


@dataclass(frozen=True)
class LiveWrite:
    """The `unit_live_status` update of one check (docs/design.md §3 table). `None` means "leave unchanged"."""

    checked_at: datetime
    last_status: LiveStatus | None
    failure_counter: int | None
    error_message: str | None  # None clears it
    metrics: Metrics | None
    reset_action_done: bool = False


@dataclass(frozen=True)
class OutageConfirmed:
    """Write the `on`→`off` row."""

    failure_counter: int
    error_message: str


@dataclass(frozen=True)
class Recovered:
    """Write the `off`→`on` row (ewelink_action_done is reset by the live write)."""


@dataclass(frozen=True)
class BlipEnded:
    """An outage ended before confirmation: no row, a metric and a log line."""

    failures: int


@dataclass(frozen=True)
class Hold:
    """An automatic cycle held back: one audit row and one log line."""

    kind: HoldKind
    reason: str


@dataclass(frozen=True)
class CheckRelay:
    """Read the relay's `online` flag from the relay service, then call `watchdog.relay_checked`."""

    device_id: str


@dataclass(frozen=True)
class PowerCycle:
    """Claim the cycle (conditional update, row count 1), then `POST /power-cycle`."""

    device_id: str
    outlet: int | None
    idempotency_key: str


@dataclass(frozen=True)
class CycleFailed:
    """The relay service could not be reached: a `fail` row (once per outage) and a log line."""

    device_id: str
    reason: str


@dataclass(frozen=True)
class GraceEnded:
    """The PBX answered with an uptime younger than the cycle: boot grace is over."""

    uptime_seconds: int


@dataclass(frozen=True)
class MaintenanceStarted:
    """The unit entered a maintenance window: a `maintenance_start` row by whoever set it."""

    occurrence: Occurrence


@dataclass(frozen=True)
class MaintenanceEnded:
    """The window is over: a `maintenance_end` row; a unit still down starts a new outage from now."""

    occurrence: Occurrence
    still_down: bool


@dataclass(frozen=True)
class AwaitSweep:
    """The outage is confirmed but the mass-outage guard has not seen every unit since it began: no cycle
    yet (a log line, no history row); the next check looks again."""

    until: datetime


@dataclass(frozen=True)
class SoftRestart:
    """Run the restart command over SSH (the first rung of the ladder), then report with `soft_restarted`."""

    command: str


Action = (
    OutageConfirmed
    | Recovered
    | BlipEnded
    | Hold
    | CheckRelay
    | PowerCycle
    | CycleFailed
    | GraceEnded
    | FlapHeld
    | FlapReleased
    | MaintenanceStarted
    | MaintenanceEnded
    | SoftRestart
    | AwaitSweep
)


@dataclass(frozen=True)
class Decision:
    state: UnitState
    live: LiveWrite | None = None
    actions: tuple[Action, ...] = field(default=())
