"""Flap hold: a PBX that keeps falling over needs a human, not a power-cut every few hours.

A unit is put on hold when, in the sliding `window`, it had `max_outages` confirmed outages or
`max_cycles` automatic power-cycles, or when more than `failed_percent` of its last `sample` checks
failed without ever reaching the failure threshold. While held nothing is done to it automatically
(no soft restart, no power-cycle); checks and status go on. The hold ends when the unit has been
stable (no failed check) for `stable_for`, or when an operator runs `pbxwatch units rearm`; only what
happens after that counts towards the next hold. Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class FlapPolicy:
    window: timedelta = timedelta(hours=6)
    max_outages: int = 3  # 0 turns this rule off
    max_cycles: int = 2  # 0 turns this rule off
    failed_percent: float = 30.0  # 0 turns this rule off
    sample: int = 20
    stable_for: timedelta = timedelta(hours=1)

    @property
    def enabled(self) -> bool:
        return bool(self.max_outages or self.max_cycles or self.failed_percent)

    @classmethod
    def from_settings(cls, monitor: Any) -> FlapPolicy:
        """From `Settings.monitor` (duck-typed, like `Policy.from_settings`)."""
        return cls(
            window=timedelta(seconds=float(monitor.flap_window)),
            max_outages=int(monitor.flap_max_outages),
            max_cycles=int(monitor.flap_max_cycles),
            failed_percent=float(monitor.flap_failed_percent),
            sample=int(monitor.flap_sample),
            stable_for=timedelta(seconds=float(monitor.flap_stable_for)),
        )


@dataclass(frozen=True)
class FlapMemory:
    """What the flap rule remembers about one unit."""

    outages: tuple[datetime, ...] = ()  # confirmed outages since `counted_since`
    checks: tuple[bool, ...] = ()  # the last `sample` counted checks, True = failed
    held_since: datetime | None = None
    counted_since: datetime | None = None  # the last release: nothing before it counts
    last_failure_at: datetime | None = None

    @property
    def held(self) -> bool:
        return self.held_since is not None


NOTHING_YET = FlapMemory()
FLAP_OFF = FlapPolicy(max_outages=0, max_cycles=0, failed_percent=0)


@dataclass(frozen=True)
class FlapHeld:
    """Put on flap hold: one `held` row and one "unstable, needs a human" event."""

    reason: str


@dataclass(frozen=True)
class FlapReleased:
    """The hold ended by itself (stable long enough): a `rearmed` row by `auto`."""

    reason: str


def checked(memory: FlapMemory, failed: bool, now: datetime, policy: FlapPolicy, *, sampled: bool = True) -> FlapMemory:
    """Remember one check: the last `sample` go into the failed share unless `sampled` is False (the
    checks of a confirmed outage: the outage rule counts those); any failure delays a release."""
    checks = memory.checks
    if sampled:
        checks = (*checks, failed)[-policy.sample :] if policy.sample > 0 else ()
    return replace(memory, checks=checks, last_failure_at=now if failed else memory.last_failure_at)


def outage_confirmed(memory: FlapMemory, now: datetime, policy: FlapPolicy) -> FlapMemory:
    """An outage was confirmed: it counts as one outage, and its failed checks leave the share (the share is
    for failures that never reach the threshold)."""
    checks = list(memory.checks)
    while checks and checks[-1]:
        checks.pop()
    outages = (*memory.outages, now) if policy.max_outages else memory.outages
    return replace(memory, outages=outages, checks=tuple(checks))


def unstable(memory: FlapMemory, cycles: tuple[datetime, ...], now: datetime, policy: FlapPolicy) -> str | None:
    """Why the unit should be held now, or None."""
    hours = f"{policy.window.total_seconds() / 3600:g} h"
    outages = len(_counted(memory.outages, memory, now, policy))
    if policy.max_outages and outages >= policy.max_outages:
        return f"{outages} confirmed outages in {hours} (flap_max_outages={policy.max_outages})"
    auto = len(_counted(cycles, memory, now, policy))
    if policy.max_cycles and auto >= policy.max_cycles:
        return f"{auto} automatic power-cycles in {hours} (flap_max_cycles={policy.max_cycles})"
    failed = sum(memory.checks)
    full = policy.sample > 0 and len(memory.checks) >= policy.sample
    if policy.failed_percent and full and failed * 100.0 > policy.failed_percent * len(memory.checks):
        return (
            f"{failed} of the last {len(memory.checks)} checks failed "
            f"(more than flap_failed_percent={policy.failed_percent:g} %)"
        )
    return None


def assess(
    memory: FlapMemory, cycles: tuple[datetime, ...], now: datetime, policy: FlapPolicy
) -> tuple[FlapMemory, FlapHeld | FlapReleased | None]:
    """Hold an unstable unit, or release a held one that has been stable for `stable_for`."""
    if memory.held_since is not None:
        quiet_since = max(memory.held_since, memory.last_failure_at or memory.held_since)
        if now - quiet_since < policy.stable_for:
            return memory, None
        minutes = f"{policy.stable_for.total_seconds() / 60:g} min"
        return released(memory, now), FlapReleased(f"stable for {minutes} (flap_stable_for)")
    reason = unstable(memory, cycles, now, policy)
    if reason is None:
        return memory, None
    return replace(memory, held_since=now), FlapHeld(f"unstable, needs a human: {reason}")


def released(memory: FlapMemory, now: datetime) -> FlapMemory:
    """The hold is over (stable, or an operator's rearm at `now`): start counting afresh."""
    return FlapMemory(counted_since=now)


def _counted(times: tuple[datetime, ...], memory: FlapMemory, now: datetime, policy: FlapPolicy) -> list[datetime]:
    since = memory.counted_since
    return [t for t in times if now - t < policy.window and (since is None or t > since)]
