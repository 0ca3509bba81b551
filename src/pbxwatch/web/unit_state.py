"""The dashboard's state of one unit, with its reason: `pbxwatch.domain.unit_status.unit_state` (the rule
`pbxwatch status` and `GET /units` use too), told in the dashboard's words.

The states are `State`'s seven, spelt as the dashboard's URLs and classes use them (`boot_grace`); the
reason becomes a key of `pbxwatch.i18n.dashboard` with the facts its text shows. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from pbxwatch.domain.unit_status import State, UnitFacts, unit_state
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
NEVER_CHECKED = frozenset({"never_checked", "never_up"})


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

    @property
    def hold(self) -> str | None:
        """The last action when it is a hold of the current outage."""
        at = self.last_action_at
        this_outage = at is not None and (self.down_since is None or at >= self.down_since)
        return self.last_action if this_outage and self.last_action in HOLD_WORDS else None

    def unit_facts(self) -> UnitFacts:
        return UnitFacts(
            active=self.active,
            last_status=self.last_status,
            last_checked_at=self.checked_at,
            failure_counter=self.failure_counter,
            last_error_message=self.error,
            hold=self.hold,
            cycling=self.cycling,
            paused=self.maintenance,
        )


@dataclass(frozen=True)
class DashboardVerdict:
    state: DashboardState
    reason: str  # a key of `pbxwatch.i18n.dashboard`
    values: dict[str, object] = field(default_factory=dict)


def dashboard_unit_state(facts: DashboardFacts, now: datetime, *, stale_after: timedelta) -> DashboardVerdict:
    """What the operator should read for this unit now (the clock is a parameter)."""
    state, reason = unit_state(facts.unit_facts(), now, stale_after=stale_after)
    shown = DashboardState[state.name]
    key, values = _REASONS[state](facts, reason, now)
    return DashboardVerdict(shown, key, values)


Told = tuple[str, dict[str, object]]


def _paused(facts: DashboardFacts, reason: str, now: datetime) -> Told:
    if facts.maintenance is None and reason == "inactive":
        return "reason_inactive", {}
    return "reason_maintenance", {"why": facts.maintenance or reason}


def _unknown(facts: DashboardFacts, reason: str, now: datetime) -> Told:
    if reason in NEVER_CHECKED:
        return "reason_never_checked", {}
    if reason == "stale_check" and facts.checked_at is not None:
        return "reason_stale", {"age": now - facts.checked_at}
    return "reason_down", {"error": facts.error or reason}  # a check that could not judge: its own message


def _held(facts: DashboardFacts, reason: str, now: datetime) -> Told:
    why = (facts.last_action_error or facts.hold) if facts.hold else reason
    return "reason_held", {"why": why}


def _boot_grace(facts: DashboardFacts, reason: str, now: datetime) -> Told:
    since = facts.last_action_at or facts.down_since or now
    return "reason_boot_grace", {"age": now - since}


def _online(facts: DashboardFacts, reason: str, now: datetime) -> Told:
    if facts.failure_counter > 0:
        return "reason_failing", {"count": facts.failure_counter}
    return "reason_ok", {}


_REASONS = {
    State.PAUSED: _paused,
    State.CYCLING: lambda facts, reason, now: ("reason_cycling", {}),
    State.UNKNOWN: _unknown,
    State.HELD: _held,
    State.BOOT_GRACE: _boot_grace,
    State.OFFLINE: lambda facts, reason, now: ("reason_down", {"error": facts.error or "-"}),
    State.ONLINE: _online,
}
