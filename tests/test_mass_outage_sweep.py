"""The mass-outage guard needs a full sweep of the fleet before the first power-cycle of an outage
(docs/design.md §4.2): the fleet is played on an injected clock, checked as the monitor checks it.

When the whole fleet drops at once, the first units to fail are re-checked every `retry_interval` and reach
the threshold long before the others are re-checked every `poll_interval`; the guard, judging by each unit's
latest check, would still count those as `up` and let the first units be cycled.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from pbxwatch.domain.outage_tally import OutageTally
from pbxwatch.domain.policy import FleetView, Policy, sweep
from pbxwatch.domain.state import AwaitSweep, CheckRelay, Hold, OutageConfirmed, PowerCycle, UnitState, WatchedUnit
from pbxwatch.domain.verdicts import CheckResult
from pbxwatch.domain.vocabulary import ActionType, LiveStatus, Reason, Verdict
from pbxwatch.domain.watchdog import cycle_started, decide, relay_checked

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
POLICY = Policy()  # poll 60 s, retry 15 s, threshold 3, mass outage at 5 down and over 30 %
UP = CheckResult.of(Reason.OK, uptime_seconds=86_400)
DOWN = CheckResult.of(Reason.CONNECT_TIMEOUT, "no answer in 5s")
DROP = T0 + 600 * S  # the fleet has been watched for ten minutes when it drops


@dataclass
class Played:
    """What the monitor would have done: per unit, (when, action) in order; when the guard tripped."""

    actions: dict[str, list[tuple[datetime, object]]] = field(default_factory=dict)
    downs: dict[str, list[datetime]] = field(default_factory=dict)  # the failed checks
    guard_tripped: datetime | None = None

    def cycles(self) -> list[tuple[str, datetime]]:
        return [(n, at) for n, done in self.actions.items() for at, a in done if isinstance(a, PowerCycle)]

    def of(self, kind: type) -> dict[str, list[datetime]]:
        return {n: [at for at, a in done if isinstance(a, kind)] for n, done in self.actions.items()}


def play(units: int, down_from: dict[int, datetime], until: datetime, policy: Policy = POLICY) -> Played:
    """Check `units` units, staggered over one poll interval; unit i is down from `down_from[i]` on.

    Each check schedules the next one `retry_interval` after a down and `poll_interval` after an up, as
    the monitor does; the tally, the fleet view and `decide` are the monitor's own.
    """
    tally, played = OutageTally(policy), Played()
    fleet_units = [
        WatchedUnit(f"{i:03d}", f"127.0.2.{i + 1}", auto_cycle=True, device_id=f"dev{i}") for i in range(units)
    ]
    states = {u.number: UnitState(last_status=LiveStatus.ONLINE) for u in fleet_units}
    queue = [(T0 + policy.poll_interval * i / units, i) for i in range(units)]
    while queue:
        now, i = heapq.heappop(queue)
        if now > until:
            break
        unit = fleet_units[i]
        result = DOWN if i in down_from and now >= down_from[i] else UP
        tally.record(unit.number, now, result.verdict)
        if result.verdict is Verdict.DOWN:
            played.downs.setdefault(unit.number, []).append(now)
        held = tally.held(now)
        if held and played.guard_tripped is None:
            played.guard_tripped = now
        fleet = FleetView(held, 0, tally.since)
        decision = decide(unit, states[unit.number], result, now=now, policy=policy, fleet=fleet)
        if any(isinstance(a, CheckRelay) for a in decision.actions):  # the relay is online: cycle it
            asked = relay_checked(unit, decision.state, True, now, policy)
            decision = replace(
                asked, state=cycle_started(asked.state, now), actions=(*decision.actions, *asked.actions)
            )
        states[unit.number] = decision.state
        played.actions.setdefault(unit.number, []).extend((now, a) for a in decision.actions)
        step = policy.retry_interval if result.verdict is Verdict.DOWN else policy.poll_interval
        heapq.heappush(queue, (now + step, i))
    return played


# The first unit reaches the threshold after (threshold - 1) retries; the guard trips once more than
# `mass_outage_percent` of the fleet has been checked since the drop, about that share of a poll interval
# later. Quick retries, or a long poll interval, let the first units reach the threshold first.
QUICK_RETRIES = replace(POLICY, retry_interval=5 * S)
LONG_POLL = replace(POLICY, poll_interval=300 * S)


@pytest.mark.parametrize("policy", [QUICK_RETRIES, LONG_POLL], ids=["retry 5 s", "poll 300 s"])
def test_a_whole_fleet_dropping_at_once_is_never_cycled_and_the_guard_trips_within_a_sweep(policy: Policy) -> None:
    """Twenty units, the monitor host loses its network: the first units reach the threshold while most
    of the others still show their `up` from before the drop."""
    played = play(20, dict.fromkeys(range(20), DROP), DROP + 2 * sweep(policy), policy)
    tripped = played.guard_tripped
    assert tripped is not None and tripped <= DROP + sweep(policy)
    early = sorted(n for n, at in played.of(OutageConfirmed).items() if at and at[0] < tripped)
    assert early, "some units reach the threshold before the guard trips: the situation under test"
    assert played.cycles() == []
    waited = played.of(AwaitSweep)
    assert all(len(waited[n]) == 1 for n in early)  # one log line per unit and outage
    holds = {n: [a.kind for _, a in done if isinstance(a, Hold)] for n, done in played.actions.items()}
    assert all(kinds == [ActionType.SKIPPED_MASS_OUTAGE] for kinds in holds.values()), holds


def test_a_single_unit_outage_is_cycled_once_a_sweep_has_passed_since_its_first_failed_check() -> None:
    played = play(10, {0: DROP}, DROP + 600 * S)
    first_down = played.downs["000"][0]
    [(number, cycled_at)] = played.cycles()
    assert number == "000"
    assert first_down + sweep(POLICY) <= cycled_at < first_down + sweep(POLICY) + POLICY.retry_interval
    assert [a for _, a in played.actions["000"] if isinstance(a, AwaitSweep)] == [
        AwaitSweep(first_down + sweep(POLICY))
    ]
    assert played.guard_tripped is None


def test_a_few_independent_outages_at_once_are_each_cycled() -> None:
    """Four of twenty down (under the minimum of 5): each PBX gets its cycle, after the sweep."""
    played = play(20, dict.fromkeys(range(0, 20, 5), DROP), DROP + 600 * S)
    assert sorted(n for n, _ in played.cycles()) == ["000", "005", "010", "015"]
    assert played.guard_tripped is None


UNIT = WatchedUnit("100", "127.0.1.1", auto_cycle=True, device_id="dev1")
CONFIRMED = UnitState(last_status=LiveStatus.OFFLINE, failure_counter=3, confirmed=True, outage_since=T0 - 3600 * S)


def test_after_a_monitor_restart_a_restored_outage_waits_for_the_first_sweep_too() -> None:
    """The guard knows nothing of the fleet before the monitor's first check: its view is partial until
    a sweep has passed since then, however old the outage."""
    started = FleetView(watching_since=T0)
    soon = decide(UNIT, CONFIRMED, DOWN, now=T0 + 15 * S, policy=POLICY, fleet=started)
    assert soon.actions == (AwaitSweep(T0 + sweep(POLICY)),)
    again = decide(UNIT, soon.state, DOWN, now=T0 + 30 * S, policy=POLICY, fleet=started)
    assert again.actions == ()  # logged once per outage
    later = decide(UNIT, again.state, DOWN, now=T0 + sweep(POLICY), policy=POLICY, fleet=started)
    assert later.actions == (CheckRelay("dev1"),)


def test_the_wait_is_logged_again_in_the_next_outage() -> None:
    waited = decide(UNIT, replace(CONFIRMED, outage_since=T0), DOWN, now=T0 + 30 * S, policy=POLICY, fleet=FleetView())
    assert waited.state.sweep_awaited
    back = decide(UNIT, waited.state, UP, now=T0 + 45 * S, policy=POLICY, fleet=FleetView())
    assert not back.state.sweep_awaited
    again = replace(back.state, failure_counter=2, last_status=LiveStatus.OFFLINE, outage_since=T0 + 60 * S)
    assert decide(UNIT, again, DOWN, now=T0 + 90 * S, policy=POLICY, fleet=FleetView()).actions == (
        OutageConfirmed(3, DOWN.error_message()),
        AwaitSweep(T0 + 60 * S + sweep(POLICY)),
    )
