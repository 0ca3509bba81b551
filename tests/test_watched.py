"""The monitor's fleet: a unit removed is no longer checked nor counted, and one added again starts afresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pbxwatch.domain.policy import Policy
from pbxwatch.domain.state import UnitState, WatchedUnit
from pbxwatch.domain.vocabulary import Verdict
from pbxwatch.monitor.watched import Fleet

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RULES = Policy(mass_outage_min_units=1)


def test_a_removed_unit_is_neither_checked_nor_counted_and_a_readded_one_is_a_new_slot() -> None:
    fleet = Fleet(RULES)
    first = fleet.add(WatchedUnit("100", "127.0.1.1"), UnitState(), due=1.0)
    fleet.add(WatchedUnit("101", "127.0.1.2"), UnitState(cycles=(NOW - timedelta(minutes=5),)), due=2.0)
    assert [s.number for s in fleet.due(5.0)] == ["100", "101"]
    fleet.checked(first, NOW, Verdict.DOWN)
    assert fleet.outages.held(NOW) and fleet.view(True, NOW).auto_cycles_last_hour == 1
    fleet.plan(first, 10.0)
    fleet.remove("100")
    assert "100" not in fleet and list(fleet) == ["101"] and not fleet.outages.held(NOW)
    assert fleet.due(20.0) == [] and not fleet.holds(first)
    fleet.plan(first, 30.0)  # a check of the removed unit ending late schedules nothing
    assert fleet.due(40.0) == []
    again = fleet.add(WatchedUnit("100", "127.0.1.9"), UnitState(), due=50.0)
    assert fleet.holds(again) and not fleet.holds(first) and again.latest is None
    assert fleet.due(50.0) == [again]


def test_a_unit_still_being_checked_is_not_started_twice() -> None:
    fleet = Fleet(RULES)
    slot = fleet.add(WatchedUnit("100", "127.0.1.1"), UnitState(), due=1.0)
    slot.checking = True
    assert fleet.due(2.0) == []
