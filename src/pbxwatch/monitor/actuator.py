"""The monitor's hands: the soft restart over SSH and the relay steps (read the relay, claim, power-cycle).

Each step reports back through a `domain.watchdog` function and `commit`; a unit removed while its step
ran is left alone (`Fleet.holds`). At most one step runs per unit (`Watched.relaying`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from pbxwatch.db.engine import DB_ERRORS
from pbxwatch.domain.policy import Policy
from pbxwatch.domain.state import Decision, PowerCycle
from pbxwatch.domain.watchdog import (
    cycle_claimed_elsewhere,
    cycle_failed,
    cycle_started,
    relay_checked,
    relay_went_offline,
    soft_restarted,
)
from pbxwatch.monitor import remediation
from pbxwatch.monitor.events import EventSink
from pbxwatch.monitor.ports import RelayBusy, RelayCallError, RelayPort, RelayUnreachable, RelayWentOffline, Restarter
from pbxwatch.monitor.store import MonitorStore
from pbxwatch.monitor.watched import Fleet, Watched
from pbxwatch.monitor.writer import Writer

log = logging.getLogger("pbxwatch.monitor")
Commit = Callable[[Watched, Decision, datetime], None]


class Actuator:
    def __init__(
        self,
        policy: Policy,
        *,
        fleet: Fleet,
        store: MonitorStore,
        writer: Writer,
        relay: RelayPort,
        restarter: Restarter | None,
        events: EventSink,
        clock: Callable[[], datetime],
        commit: Commit,
        counters: dict[str, int],
    ) -> None:
        self.policy, self.fleet, self.store, self.writer = policy, fleet, store, writer
        self.relay, self.restarter, self.events, self.clock = relay, restarter, events, clock
        self.commit, self.counters = commit, counters

    async def soft_restart(self, slot: Watched, command: str) -> None:
        """The first rung of the ladder: restart Asterisk over SSH, record it; the relay waits for the grace."""
        try:
            run = await remediation.run_restart(self.restarter, slot.unit, command)
            if not self.fleet.holds(slot):
                return
            state, now = slot.state, self.clock()
            slot.state = soft_restarted(state, run.ok, now, self.policy)
            self.writer.owe(remediation.restart_row(slot.unit, state, command, run, now))
            self.events.emit(remediation.restart_event(slot.unit, command, run, now))
        except Exception:
            log.exception("unit %s: the soft restart step crashed", slot.number)
        finally:
            slot.relaying = False

    async def relay_flow(self, slot: Watched, device_id: str) -> None:
        number = slot.number
        try:
            if not self.writer.db_ok:
                log.debug("unit %s: no power-cycle while the database is unavailable", number)
                return
            try:
                online = await self.relay.device_online(device_id)
            except RelayCallError as err:
                self._cycle_failed(slot, f"relay service: {err}", audit=True)
                return
            if not self.fleet.holds(slot):
                return
            now = self.clock()
            decision = relay_checked(slot.unit, slot.state, online, now, self.policy)
            self.commit(slot, decision, now)
            for action in decision.actions:
                if isinstance(action, PowerCycle):
                    await self._power_cycle(slot, action)
        except Exception:
            log.exception("unit %s: the relay step crashed", number)
        finally:
            slot.relaying = False

    async def _power_cycle(self, slot: Watched, cycle: PowerCycle) -> None:
        """Flush (the on→off row first), claim (row count 1), then `POST /power-cycle`."""
        number = slot.number
        if not await self.writer.flush():
            log.warning("unit %s: no power-cycle while the database is unavailable", number)
            return
        try:
            claimed = await self.store.claim(number)
        except DB_ERRORS as err:
            self.writer.db_down(err)
            return
        if not claimed:
            log.info("unit %s: the power-cycle of this outage is already claimed", number)
            slot.state = cycle_claimed_elsewhere(slot.state)
            return
        try:
            cycle_id = await self.relay.power_cycle(
                enterprise_number=number,
                device_id=cycle.device_id,
                outlet=cycle.outlet,
                idempotency_key=cycle.idempotency_key,
            )
        except RelayBusy:
            cycle_id = "(already running)"
        except RelayWentOffline:
            await self._release(number)
            now = self.clock()
            self.commit(slot, relay_went_offline(slot.unit, slot.state, now, self.policy), now)
            return
        except RelayCallError as err:
            await self._release(number)
            self._cycle_failed(slot, str(err), audit=isinstance(err, RelayUnreachable))
            return
        self._started(slot, cycle, cycle_id)

    def _started(self, slot: Watched, cycle: PowerCycle, cycle_id: str) -> None:
        now = self.clock()
        slot.state = cycle_started(slot.state, now)
        self.fleet.cycles.started(now)
        self.counters["cycles"] += 1
        self.events.cycle_started(slot.unit, slot.state, cycle_id, now)
        log.warning(
            "unit %s relay %s outlet %s: automatic power-cycle %s started (key %s)",
            slot.number,
            cycle.device_id,
            cycle.outlet,
            cycle_id,
            cycle.idempotency_key,
        )

    async def _release(self, number: str) -> None:
        try:
            await self.store.release(number)
        except DB_ERRORS as err:
            self.writer.db_down(err)

    def _cycle_failed(self, slot: Watched, reason: str, *, audit: bool) -> None:
        if not self.fleet.holds(slot):
            return
        now = self.clock()
        decision = cycle_failed(slot.unit, slot.state, now, self.policy, reason=reason, audit=audit)
        if not decision.actions:
            log.warning(
                "unit %s: power-cycle not started: %s (retry in %ss)",
                slot.number,
                reason,
                self.policy.relay_recheck_interval.total_seconds(),
            )
        self.commit(slot, decision, now)
