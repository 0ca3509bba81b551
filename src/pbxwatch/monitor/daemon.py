"""`pbxwatch monitor`: probe every unit on its own schedule, decide, record, and ask the relay service.

Shape: a task group of a scheduler, a writer and a reloader; a semaphore bounds
concurrent checks; a halt event set by SIGTERM/SIGINT (or by losing the lead) ends them. A check that
raises is logged and rescheduled, and never delays the other units. The clock is injected: decisions
use `clock()`; only the scheduler's sleeps use the event loop's own time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from pbxwatch.domain.evidence import OwnFailure, own_failure
from pbxwatch.domain.maintenance import Window
from pbxwatch.domain.policy import HOUR, SWEEP_SLACK, FleetView, Policy, mass_outage, within
from pbxwatch.domain.state import BlipEnded, CheckRelay, Decision, PowerCycle, SoftRestart, Unit, UnitState
from pbxwatch.domain.verdicts import CheckResult, Reason, Verdict
from pbxwatch.domain.watchdog import (
    cycle_claimed_elsewhere,
    cycle_failed,
    cycle_started,
    decide,
    relay_checked,
    soft_restarted,
)
from pbxwatch.monitor import remediation
from pbxwatch.monitor.events import EventSink, LogEvents, event_of
from pbxwatch.monitor.leader import DB_ERRORS, Leadership
from pbxwatch.monitor.ports import (
    Prober,
    RelayBusy,
    RelayCallError,
    RelayPort,
    RelayUnreachable,
    RelayWentOffline,
    Restarter,
)
from pbxwatch.monitor.recorder import record
from pbxwatch.monitor.store import LiveRow, MonitorStore, Stored
from pbxwatch.monitor.writer import Writer, short

log = logging.getLogger("pbxwatch.monitor")
Clock = Callable[[], datetime]
FINAL_FLUSH_ATTEMPTS = 2  # at SIGTERM; each may wait for a database connect timeout (stop scripts allow 30 s)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class MonitorOptions:
    policy: Policy
    check_timeout: float = 30.0  # a guard above the prober's own timeouts
    concurrency: int = 200
    flush_interval: float = 1.0
    reload_interval: float = 30.0
    shutdown_grace: float = 10.0
    heartbeat_file: Path | None = None
    time_zone: tzinfo = UTC  # weekly maintenance windows are read in it


class Monitor:
    def __init__(
        self,
        options: MonitorOptions,
        *,
        store: MonitorStore,
        prober: Prober,
        relay: RelayPort,
        leadership: Leadership,
        clock: Clock = utc_now,
        events: EventSink | None = None,
        restarter: Restarter | None = None,
    ) -> None:
        self.options, self.policy = options, options.policy
        self.events: EventSink = events or LogEvents()
        self.restarter = restarter
        self.windows: list[Window] = []  # maintenance windows not over yet (reloaded with the units)
        self.store, self.prober, self.relay, self.leadership, self.clock = store, prober, relay, leadership, clock
        self.units: dict[str, Unit] = {}
        self.states: dict[str, UnitState] = {}
        self.latest: dict[str, tuple[datetime, Verdict]] = {}
        self.fleet_cycles: list[datetime] = []
        self.writer = Writer(store, flush_interval=options.flush_interval)
        self.counters = {"checks": 0, "blips": 0, "cycles": 0}
        self.mass_outage = False
        self._due: dict[str, float] = {}
        self._checking: set[str] = set()
        self._relaying: set[str] = set()
        self._last_failure: dict[str, str | None] = {}  # a repeated failure is logged once, at INFO
        self._tasks: set[asyncio.Task[None]] = set()
        self._checks: set[asyncio.Task[None]] = set()  # the checks among _tasks
        self._sem = asyncio.Semaphore(options.concurrency)
        self._halt = asyncio.Event()
        self._wake_scheduler = asyncio.Event()  # a check ended: its next due time may be the earliest
        self._role = "starting"
        self.beat_extra: dict[str, Any] = {}  # more heartbeat fields (the metrics URL)

    # ---- lifecycle ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Wait for the lead (standby meanwhile), serve until `stop`; step down and wait again if it is lost."""
        self._beat("standby")
        while not stop.is_set():
            if not await self.leadership.acquire(stop):
                break
            self.events.took_lead(bool(getattr(self.leadership, "waited", False)), self.clock())
            demoted = await self._serve(stop)
            if not demoted:
                break
            log.warning("another monitor took the lead: stepping down to standby")
            self._beat("standby")
        await self.leadership.release()
        self._beat("stopped")

    async def _serve(self, stop: asyncio.Event) -> bool:
        self._halt = asyncio.Event()
        demoted = asyncio.Event()
        if not await self._load(stop):
            return False
        self._beat("active")
        async with asyncio.TaskGroup() as group:
            group.create_task(self._halt_on(stop, demoted))
            group.create_task(self._schedule_loop())
            group.create_task(self.writer.loop(self._halt))
            group.create_task(self._reload_loop(demoted))
        await self._finish()
        return demoted.is_set() and not stop.is_set()

    async def _halt_on(self, stop: asyncio.Event, demoted: asyncio.Event) -> None:
        stop_wait = asyncio.ensure_future(stop.wait())
        demoted_wait = asyncio.ensure_future(demoted.wait())
        halt_wait = asyncio.ensure_future(self._halt.wait())
        waits = {stop_wait, demoted_wait, halt_wait}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        self._halt.set()
        self.writer.wake.set()
        self._wake_scheduler.set()

    async def _finish(self) -> None:
        """SIGTERM: let relay calls and restarts end (bounded), then write everything owed.

        Checks are cancelled at once: once halted their results are dropped anyway (`_check`), and a check
        can take a connect timeout plus a command timeout, more than a stop may wait.
        """
        for task in self._checks:
            task.cancel()
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=self.options.shutdown_grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for attempt in range(FINAL_FLUSH_ATTEMPTS):
            if await self.writer.flush():
                break
            await asyncio.sleep(0.5 * (attempt + 1))
        if self.writer.pending:
            log.error("stopping with %d history row(s) not written: the database is unavailable",
                      len(self.writer.pending.rows))
        log.info("monitor stopped")

    # ---- loading units --------------------------------------------------------------------------

    async def _load(self, stop: asyncio.Event) -> bool:
        said = False
        while not stop.is_set():
            try:
                units = await self.store.active_units()
                stored = await self.store.stored([u.number for u in units], self.clock())
            except DB_ERRORS as err:
                if not said:
                    log.error("cannot load units from the database (%s); retrying", short(err))  # noqa: TRY400 -- one line, no traceback for an outage
                    said = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2.0)
                continue
            for table in (self.units, self.states, self.latest, self._due, self._last_failure):
                table.clear()
            self.fleet_cycles = []
            self._add_units(units, stored)
            try:
                await self._load_remediation([u.number for u in units])
            except DB_ERRORS as err:
                self.writer.db_down(err)  # read again at the next reload; until then no window is known
            log.info("monitoring %d active unit(s)", len(units))
            return True
        return False

    def _add_units(self, units: list[Unit], stored: dict[str, Stored]) -> None:
        loop_now = asyncio.get_running_loop().time()
        for unit in units:
            self.units[unit.number] = unit
            found = stored.get(unit.number)
            live = found.live if found else None
            self.writer.live[unit.number] = live or LiveRow()
            self.states[unit.number] = UnitState.restored(
                last_status=live.last_status if live else None,
                failure_counter=live.failure_counter if live else 0,
                action_done=found.action_done if found else False,
                threshold=self.policy.failure_threshold,
                outage_since=found.outage_since if found else None,
                cycles=found.cycles if found else (),
            )
            self.fleet_cycles.extend(found.cycles if found else ())
            self._due[unit.number] = loop_now

    async def _reload_loop(self, demoted: asyncio.Event) -> None:
        while not await self._halted_after(self.options.reload_interval):
            if not await self.leadership.still_leader():
                demoted.set()
                return
            try:
                await self._reload()
            except DB_ERRORS as err:
                self.writer.db_down(err)
            self._beat("active")

    async def _reload(self) -> None:
        units = {u.number: u for u in await self.store.active_units()}
        for number in set(self.units) - set(units):
            log.info("unit %s removed or deactivated: no longer monitored", number)
            self.units.pop(number, None)
            self.states.pop(number, None)
            self.writer.forget(number)
            self.latest.pop(number, None)
            self._due.pop(number, None)
        added = [u for n, u in units.items() if n not in self.units]
        for number, unit in units.items():
            if number in self.units and self.units[number] != unit:
                log.info("unit %s changed: now %s:%s relay %s", number, unit.host, unit.ssh_port, unit.device_id)
                self.units[number] = unit
        if added:
            stored = await self.store.stored([u.number for u in added], self.clock())
            self._add_units(added, stored)
            log.info("unit(s) added: %s", ", ".join(u.number for u in added))
        self._adopt_rearms(await self.store.action_flags())
        await self._load_remediation([u.number for u in added])

    def _adopt_rearms(self, flags: dict[str, bool]) -> None:
        """`pbxwatch units rearm` cleared `ewelink_action_done`: the next down may cycle again.

        No guard for a running relay step is needed: a step starts only while `action_done` is false and
        sets it only at its very end, and a stale flag read meanwhile is corrected by the claim (row count 0).
        """
        for number, state in self.states.items():
            if state.action_done and flags.get(number) is False:
                log.info("unit %s rearmed by an operator: an automatic power-cycle is allowed again", number)
                self.states[number] = replace(state, action_done=False, retry_cycle_at=None)

    # ---- checks ---------------------------------------------------------------------------------

    async def _schedule_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._halt.is_set():
            now = loop.time()
            for number, due in list(self._due.items()):
                if due <= now and number not in self._checking:
                    self._checking.add(number)
                    self._due[number] = math.inf  # set again when the check ends
                    self._spawn(self._check(number), check=True)
            upcoming = min(self._due.values(), default=now + 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_scheduler.wait(), min(max(upcoming - now, 0.01), 1.0))
            self._wake_scheduler.clear()

    async def _check(self, number: str) -> None:
        result = CheckResult.of(Reason.PROBE_ERROR, "unit removed")
        try:
            unit = self.units.get(number)
            if unit is None:
                return
            async with self._sem:
                if self._halt.is_set():  # SIGTERM: checks still queued for a slot are not started
                    return
                started = asyncio.get_running_loop().time()
                result = await self._probe(unit)
            self.events.checked(number, result, asyncio.get_running_loop().time() - started)
            if self.units.get(number) is not None and not self._halt.is_set():
                self._apply(self.units[number], result)
        except Exception:  # a bug in one check must not kill the loop
            log.exception("unit %s: the check crashed; rescheduled", number)
            result = CheckResult.of(Reason.PROBE_ERROR, "check crashed")
        finally:
            self._checking.discard(number)
        retry = result.verdict is Verdict.DOWN
        interval = self.policy.retry_interval if retry else self.policy.poll_interval
        if number in self._due:
            self._due[number] = asyncio.get_running_loop().time() + interval.total_seconds()
            self._wake_scheduler.set()

    async def _probe(self, unit: Unit) -> CheckResult:
        try:
            return await asyncio.wait_for(self.prober.check(unit.host, unit.ssh_port), self.options.check_timeout)
        except TimeoutError:  # our own deadline, not the PBX's: never a down
            return own_failure(OwnFailure.GUARD_TIMEOUT, f"the check did not finish in {self.options.check_timeout:g}s")
        except Exception as err:  # the prober promises verdicts; a bug there is ours, never a down
            log.exception("unit %s: the prober raised", unit.number)
            return own_failure(OwnFailure.PROBER_CRASHED, f"{type(err).__name__}: {err}")

    def _apply(self, unit: Unit, result: CheckResult) -> None:
        now = self.clock()
        self.counters["checks"] += 1
        self.latest[unit.number] = (now, result.verdict)
        fleet = FleetView(self._mass_outage(now), len(within(self.fleet_cycles, now, HOUR)))
        message = result.error_message() if result.verdict is not Verdict.UP else None
        if message is not None and self._last_failure.get(unit.number) != message:
            log.info("unit %s (%s:%s): check %s: %s", unit.number, unit.host, unit.ssh_port, result.verdict, message)
        elif message is not None:
            log.debug("unit %s: check %s again: %s", unit.number, result.verdict, message)
        self._last_failure[unit.number] = message
        entered = remediation.window_step(unit, self.states[unit.number], self.windows, now, self.options.time_zone)
        if entered is not None:
            self._commit(unit, entered, now)
        decision = decide(unit, self.states[unit.number], result, now=now, policy=self.policy, fleet=fleet)
        self._commit(unit, decision, now)

    def _mass_outage(self, now: datetime) -> bool:
        active = mass_outage(self.latest, now, self.policy)
        if active != self.mass_outage:
            window = self.policy.poll_interval * SWEEP_SLACK
            down = sum(1 for at, v in self.latest.values() if v is Verdict.DOWN and now - at <= window)
            if active:
                log.warning("mass outage: %d units down at once; downs count as unknown, nothing is cycled", down)
            else:
                log.warning("mass outage over (%d units down): counting resumes", down)
            self.mass_outage = active
            self.events.mass_outage(active, [n for n, (at, v) in self.latest.items()
                                             if v is Verdict.DOWN and now - at <= window], now)
        return active

    def _commit(self, unit: Unit, decision: Decision, now: datetime) -> None:
        """Adopt a decision: remember the state, queue the rows it owes, start relay work it asks for."""
        number = unit.number
        self.events.decided(unit, self.states[number], decision, now)
        self.states[number] = decision.state
        if decision.live is not None:
            self.writer.apply_live(number, decision.live)
        for action in decision.actions:
            owed = record(unit, decision.state, action, now) or remediation.remediation_row(
                unit, decision.state, action, now)
            if owed is not None:
                self.writer.owe(owed)
            event = event_of(unit, action, now)
            if event is not None:
                self.events.emit(event)
            if isinstance(action, SoftRestart) and number not in self._relaying:
                self._relaying.add(number)
                self._spawn(self._soft_restart(unit, action.command))
            if isinstance(action, BlipEnded):
                self.counters["blips"] += 1
            if isinstance(action, CheckRelay) and number not in self._relaying:
                self._relaying.add(number)
                self._spawn(self._relay_flow(number, action.device_id))

    # ---- remediation: maintenance windows, flap holds, the soft restart ------------------------

    async def _load_remediation(self, numbers: list[str]) -> None:
        """Windows (every process sees the same ones) and flap holds, from the database."""
        now = self.clock()
        self.windows = await remediation.load_windows(self.store.db, now)
        await remediation.restore_flap(self.store.db, self.states, numbers, now, self.policy)
        await remediation.restore_soft_restarts(self.store.db, self.states, numbers)
        for number in await remediation.adopt_flap_rearms(self.store.db, self.states):
            log.info("unit %s rearmed by an operator: its flap hold is over", number)

    async def _soft_restart(self, unit: Unit, command: str) -> None:
        """The first rung of the ladder: restart Asterisk over SSH, record it; the relay waits for the grace."""
        try:
            run = await remediation.run_restart(self.restarter, unit, command)
            state, now = self.states.get(unit.number), self.clock()
            if state is None:
                return
            self.states[unit.number] = soft_restarted(state, run.ok, now, self.policy)
            self.writer.owe(remediation.restart_row(unit, state, command, run, now))
            self.events.emit(remediation.restart_event(unit, command, run, now))
        except Exception:
            log.exception("unit %s: the soft restart step crashed", unit.number)
        finally:
            self._relaying.discard(unit.number)

    # ---- the relay ------------------------------------------------------------------------------

    async def _relay_flow(self, number: str, device_id: str) -> None:
        try:
            if not self.writer.db_ok:
                log.debug("unit %s: no power-cycle while the database is unavailable", number)
                return
            try:
                online = await self.relay.device_online(device_id)
            except RelayCallError as err:
                self._cycle_failed(number, f"relay service: {err}", audit=True)
                return
            unit, state = self.units.get(number), self.states.get(number)
            if unit is None or state is None:
                return
            now = self.clock()
            decision = relay_checked(unit, state, online, now, self.policy)
            self._commit(unit, decision, now)
            for action in decision.actions:
                if isinstance(action, PowerCycle):
                    await self._power_cycle(unit, action)
        except Exception:
            log.exception("unit %s: the relay step crashed", number)
        finally:
            self._relaying.discard(number)

    async def _power_cycle(self, unit: Unit, cycle: PowerCycle) -> None:
        """Flush (the on→off row first), claim (row count 1), then `POST /power-cycle`."""
        number = unit.number
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
            self.states[number] = cycle_claimed_elsewhere(self.states[number])
            return
        try:
            cycle_id = await self.relay.power_cycle(
                enterprise_number=number, device_id=cycle.device_id, outlet=cycle.outlet,
                idempotency_key=cycle.idempotency_key,
            )
        except RelayBusy:
            cycle_id = "(already running)"
        except RelayWentOffline:
            # The relay service re-reads the relay before switching: it is offline after all (docs/design.md §5).
            await self._release(number)
            now = self.clock()
            state = replace(self.states[number], action_done=False)
            self._commit(unit, relay_checked(unit, state, False, now, self.policy), now)
            return
        except RelayCallError as err:
            await self._release(number)
            self._cycle_failed(number, str(err), audit=isinstance(err, RelayUnreachable))
            return
        now = self.clock()
        self.states[number] = cycle_started(self.states[number], now)
        self.fleet_cycles = [*within(self.fleet_cycles, now, HOUR * 24), now]
        self.counters["cycles"] += 1
        self.events.cycle_started(unit, self.states[number], cycle_id, now)
        log.warning("unit %s relay %s outlet %s: automatic power-cycle %s started (key %s)",
                    number, cycle.device_id, cycle.outlet, cycle_id, cycle.idempotency_key)

    async def _release(self, number: str) -> None:
        try:
            await self.store.release(number)
        except DB_ERRORS as err:
            self.writer.db_down(err)

    def _cycle_failed(self, number: str, reason: str, *, audit: bool) -> None:
        unit, state = self.units.get(number), self.states.get(number)
        if unit is None or state is None:
            return
        now = self.clock()
        decision = cycle_failed(unit, state, now, self.policy, reason=reason, audit=audit)
        if not decision.actions:
            log.warning("unit %s: power-cycle not started: %s (retry in %ss)", number, reason,
                        self.policy.relay_recheck_interval.total_seconds())
        self._commit(unit, decision, now)

    # ---- helpers --------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], *, check: bool = False) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if check:
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)

    async def _halted_after(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._halt.wait(), seconds)
        return self._halt.is_set()

    @property
    def role(self) -> str:
        return self._role

    def _beat(self, role: str) -> None:
        """The heartbeat file `reboot.sh` waits for, and `pbxwatch status` shows."""
        self._role = role
        path = self.options.heartbeat_file
        if path is None:
            return
        data = {"pid": os.getpid(), "role": role, "at": self.clock().isoformat(), "units": len(self.units),
                "database": "ok" if self.writer.db_ok else "unavailable", "rows_written": self.writer.rows_written,
                **self.counters, **self.beat_extra}
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            tmp.replace(path)

