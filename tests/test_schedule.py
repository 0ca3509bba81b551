"""The monitor's timer heap: due units come out earliest first, once; a cancelled timer never fires."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pbxwatch.monitor.schedule import Schedule, Timer


def test_due_items_come_out_earliest_first_and_only_once() -> None:
    schedule: Schedule[str] = Schedule()
    for due, name in [(5.0, "c"), (1.0, "a"), (3.0, "b"), (9.0, "late")]:
        schedule.arm(due, name)
    assert schedule.pop_due(0.5) == []
    assert schedule.pop_due(5.0) == ["a", "b", "c"]
    assert schedule.pop_due(5.0) == []
    assert (schedule.next_due(), len(schedule)) == (9.0, 1)


def test_a_cancelled_or_spent_timer_never_fires_and_ties_keep_their_order() -> None:
    schedule: Schedule[str] = Schedule()
    first, _, third = schedule.arm(2.0, "first"), schedule.arm(2.0, "second"), schedule.arm(1.0, "third")
    schedule.cancel(third)
    assert schedule.next_due() == 2.0
    assert schedule.pop_due(2.0) == ["first", "second"]
    schedule.cancel(first)  # spent already: nothing to do, nothing miscounted
    assert (len(schedule), schedule.next_due()) == (0, None)


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(st.tuples(st.integers(0, 29), st.floats(0, 100), st.booleans()), max_size=200), now=st.floats(0, 100)
)
def test_rearming_units_leaves_exactly_their_latest_timer(ops: list[tuple[int, float, bool]], now: float) -> None:
    """Units re-armed and cancelled at random (as checks end and units are removed); compaction included."""
    schedule: Schedule[int] = Schedule()
    timers: dict[int, Timer[int]] = {}
    latest: dict[int, float] = {}
    for unit, due, cancel in ops:
        schedule.cancel(timers.get(unit))
        latest.pop(unit, None)
        if not cancel:
            timers[unit], latest[unit] = schedule.arm(due, unit), due
    assert len(schedule) == len(latest)
    expected = sorted((u for u, d in latest.items() if d <= now), key=lambda u: latest[u])
    popped = schedule.pop_due(now)
    assert sorted(popped) == sorted(expected)
    assert [latest[u] for u in popped] == sorted(latest[u] for u in popped)
    rest = sorted(d for d in latest.values() if d > now)
    assert schedule.next_due() == (rest[0] if rest else None)
