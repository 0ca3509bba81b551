"""`pbxwatch monitor`: the daemon's lifecycle and leadership around the fleet's checks (`checks`) and relay steps
(`actuator`).

Shape: a task group of the check scheduler, a writer and a reloader; a halt event set by SIGTERM/SIGINT (or
by losing the lead) ends them. The clock is injected: decisions use `clock()`; only the schedule uses the
event loop's own time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from pbxwatch.db.engine import DB_ERRORS, describe
from pbxwatch.domain.policy import Policy
from pbxwatch.domain.state import UnitState, WatchedUnit
from pbxwatch.domain.watchdog import operator_rearmed
from pbxwatch.monitor import remediation
from pbxwatch.monitor.actuator import Actuator
from pbxwatch.monitor.checks import Checks
from pbxwatch.monitor.events import EventSink, LogEvents
from pbxwatch.monitor.leader import Leadership
from pbxwatch.monitor.ports import Prober, RelayPort, Restarter
from pbxwatch.monitor.store import LiveRow, MonitorStore, Stored
from pbxwatch.monitor.watched import Fleet
from pbxwatch.monitor.writer import Writer

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
        self.store, self.leadership, self.clock = store, leadership, clock
        self.fleet = Fleet(self.policy)
        self.writer = Writer(store, flush_interval=options.flush_interval)
        self.checks = Checks(
            self.policy,
            fleet=self.fleet,
            writer=self.writer,
            prober=prober,
            events=self.events,
            clock=clock,
            spawn=self._spawn,
            concurrency=options.concurrency,
            check_timeout=options.check_timeout,
            time_zone=options.time_zone,
            actuator=lambda checks: Actuator(
                self.policy,
                fleet=self.fleet,
                store=store,
                writer=self.writer,
                relay=relay,
                restarter=restarter,
                events=self.events,
                clock=clock,
                commit=checks.commit,
                counters=checks.counters,
            ),
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._halt = asyncio.Event()
        self._role = "starting"
        self.beat_extra: dict[str, Any] = {}  # more heartbeat fields (the metrics URL)

    @property
    def units(self) -> Fleet:
        """The monitored units (by number: `in`, iteration, `len`)."""
        return self.fleet

    @property
    def mass_outage(self) -> bool:
        return self.checks.mass_outage

    @property
    def counters(self) -> dict[str, int]:
        return self.checks.counters

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
            group.create_task(self.checks.loop(self._halt))
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
        self.checks.wake.set()

    async def _finish(self) -> None:
        """SIGTERM: cancel the checks, let relay calls and restarts end (bounded), then write everything owed."""
        await self.checks.cancel_running()
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
            log.error(
                "stopping with %d history row(s) not written: the database is unavailable",
                len(self.writer.pending.rows),
            )
        log.info("monitor stopped")

    async def _load(self, stop: asyncio.Event) -> bool:
        said = False
        while not stop.is_set():
            try:
                units = await self.store.active_units()
                stored = await self.store.stored([u.number for u in units], self.clock())
            except DB_ERRORS as err:
                if not said:
                    log.error("cannot load units from the database (%s); retrying", describe(err))  # noqa: TRY400 -- one line, no traceback for an outage
                    said = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2.0)
                continue
            self.fleet.clear()
            self._add_units(units, stored)
            try:
                await self._load_remediation([u.number for u in units])
            except DB_ERRORS as err:
                self.writer.db_down(err)  # read again at the next reload; until then no window is known
            log.info("monitoring %d active unit(s)", len(units))
            return True
        return False

    def _add_units(self, units: list[WatchedUnit], stored: dict[str, Stored]) -> None:
        loop_now = asyncio.get_running_loop().time()
        for unit in units:
            found = stored.get(unit.number)
            live = found.live if found else None
            self.writer.live[unit.number] = live or LiveRow()
            state = UnitState.restored(
                last_status=live.last_status if live else None,
                failure_counter=live.failure_counter if live else 0,
                action_done=found.action_done if found else False,
                threshold=self.policy.failure_threshold,
                outage_since=found.outage_since if found else None,
                cycles=found.cycles if found else (),
            )
            self.fleet.add(unit, state, due=loop_now)

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
        for number in [n for n in self.fleet if n not in units]:
            log.info("unit %s removed or deactivated: no longer monitored", number)
            self.fleet.remove(number)
            self.writer.forget(number)
        added = [u for n, u in units.items() if n not in self.fleet]
        for number, unit in units.items():
            slot = self.fleet.get(number)
            if slot is not None and slot.unit != unit:
                log.info("unit %s changed: now %s:%s relay %s", number, unit.host, unit.ssh_port, unit.device_id)
                slot.unit = unit
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
        for slot in self.fleet.slots():
            if slot.state.action_done and flags.get(slot.number) is False:
                log.info("unit %s rearmed by an operator: an automatic power-cycle is allowed again", slot.number)
                slot.state = operator_rearmed(slot.state)

    async def _load_remediation(self, numbers: list[str]) -> None:
        """Windows (every process sees the same ones) and flap holds, from the database."""
        now = self.clock()
        self.checks.windows = await remediation.load_windows(self.store.db, now)
        await remediation.restore_flap(self.store.db, self.fleet, numbers, now, self.policy)
        await remediation.restore_soft_restarts(self.store.db, self.fleet, numbers)
        for number in await remediation.adopt_flap_rearms(self.store.db, self.fleet):
            log.info("unit %s rearmed by an operator: its flap hold is over", number)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        data = {
            "pid": os.getpid(),
            "role": role,
            "at": self.clock().isoformat(),
            "units": len(self.units),
            "database": "ok" if self.writer.db_ok else "unavailable",
            "rows_written": self.writer.rows_written,
            **self.counters,
            **self.beat_extra,
        }
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            tmp.replace(path)
