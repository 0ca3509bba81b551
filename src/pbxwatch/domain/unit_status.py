"""What state a unit is in, as the operator sees it: one pure function shared by `pbxwatch status`,
`GET /units` and the dashboard.

`unit_state` never shows a problem as green: a check that could not judge (host key changed), a hold
(relay offline, mass outage), a stale last check and a unit never checked are not `online`. No I/O, the
clock is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pbxwatch.domain.vocabulary import REASON_VERDICT, Reason, Verdict

BOOT_GRACE_SUFFIX = "(boot grace)"  # what the watchdog appends to a down check during boot grace


class State(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    UNKNOWN = "unknown"
    HELD = "held"
    CYCLING = "cycling"
    BOOT_GRACE = "boot grace"
    PAUSED = "paused"


# Worst first: the order of `pbxwatch status`.
SEVERITY: dict[State, int] = {
    State.OFFLINE: 0,
    State.HELD: 1,
    State.UNKNOWN: 2,
    State.CYCLING: 3,
    State.BOOT_GRACE: 4,
    State.PAUSED: 5,
    State.ONLINE: 6,
}

# Nagios plugin convention: 0 OK, 1 WARNING, 2 CRITICAL.
EXIT_OK, EXIT_WARNING, EXIT_CRITICAL = 0, 1, 2
WARNING_STATES = frozenset({State.UNKNOWN, State.HELD, State.CYCLING, State.BOOT_GRACE})


@dataclass(frozen=True)
class UnitFacts:
    """What is stored about one unit (its `unit_live_status` row and a few derived facts)."""

    active: bool = True
    last_status: str | None = None  # online | offline | None (never checked)
    last_checked_at: datetime | None = None
    failure_counter: int = 0
    last_error_message: str | None = None
    hold: str | None = None  # action_type of the last hold in the current outage (skipped_relay_offline…)
    cycling: bool = False  # a power-cycle of its relay is in progress
    paused: str | None = None  # why the unit is paused (a maintenance window), None when not paused


def reason_code(message: str | None) -> str | None:
    """The reason code a check message starts with (`host_key_mismatch: …` → `host_key_mismatch`)."""
    if not message:
        return None
    head = message.split(":", 1)[0].split(" ", 1)[0].strip()
    return head if head in Reason._value2member_map_ else None


def unit_state(facts: UnitFacts, now: datetime, *, stale_after: timedelta) -> tuple[State, str]:
    """(state, reason) of one unit. `stale_after`: a last check older than this cannot vouch for `online`."""
    if facts.paused is not None:
        return State.PAUSED, facts.paused or "maintenance"
    if not facts.active:
        return State.PAUSED, "inactive"
    if facts.last_checked_at is None:
        return State.UNKNOWN, "never_checked"
    if facts.cycling:
        return State.CYCLING, "power_cycle"
    return _checked_state(facts, now, stale_after)


def _checked_state(facts: UnitFacts, now: datetime, stale_after: timedelta) -> tuple[State, str]:  # noqa: PLR0911 -- one rule a line, in priority order
    code = reason_code(facts.last_error_message)
    message = facts.last_error_message or ""
    if code == Reason.MASS_OUTAGE:
        return State.HELD, "mass_outage"
    if facts.last_status == "offline" and message.endswith(BOOT_GRACE_SUFFIX):
        return State.BOOT_GRACE, code or "down"
    if code is not None and REASON_VERDICT[Reason(code)] is Verdict.UNKNOWN:
        return State.UNKNOWN, code
    if facts.last_status == "offline" and facts.hold:
        return State.HELD, facts.hold.removeprefix("skipped_")
    if facts.last_status == "offline":
        return State.OFFLINE, code or "down"
    if facts.last_status != "online":
        return State.UNKNOWN, code or "never_up"  # checked, but never seen up (nor down)
    if facts.last_checked_at is not None and now - facts.last_checked_at > stale_after:
        return State.UNKNOWN, "stale_check"
    return State.ONLINE, "ok"


def exit_code(states: list[State], *, monitor_running: bool) -> int:
    """Nagios: 2 when a unit is offline or the monitor is not running, 1 for any other non-online state."""
    if not monitor_running or State.OFFLINE in states:
        return EXIT_CRITICAL
    if any(s in WARNING_STATES for s in states):
        return EXIT_WARNING
    return EXIT_OK


def summary(states: list[State]) -> str:
    """`412 online, 3 offline, 1 unknown` (online first, then worst first; zero counts left out)."""
    order = [State.ONLINE, *sorted(set(State) - {State.ONLINE}, key=SEVERITY.__getitem__)]
    parts = [f"{states.count(s)} {s.value}" for s in order if states.count(s)]
    return ", ".join(parts) if parts else "no units"
