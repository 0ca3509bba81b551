"""The monitor's side of maintenance windows, flap holds and the soft restart: loading what the database
knows, the rows these actions owe, and running the restart command. Decisions stay in `domain/`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, tzinfo

from pbxwatch.db import flap as flap_repo
from pbxwatch.db import maintenance as windows_repo
from pbxwatch.db.engine import Database
from pbxwatch.db.history import HistoryEntry
from pbxwatch.db.ladders import soft_restarts_since
from pbxwatch.domain.flap import FlapHeld, FlapMemory, FlapReleased
from pbxwatch.domain.maintenance import Window, active_for
from pbxwatch.domain.policy import Policy
from pbxwatch.domain.state import Action, Decision, MaintenanceEnded, MaintenanceStarted, UnitState, WatchedUnit
from pbxwatch.domain.verdicts import CommandRun
from pbxwatch.domain.vocabulary import ActionType, Initiator, PbxStatus
from pbxwatch.domain.watchdog import (
    flap_rearmed,
    flap_restored,
    maintenance_began,
    maintenance_ended,
    soft_restart_restored,
)
from pbxwatch.monitor.events import EventKind, UnitEvent
from pbxwatch.monitor.ports import Restarter
from pbxwatch.monitor.store import Owed
from pbxwatch.monitor.watched import Fleet

log = logging.getLogger("pbxwatch.monitor")


def window_step(
    unit: WatchedUnit, state: UnitState, windows: Sequence[Window], now: datetime, zone: tzinfo
) -> Decision | None:
    """A unit entering or leaving a maintenance window before its check is decided (None: no change)."""
    running = active_for(unit.number, windows, now, zone)
    current = state.maintenance
    if running is not None and (current is None or current.window.id != running.window.id):
        ended = maintenance_ended(state, now) if current is not None else Decision(state)
        began = maintenance_began(ended.state, running)
        return Decision(began.state, ended.live, (*ended.actions, *began.actions))
    if running is None and current is not None:
        return maintenance_ended(state, now)
    return None


async def load_windows(db: Database, now: datetime) -> list[Window]:
    return await windows_repo.load_windows(db, now)


async def restore_flap(db: Database, fleet: Fleet, numbers: Sequence[str], now: datetime, policy: Policy) -> None:
    """After (re)loading units: held units stay held, and recent outages count, across a monitor restart."""
    if not policy.flap.enabled or not numbers:
        return
    marks = await flap_repo.flap_marks(db, numbers)
    outages = await flap_repo.confirmed_outages(db, numbers, now - policy.flap.window)
    for number in numbers:
        mark = marks.get(number, flap_repo.FlapMark())
        memory = FlapMemory(
            outages=tuple(outages.get(number, ())),
            counted_since=mark.rearmed_at,
            held_since=mark.held_at if mark.held else None,
        )
        if (slot := fleet.get(number)) is not None:
            slot.state = flap_restored(slot.state, memory)


async def restore_soft_restarts(db: Database, fleet: Fleet, numbers: Sequence[str]) -> None:
    """After (re)loading units: an outage that already had its soft restart does not get a second one."""
    open_since = {
        n: slot.state.outage_since
        for n in numbers
        if (slot := fleet.get(n)) is not None and slot.state.outage_since is not None
    }
    done = await soft_restarts_since(db, {n: at for n, at in open_since.items() if at is not None})
    for number, at in done.items():
        if (slot := fleet.get(number)) is not None:
            slot.state = soft_restart_restored(slot.state, at)


async def adopt_flap_rearms(db: Database, fleet: Fleet) -> list[str]:
    """`pbxwatch units rearm` wrote a `rearmed` row after the hold: release it here too."""
    held = [slot for slot in fleet.slots() if slot.state.flap.held]
    if not held:
        return []
    marks = await flap_repo.flap_marks(db, [slot.number for slot in held])
    rearmed = []
    for slot in held:
        mark, since = marks.get(slot.number), slot.state.flap.held_since
        if mark is not None and mark.rearmed_at is not None and since is not None and mark.rearmed_at >= since:
            slot.state = flap_rearmed(slot.state, mark.rearmed_at)
            rearmed.append(slot.number)
    return rearmed


def remediation_row(unit: WatchedUnit, state: UnitState, action: Action, now: datetime) -> Owed | None:
    """The row a maintenance or flap action owes, after logging it (None for other actions)."""
    if isinstance(action, MaintenanceStarted | MaintenanceEnded):
        return _maintenance_row(unit.number, state.pbx_status, action, now)
    if isinstance(action, FlapHeld | FlapReleased):
        return _flap_row(unit, state, action, now)
    return None


def _maintenance_row(n: str, pbx: PbxStatus, action: MaintenanceStarted | MaintenanceEnded, now: datetime) -> Owed:
    occ, window = action.occurrence, action.occurrence.window
    if isinstance(action, MaintenanceStarted):
        log.warning(
            "unit %s: maintenance window %d started (%s): no automatic action until %s",
            n,
            window.id,
            window.describe(),
            f"{occ.end:%Y-%m-%d %H:%M} UTC",
        )
        entry = HistoryEntry.remediation(
            n,
            at=now,
            pbx_status=pbx,
            kind=ActionType.MAINTENANCE_START,
            reason=window.reason,
            initiator=window.set_by,
            extra_info={"window_id": window.id, "window_until": occ.end.isoformat()},
        )
    else:
        log.warning(
            "unit %s: maintenance window %d ended%s",
            n,
            window.id,
            ": still down, counted as a new outage from now" if action.still_down else "",
        )
        entry = HistoryEntry.remediation(
            n,
            at=now,
            pbx_status=pbx,
            kind=ActionType.MAINTENANCE_END,
            reason=window.reason,
            initiator=window.set_by,
            extra_info={"window_id": window.id},
        )
    return Owed(entry, hold_since=occ.start)


def _flap_row(unit: WatchedUnit, state: UnitState, action: FlapHeld | FlapReleased, now: datetime) -> Owed:
    n, pbx = unit.number, state.pbx_status
    if isinstance(action, FlapHeld):
        log.warning("unit %s (%s): put on flap hold, no automatic action: %s", n, unit.host, action.reason)
        entry = HistoryEntry.remediation(
            n, at=now, pbx_status=pbx, kind=ActionType.HELD, reason=action.reason, initiator=Initiator.AUTO
        )
        return Owed(entry, hold_since=state.flap.held_since or now)
    log.warning("unit %s: flap hold ended: %s", n, action.reason)
    entry = HistoryEntry.remediation(
        n,
        at=now,
        pbx_status=pbx,
        kind=ActionType.REARMED,
        reason=f"flap hold ended: {action.reason}",
        initiator=Initiator.AUTO,
    )
    return Owed(entry)


async def run_restart(restarter: Restarter | None, unit: WatchedUnit, command: str) -> CommandRun:
    if restarter is None:
        return CommandRun(None, "no SSH restarter available in this monitor")
    try:
        return await restarter.run_restart(unit.host, unit.ssh_port, command)
    except Exception as err:  # the restarter promises outcomes; a bug there is a failed restart
        log.exception("unit %s: the restart command crashed", unit.number)
        return CommandRun(None, f"{type(err).__name__}: {err}"[:200])


def restart_row(unit: WatchedUnit, state: UnitState, command: str, run: CommandRun, now: datetime) -> Owed:
    level = logging.WARNING if run.ok else logging.ERROR
    last = run.output.strip().splitlines()[-1][:200] if run.output.strip() else ""
    log.log(
        level,
        "unit %s (%s:%s): soft restart `%s` %s (exit %s)%s",
        unit.number,
        unit.host,
        unit.ssh_port,
        command,
        "done" if run.ok else "failed",
        run.exit_status,
        f": {last}" if last else "",
    )
    return Owed(
        HistoryEntry.soft_restart(
            unit.number,
            at=now,
            pbx_status=state.pbx_status,
            ok=run.ok,
            command=command,
            exit_status=run.exit_status,
            output=run.output,
            failure_counter=state.failure_counter,
        )
    )


def restart_event(unit: WatchedUnit, command: str, run: CommandRun, now: datetime) -> UnitEvent:
    result = "done" if run.ok else f"failed (exit {run.exit_status})"
    return UnitEvent(EventKind.SOFT_RESTART, unit.number, now, f"soft restart `{command}` {result}", unit.name)
