"""Turn the watchdog's actions into owed history rows (seed vocabulary) and one log line each."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pbxwatch.db.history import HistoryEntry
from pbxwatch.domain.state import (
    Action,
    AwaitSweep,
    BlipEnded,
    CycleFailed,
    GraceEnded,
    Hold,
    OutageConfirmed,
    Recovered,
    UnitState,
    WatchedUnit,
)
from pbxwatch.domain.vocabulary import Initiator
from pbxwatch.monitor.store import Owed

log = logging.getLogger("pbxwatch.monitor")


def relay_info(unit: WatchedUnit) -> dict[str, Any]:
    return {"device_id": unit.device_id, "outlet": unit.outlet} if unit.device_id else {}


def record(unit: WatchedUnit, state: UnitState, action: Action, now: datetime) -> Owed | None:
    """The row an action owes (None for actions that only log), after logging it."""
    n, where = unit.number, f"{unit.host}:{unit.ssh_port}"
    match action:
        case OutageConfirmed(counter, message):
            log.warning("unit %s (%s): outage confirmed after %d failed checks: %s", n, where, counter, message)
            return Owed(HistoryEntry.outage_confirmed(n, at=now, failure_counter=counter, error_message=message))
        case Recovered():
            log.warning("unit %s (%s): back online after a confirmed outage", n, where)
            return Owed(HistoryEntry.recovered(n, at=now))
        case BlipEnded(failures):
            log.info("unit %s (%s): back online after %d failed check(s) before confirmation", n, where, failures)
        case AwaitSweep(until):
            log.info(
                "unit %s (%s): waiting for a full sweep before a power-cycle (mass-outage guard), until %s",
                n,
                where,
                f"{until:%H:%M:%S %Z}".rstrip(),
            )
        case GraceEnded(uptime):
            log.info("unit %s (%s): booted after the power-cycle (uptime %ss), boot grace ended", n, where, uptime)
        case Hold(kind, reason):
            log.warning("unit %s relay %s: automatic power-cycle held (%s): %s", n, unit.device_id, kind.value, reason)
            entry = HistoryEntry.hold(
                n,
                at=now,
                pbx_status=state.pbx_status,
                kind=kind,
                reason=reason,
                failure_counter=state.failure_counter,
                extra_info=relay_info(unit),
            )
            return Owed(entry, hold_since=state.outage_since or now)
        case CycleFailed(device_id, reason):
            log.error("unit %s relay %s: power-cycle failed: %s", n, device_id, reason)
            entry = HistoryEntry.power_cycle(
                n,
                at=now,
                pbx_status=state.pbx_status,
                ok=False,
                initiator=Initiator.AUTO,
                extra_info=relay_info(unit),
                error_message=reason,
                failure_counter=state.failure_counter,
            )
            return Owed(entry)
    return None
