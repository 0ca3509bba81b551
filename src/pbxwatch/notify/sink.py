"""The monitor's notification sink: decisions in, notices out, storms kept out.

Queuing is synchronous and cheap; `run` stores the queue in the outbox from a task of its own and
sends reminders for incidents still open. No storms: a mass outage is one grouped notice (the per-unit
mass-outage holds are not sent), each unit may send at most `unit_max_per_hour` notices (the rest are
counted and said in its next one), and an open incident repeats only every `reminder_interval`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from pbxwatch.config import NotifySettings
from pbxwatch.db.engine import DB_ERRORS, describe
from pbxwatch.domain.flap import FlapHeld
from pbxwatch.domain.policy import HOUR, SWEEP_SLACK, Policy
from pbxwatch.domain.state import (
    Action,
    CycleFailed,
    Decision,
    Hold,
    OutageConfirmed,
    Recovered,
    UnitState,
    WatchedUnit,
)
from pbxwatch.domain.verdicts import CheckResult
from pbxwatch.domain.vocabulary import ActionType, HoldKind
from pbxwatch.monitor.events import UnitEvent
from pbxwatch.notify.notices import Notice, unit_list
from pbxwatch.notify.outbox import Outbox

log = logging.getLogger("pbxwatch.notify")
QUEUE_MAX = 10_000  # while the database is down; the oldest notices go first
REMINDER_SCAN_S = 30.0
Clock = Callable[[], datetime]
# grouped / said in the confirmation
SILENT_HOLDS = frozenset({ActionType.SKIPPED_MASS_OUTAGE, ActionType.SKIPPED_NO_RELAY})


def _iso(at: datetime | None) -> str:
    return at.isoformat() if at else "-"


class NoticeSink:
    def __init__(self, notify: NotifySettings, policy: Policy) -> None:
        self.notify, self.policy = notify, policy
        self.queue: deque[Notice] = deque(maxlen=QUEUE_MAX)
        self.wake = asyncio.Event()
        self.units: dict[str, WatchedUnit] = {}
        self.down: set[str] = set()  # units in a confirmed outage (reminders go only to these)
        self._sent: dict[str, deque[datetime]] = {}
        self._suppressed: dict[str, int] = {}
        self._db_said = False
        # A mass outage is told once, when every unit was checked since it began (at the latest three
        # sweeps later), so the message lists every unit it caught.
        self._mass_since: datetime | None = None
        self._mass_units: set[str] = set()
        self._mass_checked: set[str] = set()
        self._settle = policy.poll_interval * SWEEP_SLACK * 3

    def checked(self, number: str, result: CheckResult, seconds: float) -> None:
        if self._mass_since is not None:
            self._mass_checked.add(number)

    def decided(self, unit: WatchedUnit, before: UnitState, decision: Decision, now: datetime) -> None:
        self.units[unit.number] = unit
        if decision.state.confirmed:
            self.down.add(unit.number)
        else:
            self.down.discard(unit.number)
        for action in decision.actions:
            mass = isinstance(action, Hold) and action.kind is ActionType.SKIPPED_MASS_OUTAGE
            if mass and self._mass_since is not None:
                self._mass_units.add(unit.number)
            notice = self._from_action(unit, before, decision.state, action, now)
            if notice is not None:
                self._add(notice)

    def cycle_started(self, unit: WatchedUnit, state: UnitState, cycle_id: str, now: datetime) -> None:
        facts = {
            **self._unit_facts(unit),
            "device": unit.device_id,
            "cycle": cycle_id,
            "grace": int(self.policy.boot_grace.total_seconds()),
        }
        self._add(
            Notice(
                "cycle_started",
                f"cycle_started:{unit.number}:{_iso(state.outage_since)}:{len(state.cycles)}",
                now,
                unit.number,
                facts,
            )
        )

    def mass_outage(self, active: bool, down: list[str], now: datetime) -> None:
        if active:
            self._mass_since, self._mass_units, self._mass_checked = now, set(down), set()
            return
        self.tell_mass_outage(now, force=True)
        facts = {"count": len(down), "units": unit_list(down), "numbers": sorted(down)}
        self._add(Notice("mass_outage_over", f"mass_outage_over:{now.isoformat()}", now, None, facts))

    def tell_mass_outage(self, now: datetime, *, force: bool = False) -> None:
        """The grouped message, once the first sweep of the outage is over (or the outage already is)."""
        since = self._mass_since
        swept = set(self.units) <= self._mass_checked
        if since is None or (not force and not swept and now - since < self._settle):
            return
        down = sorted(self._mass_units)
        facts = {"count": len(down), "units": unit_list(down), "numbers": down}
        self._add(Notice("mass_outage", f"mass_outage:{since.isoformat()}", now, None, facts))
        self._mass_since = None

    def took_lead(self, after_standby: bool, now: datetime) -> None:
        if after_standby:
            from pbxwatch.notify.sender import owner_name

            self._add(
                Notice(
                    "standby_took_over",
                    f"standby_took_over:{owner_name()}:{now.isoformat()}",
                    now,
                    None,
                    {"who": owner_name()},
                )
            )

    def emit(self, event: UnitEvent) -> None:
        """Remediation events need no notice of their own: a flap hold is told from its decision (`decided`),
        a maintenance window silences the outage notices, and a soft restart is told by its outcome."""

    def _from_action(
        self, unit: WatchedUnit, before: UnitState, state: UnitState, action: Action, now: datetime
    ) -> Notice | None:
        n, since, facts = unit.number, _iso(state.outage_since or before.outage_since), self._unit_facts(unit)
        match action:
            case OutageConfirmed(counter, message):
                facts.update(
                    since=_stamp(state.outage_since or now),
                    since_at=state.outage_since or now,
                    failures=counter,
                    reason=message,
                    next_key=self._next_step(unit),
                )
                return Notice("outage_confirmed", f"outage_confirmed:{n}:{since}", now, n, facts)
            case Hold(kind, reason) if kind not in SILENT_HOLDS:
                return self._hold_notice(unit, kind, reason, since=since, facts=facts, now=now)
            case FlapHeld(reason):
                facts.update(
                    device=unit.device_id,
                    retry=0,
                    detail=reason,
                    hold_key="hold.unstable",
                    next_key="next.rearm",
                    hold="flap",
                )
                return Notice("held", f"held:{n}:flap:{now.isoformat()}", now, n, facts)
            case CycleFailed(device_id, reason):
                facts.update(device=device_id, reason=reason, retry=_seconds(self.policy.relay_recheck_interval))
                return Notice("cycle_failed", f"cycle_failed:{n}:{since}", now, n, facts)
            case Recovered():
                opened = before.outage_since or now
                facts.update(
                    downtime_s=(now - opened).total_seconds(), cycled=before.cycle_at is not None and before.action_done
                )
                return Notice("recovered", f"recovered:{n}:{_iso(before.outage_since)}", now, n, facts)
        return None

    def _hold_notice(
        self, unit: WatchedUnit, kind: HoldKind, reason: str, *, since: str, facts: dict[str, object], now: datetime
    ) -> Notice:
        n = unit.number
        if kind is ActionType.SKIPPED_DAILY_CAP:
            facts.update(reason=reason)
            return Notice("gave_up", f"gave_up:{n}:{since}", now, n, facts)
        retry = _seconds(self.policy.relay_recheck_interval)
        hold_key, next_key = {
            ActionType.SKIPPED_RELAY_OFFLINE: ("hold.relay_offline", "next.relay_offline"),
            ActionType.DRY_RUN: ("hold.dry_run", "next.human"),
        }.get(kind, ("hold.other", "next.wait"))
        facts.update(
            device=unit.device_id, retry=retry, detail=reason, hold_key=hold_key, next_key=next_key, hold=kind.value
        )
        return Notice("held", f"held:{n}:{since}:{kind.value}", now, n, facts)

    def _next_step(self, unit: WatchedUnit) -> str:
        if not unit.auto_cycle:
            return "next.auto_off"
        return "next.will_cycle" if unit.device_id else "next.no_relay"

    @staticmethod
    def _unit_facts(unit: WatchedUnit) -> dict[str, object]:
        return {"name": unit.name or "", "host": f"{unit.host}:{unit.ssh_port}"}

    def _add(self, notice: Notice) -> None:
        """Queue, unless the unit already sent `unit_max_per_hour` notices in the last hour."""
        if notice.unit is not None:
            sent = self._sent.setdefault(notice.unit, deque())
            while sent and notice.at - sent[0] >= HOUR:
                sent.popleft()
            if len(sent) >= self.notify.unit_max_per_hour:
                self._suppressed[notice.unit] = self._suppressed.get(notice.unit, 0) + 1
                return
            sent.append(notice.at)
            if self._suppressed.get(notice.unit):
                notice.facts["suppressed"] = self._suppressed.pop(notice.unit)
        self.queue.append(notice)
        self.wake.set()

    async def run(self, stop: asyncio.Event, box: Outbox, clock: Clock, on_stored: Callable[[], None]) -> None:
        """Until `stop`: store queued notices, and every 30 s remind of incidents still open."""
        next_scan = clock()
        while True:
            self.tell_mass_outage(clock())
            await self.flush(box, on_stored)
            if stop.is_set():
                return
            if self.notify.reminder_interval and clock() >= next_scan:
                await self._remind(box, clock())
                next_scan = clock() + timedelta(seconds=min(REMINDER_SCAN_S, self.notify.reminder_interval))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_either(stop, self.wake), 1.0)
            self.wake.clear()

    async def flush(self, box: Outbox, on_stored: Callable[[], None] | None = None) -> None:
        if not self.queue:
            return
        batch = list(self.queue)
        try:
            await box.publish(batch)
        except DB_ERRORS as err:
            if not self._db_said:
                log.warning("notifications queued in memory: the database is unavailable (%s)", describe(err))
                self._db_said = True
            return
        self._db_said = False
        for _ in batch:
            self.queue.popleft()
        if on_stored is not None:
            on_stored()

    async def _remind(self, box: Outbox, now: datetime) -> None:
        every = timedelta(seconds=self.notify.reminder_interval)
        try:
            for incident in await box.reminders_due(now, every):
                unit = self.units.get(incident.unit)
                if unit is None or incident.unit not in self.down or not await box.counted_reminder(incident):
                    continue
                facts = {
                    **self._unit_facts(unit),
                    "since": _stamp(incident.opened_at),
                    "reason": incident.reason,
                    "downtime_s": (now - incident.opened_at).total_seconds(),
                    "every_s": self.notify.reminder_interval,
                }
                self._add(
                    Notice("reminder", f"reminder:{incident.id}:{incident.reminders + 1}", now, unit.number, facts)
                )
        except DB_ERRORS as err:
            log.debug("reminders skipped: %s", describe(err))


def _seconds(span: timedelta) -> float | int:
    seconds = span.total_seconds()
    return int(seconds) if seconds == int(seconds) else round(seconds, 1)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


async def _either(a: asyncio.Event, b: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
