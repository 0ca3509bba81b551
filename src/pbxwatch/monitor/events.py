"""The monitor's event port: what a notifier (or anything else) may route to a human.

    held_unstable      a unit was put on flap hold: unstable, needs a human
    rearmed            its flap hold ended (stable again, or `pbxwatch units rearm`)
    maintenance_start  a unit entered a maintenance window (no outage events until it ends)
    maintenance_end    the window ended (still down: a new outage is counted from now)
    soft_restart       Asterisk was restarted over SSH (ok or not)
    outage_confirmed   an outage was confirmed (never during a maintenance window)

The monitor calls `EventSink.emit` synchronously and must never wait on delivery: a sink queues.
The default sink only logs one line per event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pbxwatch.domain.flap import FlapHeld, FlapReleased
from pbxwatch.domain.state import Action, MaintenanceEnded, MaintenanceStarted, OutageConfirmed, Unit

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
    def emit(self, event: UnitEvent) -> None: ...


class LogEvents:
    """The default sink: one log line per event."""

    def emit(self, event: UnitEvent) -> None:
        log.info("event %s unit %s: %s", event.kind.value, event.unit, event.message)


def event_of(unit: Unit, action: Action, now: datetime) -> UnitEvent | None:
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
            return UnitEvent(EventKind.OUTAGE_CONFIRMED, unit.number, now,
                             f"outage confirmed after {counter} failed checks: {message}", unit.name)
    return None
