"""The monitor's event port: what it tells about each check and decision, for notifications and metrics.

Every method is synchronous and cheap (it only queues): a sink must never delay a check or a cycle.
`LogEvents` (one log line per remediation event) is the default and always part of the monitor's sink;
`pbxwatch.notify.sink.NoticeSink` turns events into outbox notices and `pbxwatch.monitor.metrics.MonitorMetrics`
into Prometheus figures; `Fanout` puts several behind one.

Besides the per-check hooks, `emit` carries the remediation events a human may want routed:

    held_unstable      a unit was put on flap hold: unstable, needs a human
    rearmed            its flap hold ended (stable again, or `pbxwatch units rearm`)
    maintenance_start  a unit entered a maintenance window (no outage events until it ends)
    maintenance_end    the window ended (still down: a new outage is counted from now)
    soft_restart       Asterisk was restarted over SSH (ok or not)
    outage_confirmed   an outage was confirmed (never during a maintenance window)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pbxwatch.domain.flap import FlapHeld, FlapReleased
from pbxwatch.domain.state import (
    Action,
    Decision,
    MaintenanceEnded,
    MaintenanceStarted,
    OutageConfirmed,
    UnitState,
    WatchedUnit,
)
from pbxwatch.domain.verdicts import CheckResult

log = logging.getLogger("pbxwatch.monitor")


class EventKind(StrEnum):
    HELD_UNSTABLE = "held_unstable"
    REARMED = "rearmed"
    MAINTENANCE_START = "maintenance_start"
    MAINTENANCE_END = "maintenance_end"
    SOFT_RESTART = "soft_restart"
    OUTAGE_CONFIRMED = "outage_confirmed"


@dataclass(frozen=True)
class UnitEvent:
    kind: EventKind
    unit: str
    at: datetime
    message: str
    name: str | None = None


class EventSink(Protocol):
    def checked(self, number: str, result: CheckResult, seconds: float) -> None:
        """One check ended (before its decision is adopted)."""

    def decided(self, unit: WatchedUnit, before: UnitState, decision: Decision, now: datetime) -> None:
        """A decision was adopted (`before` is the state it replaced)."""

    def cycle_started(self, unit: WatchedUnit, state: UnitState, cycle_id: str, now: datetime) -> None: ...

    def mass_outage(self, active: bool, down: list[str], now: datetime) -> None:
        """The fleet-wide guard tripped (`active`) or lifted; `down` are the units down right now."""

    def took_lead(self, after_standby: bool, now: datetime) -> None:
        """This monitor became active; `after_standby` when it had waited for another one."""

    def emit(self, event: UnitEvent) -> None:
        """A remediation event (see the module docstring)."""


class LogEvents:
    """The default sink: nothing but one log line per remediation event."""

    def checked(self, number: str, result: CheckResult, seconds: float) -> None:
        return None

    def decided(self, unit: WatchedUnit, before: UnitState, decision: Decision, now: datetime) -> None:
        return None

    def cycle_started(self, unit: WatchedUnit, state: UnitState, cycle_id: str, now: datetime) -> None:
        return None

    def mass_outage(self, active: bool, down: list[str], now: datetime) -> None:
        return None

    def took_lead(self, after_standby: bool, now: datetime) -> None:
        return None

    def emit(self, event: UnitEvent) -> None:
        log.info("event %s unit %s: %s", event.kind.value, event.unit, event.message)


class Fanout:
    """Several sinks (notifications, metrics, a test's recorder) behind one."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def checked(self, number: str, result: CheckResult, seconds: float) -> None:
        for sink in self.sinks:
            sink.checked(number, result, seconds)

    def decided(self, unit: WatchedUnit, before: UnitState, decision: Decision, now: datetime) -> None:
        for sink in self.sinks:
            sink.decided(unit, before, decision, now)

    def cycle_started(self, unit: WatchedUnit, state: UnitState, cycle_id: str, now: datetime) -> None:
        for sink in self.sinks:
            sink.cycle_started(unit, state, cycle_id, now)

    def mass_outage(self, active: bool, down: list[str], now: datetime) -> None:
        for sink in self.sinks:
            sink.mass_outage(active, down, now)

    def took_lead(self, after_standby: bool, now: datetime) -> None:
        for sink in self.sinks:
            sink.took_lead(after_standby, now)

    def emit(self, event: UnitEvent) -> None:
        for sink in self.sinks:
            sink.emit(event)


def event_of(unit: WatchedUnit, action: Action, now: datetime) -> UnitEvent | None:
    """The event an action raises, if any (soft restarts raise theirs when the command has run)."""
    match action:
        case FlapHeld(reason):
            return UnitEvent(EventKind.HELD_UNSTABLE, unit.number, now, reason, unit.name)
        case FlapReleased(reason):
            return UnitEvent(EventKind.REARMED, unit.number, now, f"flap hold ended: {reason}", unit.name)
        case MaintenanceStarted(occurrence):
            text = f"maintenance until {occurrence.end:%Y-%m-%d %H:%M} UTC: {occurrence.window.describe()}"
            return UnitEvent(EventKind.MAINTENANCE_START, unit.number, now, text, unit.name)
        case MaintenanceEnded(occurrence, still_down):
            tail = "; still down: counted as a new outage from now" if still_down else ""
            text = f"maintenance ended: {occurrence.window.describe()}{tail}"
            return UnitEvent(EventKind.MAINTENANCE_END, unit.number, now, text, unit.name)
        case OutageConfirmed(counter, message):
            return UnitEvent(
                EventKind.OUTAGE_CONFIRMED,
                unit.number,
                now,
                f"outage confirmed after {counter} failed checks: {message}",
                unit.name,
            )
    return None
