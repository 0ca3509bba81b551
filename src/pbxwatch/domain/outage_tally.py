"""The fleet-wide counts behind the mass-outage guard and the fleet's hourly cycle cap, kept incrementally.

`policy.mass_outage` and `policy.within` are the reference rules; this module answers the same questions
for the same inputs without looking at every unit on every check (a 20,000-unit fleet checks hundreds of
units a second). Pure: no clock, no I/O; the caller passes `now`.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right, insort
from dataclasses import dataclass
from datetime import datetime

from pbxwatch.domain.policy import DAY, HOUR, SWEEP_SLACK, Policy
from pbxwatch.domain.vocabulary import Verdict


@dataclass
class _Latest:
    at: datetime
    verdict: Verdict
    seq: int
    counted: bool = True  # in the window as of the latest `now` asked about


class OutageTally:
    """Each unit's last check, and how many of them are recent and down (`policy.mass_outage`).

    A heap of (checked at, seq, unit) expires checks that fell out of the window; an entry superseded by a
    newer check of its unit is skipped when it surfaces (its `seq` is no longer the unit's). A `now` earlier
    than one already asked about (the wall clock stepped back) rebuilds the counts from the last checks, so
    the answer is exact for any order of calls.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.window = policy.poll_interval * SWEEP_SLACK
        self.latest: dict[str, _Latest] = {}
        self.recent = 0  # units whose last check is in the window
        self.down = 0  # ... and was down
        self._heap: list[tuple[datetime, int, str]] = []
        self._seq = 0
        self._now: datetime | None = None
        self.since: datetime | None = None  # the first check recorded: the guard's view is partial for a sweep

    def record(self, number: str, at: datetime, verdict: Verdict) -> None:
        """The unit's check at `at` found `verdict` (the raw verdict, before any mass-outage re-reading)."""
        old = self.latest.get(number)
        if old is not None and old.counted:
            self._count(old, -1)
        self.since = at if self.since is None else min(self.since, at)
        self._seq += 1
        self.latest[number] = _Latest(at, verdict, self._seq)  # an old key keeps its place: same order of units
        self._compact()
        heapq.heappush(self._heap, (at, self._seq, number))
        self._count(self.latest[number], +1)

    def forget(self, number: str) -> None:
        old = self.latest.pop(number, None)
        if old is not None and old.counted:
            self._count(old, -1)
        self._compact()

    def held(self, now: datetime) -> bool:
        """`policy.mass_outage(latest, now, policy)` for the checks recorded so far."""
        self._advance(now)
        if self.down < self.policy.mass_outage_min_units:
            return False
        return self.down * 100.0 > self.policy.mass_outage_percent * self.recent

    def down_units(self, now: datetime) -> list[str]:
        """The units counted as down at `now` (a scan: for the log line and notice when the guard flips)."""
        self._advance(now)
        return [n for n, e in self.latest.items() if e.counted and e.verdict is Verdict.DOWN]

    def _compact(self) -> None:
        """Superseded and removed entries wait in the heap until they expire; a rebuild now and then bounds
        the heap to twice the fleet, at an amortised O(1) per check."""
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self.latest):
            self._rebuild(self._now)

    def _advance(self, now: datetime) -> None:
        if self._now is not None and now < self._now:
            self._rebuild(now)
            return
        self._now = now
        heap = self._heap
        while heap and now - heap[0][0] > self.window:
            _, seq, number = heapq.heappop(heap)
            entry = self.latest.get(number)
            if entry is not None and entry.seq == seq and entry.counted:
                entry.counted = False
                self._count(entry, -1)

    def _rebuild(self, now: datetime | None) -> None:
        self._now = now
        self.recent = self.down = 0
        self._heap = []
        for number, entry in self.latest.items():
            entry.counted = now is None or now - entry.at <= self.window
            if entry.counted:
                self._heap.append((entry.at, entry.seq, number))
                self._count(entry, +1)
        heapq.heapify(self._heap)

    def _count(self, entry: _Latest, step: int) -> None:
        self.recent += step
        if entry.verdict is Verdict.DOWN:
            self.down += step


class FleetCycles:
    """The fleet's automatic cycles of the last day, sorted: the hourly count is a bisection, not a scan."""

    def __init__(self) -> None:
        self.times: list[datetime] = []

    def restore(self, times: tuple[datetime, ...]) -> None:
        for at in times:
            insort(self.times, at)

    def started(self, now: datetime) -> None:
        """One more cycle; the ones a day old or more are dropped (as `within(times, now, DAY)` would)."""
        self.times = [t for t in self.times if now - t < DAY]
        insort(self.times, now)

    def last_hour(self, now: datetime) -> int:
        """`len(within(times, now, HOUR))`: cycles `t` with `now - t < HOUR`, i.e. `t > now - HOUR`."""
        return len(self.times) - bisect_right(self.times, now - HOUR)

    def clear(self) -> None:
        self.times = []
