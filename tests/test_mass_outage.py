"""The mass-outage guard, small and large fleets: it holds cycles only when at least
`mass_outage_min_units` units are *down* and they are more than `mass_outage_percent` of the units checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pbxwatch.domain.policy import Policy, mass_outage
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
    ("unknown units are checked but not down: 5 down of 5+12 unknown (29 %) is not", fleet(5, 0, 12), DEFAULTS,
     False),
    ("an empty fleet is never a mass outage", fleet(0, 0), policy(min_units=1), False),
]


@pytest.mark.parametrize(("sentence", "latest", "rules", "held"), CASES, ids=[c[0] for c in CASES])
def test_mass_outage_holds_only_when_enough_units_are_down(
    sentence: str, latest: dict[str, tuple[datetime, Verdict]], rules: Policy, held: bool
) -> None:
    assert mass_outage(latest, NOW, rules) is held, sentence
