"""The monitor's fleet: one `Watched` per unit (its config, state, last check, in-flight work, next check)
and the fleet-wide counts, kept in step by the only code that adds, removes or checks a unit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from pbxwatch.domain.outage_tally import FleetCycles, OutageTally
from pbxwatch.domain.policy import FleetView, Policy
from pbxwatch.domain.state import UnitState, WatchedUnit
from pbxwatch.domain.vocabulary import Verdict
from pbxwatch.monitor.schedule import Schedule, Timer


@dataclass(eq=False)
class Watched:
    """One monitored unit. `state` changes only to what a `domain.watchdog` function returned."""

    unit: WatchedUnit
    state: UnitState
    latest: tuple[datetime, Verdict] | None = None  # the raw verdict of the last check
    last_failure: str | None = None  # a repeated failure is logged once, at INFO
    checking: bool = False
    relaying: bool = False  # a soft restart or relay step is running
    timer: Timer[Watched] | None = None  # the next check

    @property
    def number(self) -> str:
        return self.unit.number


class Fleet:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.schedule: Schedule[Watched] = Schedule()
        self.outages = OutageTally(policy)
        self.cycles = FleetCycles()
        self._slots: dict[str, Watched] = {}

    def add(self, unit: WatchedUnit, state: UnitState, *, due: float) -> Watched:
        slot = Watched(unit, state)
        self._slots[unit.number] = slot
        self.cycles.restore(state.cycles)
        self.plan(slot, due)
        return slot

    def remove(self, number: str) -> None:
        slot = self._slots.pop(number, None)
        if slot is not None:
            self.schedule.cancel(slot.timer)
            self.outages.forget(number)

    def clear(self) -> None:
        self._slots.clear()
        self.schedule.clear()
        self.outages = OutageTally(self.policy)
        self.cycles.clear()

    def get(self, number: str) -> Watched | None:
        return self._slots.get(number)

    def holds(self, slot: Watched) -> bool:
        """Still the monitored unit (not removed, nor removed and added again, since the work started)."""
        return self._slots.get(slot.number) is slot

    def plan(self, slot: Watched, due: float) -> None:
        if self.holds(slot):
            self.schedule.cancel(slot.timer)
            slot.timer = self.schedule.arm(due, slot)

    def due(self, now: float) -> list[Watched]:
        return [slot for slot in self.schedule.pop_due(now) if not slot.checking]

    def checked(self, slot: Watched, at: datetime, verdict: Verdict) -> None:
        slot.latest = (at, verdict)
        self.outages.record(slot.number, at, verdict)

    def view(self, mass_outage: bool, now: datetime) -> FleetView:
        return FleetView(mass_outage, self.cycles.last_hour(now), self.outages.since)

    def __contains__(self, number: object) -> bool:
        return number in self._slots

    def __iter__(self) -> Iterator[str]:
        return iter(self._slots)

    def __len__(self) -> int:
        return len(self._slots)

    def slots(self) -> Iterator[Watched]:
        return iter(list(self._slots.values()))
