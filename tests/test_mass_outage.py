"""The mass-outage guard, small and large fleets: it holds cycles only when at least
`mass_outage_min_units` units are *down* and they are more than `mass_outage_percent` of the units checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbxwatch.domain.outage_tally import FleetCycles, OutageTally
from pbxwatch.domain.policy import DAY, HOUR, SWEEP_SLACK, Policy, mass_outage, within
from pbxwatch.domain.vocabulary import Verdict

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DEFAULTS = Policy()  # 30 %, at least 5 down


def fleet(down: int, up: int, unknown: int = 0) -> dict[str, tuple[datetime, Verdict]]:
    verdicts = [Verdict.DOWN] * down + [Verdict.UP] * up + [Verdict.UNKNOWN] * unknown
    return {f"{i:03d}": (NOW - timedelta(seconds=5), v) for i, v in enumerate(verdicts)}


def policy(percent: float = 30.0, min_units: int = 5) -> Policy:
    return Policy(mass_outage_percent=percent, mass_outage_min_units=min_units)


CASES = [
    # (sentence, fleet, policy, held)
    ("3 of 8 down (37 %) is fewer than 5 down: each is cycled", fleet(3, 5), DEFAULTS, False),
    ("8 of 8 down in an 8-unit fleet is a mass outage", fleet(8, 0), DEFAULTS, True),
    ("4 of 4 down is fewer than 5 down: each is cycled", fleet(4, 0), DEFAULTS, False),
    ("1 of 1 down with a minimum of 1 and 30 % is a mass outage", fleet(1, 0), policy(min_units=1), True),
    ("exactly the minimum, 5 of 10 down (50 %), is a mass outage", fleet(5, 5), DEFAULTS, True),
    ("one under the minimum, 4 of 10 down (40 %), is not", fleet(4, 6), DEFAULTS, False),
    ("exactly the percent, 30 of 100 down (30 %), is not more: not a mass outage", fleet(30, 70), DEFAULTS, False),
    ("just over the percent, 31 of 100 down, is a mass outage", fleet(31, 69), DEFAULTS, True),
    ("exactly the minimum and exactly the percent, 5 of 20 at 25 %, is not", fleet(5, 15), policy(percent=25), False),
    ("exactly the minimum and over the percent, 5 of 19 at 25 %, is", fleet(5, 14), policy(percent=25), True),
    ("a large fleet, 100 of 1000 down (10 %), is not", fleet(100, 900), DEFAULTS, False),
    ("a large fleet, 400 of 1000 down (40 %), is", fleet(400, 600), DEFAULTS, True),
    ("unknown units are checked but not down: 5 down of 5+12 unknown (29 %) is not", fleet(5, 0, 12), DEFAULTS, False),
    ("an empty fleet is never a mass outage", fleet(0, 0), policy(min_units=1), False),
]


@pytest.mark.parametrize(("sentence", "latest", "rules", "held"), CASES, ids=[c[0] for c in CASES])
def test_mass_outage_holds_only_when_enough_units_are_down(
    sentence: str, latest: dict[str, tuple[datetime, Verdict]], rules: Policy, held: bool
) -> None:
    assert mass_outage(latest, NOW, rules) is held, sentence


# The monitor keeps the counts incrementally (`OutageTally`); the function above stays the reference.

UNITS = [f"{i:03d}" for i in range(12)]
VERDICTS = [Verdict.UP, Verdict.DOWN, Verdict.UNKNOWN]
Op = tuple[str, int, int, int]  # (what, unit, seconds, verdict)

operations = st.lists(
    st.tuples(
        st.sampled_from(["record", "record", "record", "forget", "ask"]),
        st.integers(0, len(UNITS) - 1),
        st.integers(-40, 60),
        st.integers(0, 2),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(
    ops=operations,
    percent=st.sampled_from([0.0, 25.0, 30.0, 50.0, 100.0]),
    min_units=st.integers(1, 6),
    poll=st.sampled_from([10, 20, 60]),
    step_back=st.booleans(),
)
def test_the_incremental_tally_agrees_with_the_reference_on_any_sequence(
    ops: list[Op], percent: float, min_units: int, poll: int, step_back: bool
) -> None:
    """Checks, removed units and questions in any order, the clock mostly forward, sometimes stepping back."""
    rules = Policy(mass_outage_percent=percent, mass_outage_min_units=min_units, poll_interval=timedelta(seconds=poll))
    tally, latest = OutageTally(rules), {}
    now = NOW
    for what, index, seconds, verdict in ops:
        number = UNITS[index]
        now += timedelta(seconds=seconds if step_back else abs(seconds))
        if what == "record":
            tally.record(number, now, VERDICTS[verdict])
            latest[number] = (now, VERDICTS[verdict])
        elif what == "forget":
            tally.forget(number)
            latest.pop(number, None)
        window = rules.poll_interval * SWEEP_SLACK
        down = [n for n, (at, v) in latest.items() if v is Verdict.DOWN and now - at <= window]
        assert tally.held(now) is mass_outage(latest, now, rules)
        assert tally.down_units(now) == down
        assert (tally.down, tally.recent) == (len(down), sum(1 for at, _ in latest.values() if now - at <= window))


def test_the_tally_in_a_large_fleet_stays_exact_as_checks_age_out() -> None:
    """A sweep of 1,000 units, 400 down: held; as the downs age out of the window and ups arrive, it lifts."""
    rules, tally, latest = DEFAULTS, OutageTally(DEFAULTS), {}
    for i in range(1000):
        at, verdict = NOW + timedelta(milliseconds=60 * i), Verdict.DOWN if i < 400 else Verdict.UP
        tally.record(f"{i:04d}", at, verdict)
        latest[f"{i:04d}"] = (at, verdict)
    assert tally.held(NOW + timedelta(seconds=60)) is mass_outage(latest, NOW + timedelta(seconds=60), rules) is True
    later = NOW + timedelta(seconds=105)  # the first ~250 checks are older than 1.5 poll intervals
    assert (tally.down, tally.recent) == (400, 1000)
    assert tally.held(later) is mass_outage(latest, later, rules) is False
    assert tally.down == 150
    assert tally.down == sum(
        1 for at, v in latest.values() if v is Verdict.DOWN and later - at <= timedelta(seconds=90)
    )


@settings(max_examples=200, deadline=None)
@given(
    starts=st.lists(st.integers(-7200, 90_000), max_size=40),
    asks=st.lists(st.integers(-3600, 100_000), max_size=20),
    restored=st.lists(st.integers(-90_000, 0), max_size=10),
)
def test_the_fleet_cycle_count_agrees_with_within(starts: list[int], asks: list[int], restored: list[int]) -> None:
    """The fleet's hourly cap counts the same cycles as `within(cycles, now, HOUR)` did."""
    cycles, reference = FleetCycles(), [NOW + timedelta(seconds=s) for s in restored]
    cycles.restore(tuple(reference))
    for start in sorted(starts):
        at = NOW + timedelta(seconds=start)
        cycles.started(at)
        reference = [*within(reference, at, DAY), at]
        for ask in asks:
            when = NOW + timedelta(seconds=ask)
            assert cycles.last_hour(when) == len(within(reference, when, HOUR))
