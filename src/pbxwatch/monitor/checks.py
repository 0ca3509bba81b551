"""Checking the fleet: start each unit's check when it is due, decide on its result, adopt the decision.

A semaphore bounds concurrent checks. A check that raises is logged and rescheduled, and never delays the
other units. Decisions use the injected `clock()`; only the schedule uses the event loop's own time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, tzinfo
from typing import Any

from pbxwatch.domain.evidence import OwnFailure, own_failure
from pbxwatch.domain.maintenance import Window
from pbxwatch.domain.policy import Policy
from pbxwatch.domain.state import BlipEnded, CheckRelay, Decision, SoftRestart, WatchedUnit
from pbxwatch.domain.verdicts import CheckResult
from pbxwatch.domain.vocabulary import Reason, Verdict
from pbxwatch.domain.watchdog import decide
from pbxwatch.monitor import remediation
from pbxwatch.monitor.actuator import Actuator
from pbxwatch.monitor.events import EventSink, event_of
from pbxwatch.monitor.ports import Prober
from pbxwatch.monitor.recorder import record
from pbxwatch.monitor.watched import Fleet, Watched
from pbxwatch.monitor.writer import Writer

log = logging.getLogger("pbxwatch.monitor")
Spawn = Callable[[Coroutine[Any, Any, None]], None]


class Checks:
    def __init__(
        self,
        policy: Policy,
        *,
        fleet: Fleet,
        writer: Writer,
        prober: Prober,
        actuator: Callable[[Checks], Actuator],
        events: EventSink,
        clock: Callable[[], datetime],
        spawn: Spawn,
        concurrency: int,
        check_timeout: float,
        time_zone: tzinfo,
    ) -> None:
        self.policy, self.fleet, self.writer, self.prober = policy, fleet, writer, prober
        self.events, self.clock, self.spawn = events, clock, spawn
        self.check_timeout, self.time_zone = check_timeout, time_zone
        self.counters = {"checks": 0, "blips": 0, "cycles": 0}
        self.windows: list[Window] = []  # maintenance windows not over yet (reloaded with the units)
        self.mass_outage = False
        self.actuator = actuator(self)
        self.wake = asyncio.Event()  # a check ended: its next due time may be the earliest
        self._sem = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task[None]] = set()

    async def loop(self, halt: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not halt.is_set():
            now = loop.time()
            for slot in self.fleet.due(now):
                slot.checking = True
                task = asyncio.create_task(self._check(slot, halt))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            upcoming = self.fleet.schedule.next_due()
            pause = 1.0 if upcoming is None else min(max(upcoming - now, 0.01), 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), pause)
            self.wake.clear()

    async def cancel_running(self) -> None:
        """SIGTERM: once halted a check's result is dropped anyway, and one can take a connect timeout plus a
        command timeout, more than a stop may wait; relay steps are the ones given the grace."""
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _check(self, slot: Watched, halt: asyncio.Event) -> None:
        result = CheckResult.of(Reason.PROBE_ERROR, "unit removed")
        try:
            if not self.fleet.holds(slot):
                return
            async with self._sem:
                if halt.is_set():  # SIGTERM: checks still queued for a slot are not started
                    return
                started = asyncio.get_running_loop().time()
                result = await self._probe(slot.unit)
            self.events.checked(slot.number, result, asyncio.get_running_loop().time() - started)
            if self.fleet.holds(slot) and not halt.is_set():
                self._apply(slot, result)
        except Exception:  # a bug in one check must not kill the loop
            log.exception("unit %s: the check crashed; rescheduled", slot.number)
            result = CheckResult.of(Reason.PROBE_ERROR, "check crashed")
        finally:
            slot.checking = False
        interval = self.policy.retry_interval if result.verdict is Verdict.DOWN else self.policy.poll_interval
        self.fleet.plan(slot, asyncio.get_running_loop().time() + interval.total_seconds())
        self.wake.set()

    async def _probe(self, unit: WatchedUnit) -> CheckResult:
        try:
            return await asyncio.wait_for(self.prober.check(unit.host, unit.ssh_port), self.check_timeout)
        except TimeoutError:  # our own deadline, not the PBX's: never a down
            return own_failure(OwnFailure.GUARD_TIMEOUT, f"the check did not finish in {self.check_timeout:g}s")
        except Exception as err:  # the prober promises verdicts; a bug there is ours, never a down
            log.exception("unit %s: the prober raised", unit.number)
            return own_failure(OwnFailure.PROBER_CRASHED, f"{type(err).__name__}: {err}")

    def _apply(self, slot: Watched, result: CheckResult) -> None:
        unit, now = slot.unit, self.clock()
        self.counters["checks"] += 1
        self.fleet.checked(slot, now, result.verdict)
        fleet = self.fleet.view(self._mass_outage(now), now)
        message = result.error_message() if result.verdict is not Verdict.UP else None
        if message is not None and slot.last_failure != message:
            log.info("unit %s (%s:%s): check %s: %s", unit.number, unit.host, unit.ssh_port, result.verdict, message)
        elif message is not None:
            log.debug("unit %s: check %s again: %s", unit.number, result.verdict, message)
        slot.last_failure = message
        entered = remediation.window_step(unit, slot.state, self.windows, now, self.time_zone)
        if entered is not None:
            self.commit(slot, entered, now)
        self.commit(slot, decide(unit, slot.state, result, now=now, policy=self.policy, fleet=fleet), now)

    def _mass_outage(self, now: datetime) -> bool:
        outages = self.fleet.outages
        active = outages.held(now)
        if active != self.mass_outage:
            if active:
                log.warning(
                    "mass outage: %d units down at once; downs count as unknown, nothing is cycled", outages.down
                )
            else:
                log.warning("mass outage over (%d units down): counting resumes", outages.down)
            self.mass_outage = active
            self.events.mass_outage(active, outages.down_units(now), now)
        return active

    def commit(self, slot: Watched, decision: Decision, now: datetime) -> None:
        """Adopt a decision: remember the state, queue the rows it owes, start relay work it asks for."""
        unit = slot.unit
        self.events.decided(unit, slot.state, decision, now)
        slot.state = decision.state
        if decision.live is not None:
            self.writer.apply_live(unit.number, decision.live)
        for action in decision.actions:
            owed = record(unit, decision.state, action, now) or remediation.remediation_row(
                unit, decision.state, action, now
            )
            if owed is not None:
                self.writer.owe(owed)
            event = event_of(unit, action, now)
            if event is not None:
                self.events.emit(event)
            if isinstance(action, BlipEnded):
                self.counters["blips"] += 1
            if isinstance(action, SoftRestart) and not slot.relaying:
                slot.relaying = True
                self.spawn(self.actuator.soft_restart(slot, action.command))
            if isinstance(action, CheckRelay) and not slot.relaying:
                slot.relaying = True
                self.spawn(self.actuator.relay_flow(slot, action.device_id))
