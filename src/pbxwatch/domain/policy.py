"""The watchdog's knobs (docs/design.md §4, §9 `monitor.*`) and the fleet-wide rules computed from them.

Pure: no clock, no I/O. The monitor builds one `Policy` from settings at start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pbxwatch.domain.flap import FLAP_OFF, FlapPolicy
from pbxwatch.domain.vocabulary import Verdict

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
# A unit's next check starts one interval after its last one *ended*, so "the last sweep" reaches a little
# further back than one poll_interval; without this slack, units fall out of the window and the guard flaps.
SWEEP_SLACK = 1.5


@dataclass(frozen=True)
class Policy:
    failure_threshold: int = 3
    poll_interval: timedelta = timedelta(seconds=60)
    retry_interval: timedelta = timedelta(seconds=15)
    boot_grace: timedelta = timedelta(seconds=300)
    relay_recheck_interval: timedelta = timedelta(seconds=300)
    mass_outage_percent: float = 30.0
    mass_outage_min_units: int = 5
    max_cycles_per_unit_per_day: int = 3
    max_auto_cycles_per_hour: int = 20
    dry_run: bool = False
    # Off unless built from settings (which turn it on): a bare Policy() is the seed's rule alone.
    flap: FlapPolicy = FLAP_OFF
    restart_grace: timedelta = timedelta(seconds=60)  # after a soft restart, before the power-cycle rung

    @classmethod
    def from_settings(cls, monitor: Any) -> Policy:
        """Build from `Settings.monitor` (duck-typed so the domain imports nothing of pbxwatch.config)."""
        return cls(
            failure_threshold=int(monitor.failure_threshold),
            poll_interval=timedelta(seconds=float(monitor.poll_interval)),
            retry_interval=timedelta(seconds=float(monitor.retry_interval)),
            boot_grace=timedelta(seconds=float(monitor.boot_grace)),
            relay_recheck_interval=timedelta(seconds=float(monitor.relay_recheck_interval)),
            mass_outage_percent=float(monitor.mass_outage_percent),
            mass_outage_min_units=int(monitor.mass_outage_min_units),
            max_cycles_per_unit_per_day=int(monitor.max_cycles_per_unit_per_day),
            max_auto_cycles_per_hour=int(monitor.max_auto_cycles_per_hour),
            dry_run=bool(monitor.dry_run),
            flap=FlapPolicy.from_settings(monitor),
            restart_grace=timedelta(seconds=float(monitor.restart_grace)),
        )


@dataclass(frozen=True)
class FleetView:
    """What one unit's decision needs to know about the rest of the fleet."""

    mass_outage: bool = False
    auto_cycles_last_hour: int = 0
    # The first check the guard has seen since the monitor (re)started; None: it has always been watching.
    watching_since: datetime | None = None


def sweep(policy: Policy) -> timedelta:
    """One full sweep of the fleet: every unit checked once. A unit's next check starts one `poll_interval`
    after its last one *ended*, so the sweep is that plus a check's duration, which `SWEEP_SLACK` covers."""
    return policy.poll_interval * SWEEP_SLACK


def sweep_done_at(outage_since: datetime | None, now: datetime, policy: Policy, fleet: FleetView) -> datetime:
    """When the guard will have seen every unit at least once since this outage began (and since it began
    watching): before that, the units not yet re-checked still count with their `up` from before the drop, so
    a mass outage would look like a few units down and the first ones to fail would be power-cycled."""
    starts = [t for t in (outage_since, fleet.watching_since) if t is not None]
    return max(starts, default=now) + sweep(policy)


def mass_outage(latest: Mapping[str, tuple[datetime, Verdict]], now: datetime, policy: Policy) -> bool:
    """True when, among units checked in the last sweep (one `poll_interval`, with `SWEEP_SLACK`), at least
    `mass_outage_min_units` are `down` *and* they are more than `mass_outage_percent` of the checked units.

    The minimum counts units down, not units checked: in a small fleet a few independent failures are
    each a PBX to power-cycle, not a sign that the monitor host lost its network.
    `latest` maps each unit to the time and *raw* verdict of its last check (before any
    re-classification as `mass_outage`), so the guard lifts as soon as the share drops again.
    """
    window = sweep(policy)
    recent = [verdict for at, verdict in latest.values() if now - at <= window]
    down = sum(1 for verdict in recent if verdict is Verdict.DOWN)
    if down < policy.mass_outage_min_units:
        return False
    return down * 100.0 > policy.mass_outage_percent * len(recent)


def within(times: Iterable[datetime], now: datetime, span: timedelta) -> tuple[datetime, ...]:
    """The instants of `times` that fall in the last `span` before `now`."""
    return tuple(t for t in times if now - t < span)
