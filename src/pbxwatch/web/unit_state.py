"""The dashboard's state of one unit, with its reason: one pure function, `dashboard_unit_state`.

Its seven states are the words of `pbxwatch.domain.unit_status.State` (spelt `boot_grace` here, as the
dashboard's URLs and classes use it), but it judges from the dashboard's own facts (the last action row
and its time) where `unit_state` reads the watchdog's check message: this module is the one place to
swap when the dashboard adopts `unit_state`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from pbxwatch.domain.vocabulary import HOLD_TYPES, ActionType


class DashboardState(StrEnum):
    OFFLINE = "offline"
    HELD = "held"
    CYCLING = "cycling"
    BOOT_GRACE = "boot_grace"
    UNKNOWN = "unknown"
    PAUSED = "paused"
    ONLINE = "online"


# Worst first: the fleet table is sorted by this order, then by number.
SEVERITY = {state: rank for rank, state in enumerate(DashboardState)}
HOLD_WORDS = frozenset({*(t.value for t in HOLD_TYPES), ActionType.HELD.value})  # with the flap hold
RESTARTED = frozenset({ActionType.POWER_CYCLE.value, ActionType.TOGGLE_ON.value})


@dataclass(frozen=True)
class DashboardFacts:
    active: bool
    last_status: str | None  # online | offline | None (never checked)
    checked_at: datetime | None
    failure_counter: int
    error: str | None
    down_since: datetime | None  # the last on→off row while offline
    last_action: str | None  # action_type of the latest action row
    last_action_ok: bool
    last_action_at: datetime | None
    last_action_error: str | None
    cycling: bool  # an active power-cycle intent on its relay
    maintenance: str | None = None  # the maintenance window pausing it now (its reason and who set it)


@dataclass(frozen=True)
class DashboardVerdict:
    state: DashboardState
    reason: str  # a key of `pbxwatch.i18n.dashboard`
    values: dict[str, object] = field(default_factory=dict)


def dashboard_unit_state(facts: DashboardFacts, now: datetime, *, stale_after: timedelta,
                         boot_grace: timedelta) -> DashboardVerdict:
    """What the operator should read for this unit now (no I/O; the clock is a parameter)."""
    if not facts.active:
        return DashboardVerdict(DashboardState.PAUSED, "reason_inactive")
    if facts.cycling:
        return DashboardVerdict(DashboardState.CYCLING, "reason_cycling")
    if facts.maintenance is not None:
        return DashboardVerdict(DashboardState.PAUSED, "reason_maintenance", {"why": facts.maintenance})
    unknown = _unknown(facts, now, stale_after)
    if unknown is not None:
        return unknown
    if facts.last_status == "offline":
        return _offline(facts, now, boot_grace)
    return _online(facts)


def _unknown(facts: DashboardFacts, now: datetime, stale_after: timedelta) -> DashboardVerdict | None:
    if facts.last_status is None or facts.checked_at is None:
        return DashboardVerdict(DashboardState.UNKNOWN, "reason_never_checked")
    if now - facts.checked_at > stale_after:
        return DashboardVerdict(DashboardState.UNKNOWN, "reason_stale", {"age": now - facts.checked_at})
    return None


def _online(facts: DashboardFacts) -> DashboardVerdict:
    if facts.failure_counter > 0:
        return DashboardVerdict(DashboardState.ONLINE, "reason_failing", {"count": facts.failure_counter})
    return DashboardVerdict(DashboardState.ONLINE, "reason_ok")


def _offline(facts: DashboardFacts, now: datetime, boot_grace: timedelta) -> DashboardVerdict:
    at = facts.last_action_at
    this_outage = at is not None and (facts.down_since is None or at >= facts.down_since)
    if this_outage and facts.last_action in HOLD_WORDS:
        why = facts.last_action_error or facts.last_action
        return DashboardVerdict(DashboardState.HELD, "reason_held", {"why": why})
    restarted = this_outage and facts.last_action in RESTARTED and facts.last_action_ok
    if restarted and at is not None and now - at < boot_grace:
        return DashboardVerdict(DashboardState.BOOT_GRACE, "reason_boot_grace", {"age": now - at})
    return DashboardVerdict(DashboardState.OFFLINE, "reason_down", {"error": facts.error or "-"})
