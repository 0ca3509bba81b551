"""The monitor's side of maintenance windows, flap holds and the soft restart: loading what the database
knows, the rows these actions owe, and running the restart command. Decisions stay in `domain/`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
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
from pbxwatch.domain.vocabulary import ActionType, Initiator
from pbxwatch.domain.watchdog import flap_rearmed, maintenance_began, maintenance_ended
from pbxwatch.monitor.events import EventKind, UnitEvent
from pbxwatch.monitor.ports import Restarter
from pbxwatch.monitor.store import Owed

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


async def restore_flap(
    db: Database, states: dict[str, UnitState], numbers: Sequence[str], now: datetime, policy: Policy
) -> None:
    """After (re)loading units: held units stay held, and recent outages count, across a monitor restart."""
    if not policy.flap.enabled or not numbers:
        return
    marks = await flap_repo.flap_marks(db, numbers)
    outages = await flap_repo.confirmed_outages(db, numbers, now - policy.flap.window)
    for number in numbers:
        mark = marks.get(number, flap_repo.FlapMark())
        memory = FlapMemory(outages=tuple(outages.get(number, ())), counted_since=mark.rearmed_at,
                            held_since=mark.held_at if mark.held else None)
        if number in states:
            states[number] = replace(states[number], flap=memory)


async def restore_soft_restarts(db: Database, states: dict[str, UnitState], numbers: Sequence[str]) -> None:
    """After (re)loading units: an outage that already had its soft restart does not get a second one."""
    open_since = {n: s.outage_since for n in numbers if (s := states.get(n)) and s.outage_since is not None}
    done = await soft_restarts_since(db, {n: at for n, at in open_since.items() if at is not None})
    for number, at in done.items():
        states[number] = replace(states[number], soft_restart_at=at)


async def adopt_flap_rearms(db: Database, states: dict[str, UnitState]) -> list[str]:
    """`pbxwatch units rearm` wrote a `rearmed` row after the hold: release it here too."""
    held = [n for n, s in states.items() if s.flap.held]
    if not held:
        return []
    marks = await flap_repo.flap_marks(db, held)
    rearmed = []
    for number in held:
        mark, state = marks.get(number), states[number]
        since = state.flap.held_since
        if mark is not None and mark.rearmed_at is not None and since is not None and mark.rearmed_at >= since:
            states[number] = flap_rearmed(state, mark.rearmed_at)
            rearmed.append(number)
    return rearmed


def remediation_row(unit: WatchedUnit, state: UnitState, action: Action, now: datetime) -> Owed | None:
    """The row a maintenance or flap action owes, after logging it (None for other actions)."""
    n, pbx = unit.number, state.pbx_status
    match action:
        case MaintenanceStarted(occ):
            log.warning("unit %s: maintenance window %d started (%s): no automatic action until %s",
                        n, occ.window.id, occ.window.describe(), f"{occ.end:%Y-%m-%d %H:%M} UTC")
            entry = HistoryEntry.remediation(
                n, at=now, pbx_status=pbx, kind=ActionType.MAINTENANCE_START, reason=occ.window.reason,
                initiator=occ.window.set_by,
                extra_info={"window_id": occ.window.id, "window_until": occ.end.isoformat()})
            return Owed(entry, hold_since=occ.start)
        case MaintenanceEnded(occ, still_down):
            log.warning("unit %s: maintenance window %d ended%s", n, occ.window.id,
                        ": still down, counted as a new outage from now" if still_down else "")
            entry = HistoryEntry.remediation(
                n, at=now, pbx_status=pbx, kind=ActionType.MAINTENANCE_END, reason=occ.window.reason,
                initiator=occ.window.set_by, extra_info={"window_id": occ.window.id})
            return Owed(entry, hold_since=occ.start)
        case FlapHeld(reason):
            log.warning("unit %s (%s): put on flap hold, no automatic action: %s", n, unit.host, reason)
            entry = HistoryEntry.remediation(n, at=now, pbx_status=pbx, kind=ActionType.HELD, reason=reason,
                                             initiator=Initiator.AUTO)
            return Owed(entry, hold_since=state.flap.held_since or now)
        case FlapReleased(reason):
            log.warning("unit %s: flap hold ended: %s", n, reason)
            entry = HistoryEntry.remediation(n, at=now, pbx_status=pbx, kind=ActionType.REARMED,
                                             reason=f"flap hold ended: {reason}", initiator=Initiator.AUTO)
            return Owed(entry)
    return None


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
    log.log(level, "unit %s (%s:%s): soft restart `%s` %s (exit %s)%s", unit.number, unit.host, unit.ssh_port,
            command, "done" if run.ok else "failed", run.exit_status, f": {last}" if last else "")
    return Owed(HistoryEntry.soft_restart(unit.number, at=now, pbx_status=state.pbx_status, ok=run.ok,
                                          command=command, exit_status=run.exit_status, output=run.output,
                                          failure_counter=state.failure_counter))


def restart_event(unit: WatchedUnit, command: str, run: CommandRun, now: datetime) -> UnitEvent:
    result = "done" if run.ok else f"failed (exit {run.exit_status})"
    return UnitEvent(EventKind.SOFT_RESTART, unit.number, now, f"soft restart `{command}` {result}", unit.name)
