"""The monitor's per-check bookkeeping at 1k / 5k / 20k units: the fleet scans it did before, and the
incremental counts and timer heap it keeps now, side by side in one run (CPU seconds of this process).

    .venv/bin/python benchmarks/monitor_bookkeeping.py
    .venv/bin/python benchmarks/monitor_bookkeeping.py --units 1000 5000 20000 --checks 2000

A steady sweep: units are checked in turn, the clock advancing one poll interval per sweep, one unit in
ten down, twenty automatic cycles in the last day. Per check, "scan" is what the monitor did before (write
the last verdict, `mass_outage()` over every unit, `within()` over the fleet's cycles, the scheduler's look
at every unit's due time); "incremental" is the same questions answered by `OutageTally`, `FleetCycles` and
`Schedule`. No probe, no database: only the part of a check that grew with the fleet.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from pbxwatch.domain.outage_tally import FleetCycles, OutageTally
from pbxwatch.domain.policy import HOUR, Policy, mass_outage, within
from pbxwatch.domain.vocabulary import Verdict
from pbxwatch.monitor.schedule import Schedule

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = Policy(poll_interval=timedelta(seconds=60))
CYCLES = [T0 - timedelta(minutes=70 * i) for i in range(20)]


def verdict(i: int) -> Verdict:
    return Verdict.DOWN if i % 10 == 0 else Verdict.UP


def scan(units: int, checks: int) -> float:
    numbers = [f"{i:05d}" for i in range(units)]
    step = POLICY.poll_interval / units
    latest = {n: (T0, verdict(i)) for i, n in enumerate(numbers)}
    due = dict.fromkeys(numbers, float("inf"))
    started = time.process_time()
    for k in range(checks):
        now, number = T0 + step * (units + k), numbers[k % units]
        latest[number] = (now, verdict(k))
        mass_outage(latest, now, POLICY)
        len(within(CYCLES, now, HOUR))
        loop_now = (now - T0).total_seconds()
        _ = [n for n, d in list(due.items()) if d <= loop_now]
        min(due.values())
        due[number] = loop_now + 60.0
    return time.process_time() - started


def incremental(units: int, checks: int) -> float:
    numbers = [f"{i:05d}" for i in range(units)]
    step = POLICY.poll_interval / units
    tally, cycles, schedule = OutageTally(POLICY), FleetCycles(), Schedule[str]()
    cycles.restore(tuple(CYCLES))
    for i, n in enumerate(numbers):
        tally.record(n, T0, verdict(i))
        schedule.arm(step.total_seconds() * (units + i), n)
    started = time.process_time()
    for k in range(checks):
        now, number = T0 + step * (units + k), numbers[k % units]
        tally.record(number, now, verdict(k))
        tally.held(now)
        cycles.last_hour(now)
        loop_now = (now - T0).total_seconds()
        for due in schedule.pop_due(loop_now):
            schedule.arm(loop_now + 60.0, due)
        schedule.next_due()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[1000, 5000, 20_000])
    parser.add_argument("--checks", type=int, default=2000)
    options = parser.parse_args()
    print("| units | scan µs/check | incremental µs/check | ratio |")
    print("|---:|---:|---:|---:|")
    for units in options.units:
        before = scan(units, options.checks) / options.checks * 1e6
        after = incremental(units, options.checks) / options.checks * 1e6
        print(f"| {units:,} | {before:,.0f} | {after:,.1f} | {before / after:,.0f}× |")


if __name__ == "__main__":
    main()
