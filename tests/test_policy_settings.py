"""The `[monitor]` settings an operator writes in pbxwatch.toml reach the watchdog's decisions.

Each row sets one knob away from its default in a real config file, builds the policy the monitor
builds (`Policy.from_settings`), and checks the decision the operator expects from that knob.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pbxwatch.config import load
from pbxwatch.domain.flap import FlapPolicy
from pbxwatch.domain.policy import FleetView, Policy
from pbxwatch.domain.state import AwaitSweep, CheckRelay, Hold, OutageConfirmed, UnitState, WatchedUnit
from pbxwatch.domain.verdicts import CheckResult
from pbxwatch.domain.vocabulary import LiveStatus, Reason
from pbxwatch.domain.watchdog import decide, relay_checked

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
UNIT = WatchedUnit("100", "127.0.1.1", auto_cycle=True, device_id="dev1")
DOWN = CheckResult.of(Reason.ASTERISK_NOT_RUNNING)
# The first failed check a full sweep ago: the mass-outage guard has seen the fleet since (docs/design.md §4.2).
ONE_DOWN = UnitState(last_status=LiveStatus.OFFLINE, failure_counter=1, outage_since=T0 - 90 * S)
CONFIRMED = replace(ONE_DOWN, failure_counter=3, confirmed=True)


def policy_from(tmp_path: Path, toml: str) -> Policy:
    path = tmp_path / "pbxwatch.toml"
    path.write_text(f"[monitor]\n{toml}\n", encoding="utf-8")
    return Policy.from_settings(load(path, environ={}).settings.monitor)


def words(actions: tuple[object, ...]) -> list[str]:
    return [type(a).__name__ for a in actions]


@dataclass(frozen=True)
class Row:
    sentence: str
    toml: str
    state: UnitState
    expected: list[str]
    fleet: FleetView = field(default_factory=FleetView)


ROWS = [
    Row(
        "failure_threshold = 2: the second down confirms the outage and asks the relay",
        "failure_threshold = 2",
        ONE_DOWN,
        ["OutageConfirmed", "CheckRelay"],
    ),
    Row(
        "failure_threshold = 5: the third down confirms nothing yet",
        "failure_threshold = 5",
        replace(ONE_DOWN, failure_counter=2),
        [],
    ),
    Row(
        "relay_recheck_interval = 30: an offline relay seen 60 s ago is asked again",
        "relay_recheck_interval = 30",
        replace(CONFIRMED, relay_offline_at=T0 - 60 * S),
        ["CheckRelay"],
    ),
    Row(
        "max_cycles_per_unit_per_day = 1: one cycle today holds the next",
        "max_cycles_per_unit_per_day = 1",
        replace(ONE_DOWN, failure_counter=2, cycles=(T0 - 3600 * S,)),
        ["OutageConfirmed", "Hold"],
    ),
    Row(
        "max_auto_cycles_per_hour = 2: two fleet cycles this hour hold the next",
        "max_auto_cycles_per_hour = 2",
        replace(ONE_DOWN, failure_counter=2),
        ["OutageConfirmed", "Hold"],
        fleet=FleetView(auto_cycles_last_hour=2),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.sentence for r in ROWS])
def test_a_monitor_setting_changes_the_decision(row: Row, tmp_path: Path) -> None:
    policy = policy_from(tmp_path, row.toml)
    decision = decide(UNIT, row.state, DOWN, now=T0, policy=policy, fleet=row.fleet)
    assert words(decision.actions) == row.expected


def test_boot_grace_from_the_file_decides_whether_a_down_is_counted(tmp_path: Path) -> None:
    cycled = replace(CONFIRMED, action_done=True, cycle_at=T0 - 400 * S)
    long_grace = decide(UNIT, cycled, DOWN, now=T0, policy=policy_from(tmp_path, "boot_grace = 600"), fleet=FleetView())
    short_grace = decide(UNIT, cycled, DOWN, now=T0, policy=policy_from(tmp_path, "boot_grace = 60"), fleet=FleetView())
    assert long_grace.live is not None and short_grace.live is not None
    assert (long_grace.state.failure_counter, long_grace.live.error_message) == (3, "asterisk_not_running (boot grace)")
    assert (short_grace.state.failure_counter, short_grace.live.error_message) == (4, "asterisk_not_running")


def test_dry_run_and_the_mass_outage_knobs_come_from_the_file(tmp_path: Path) -> None:
    policy = policy_from(
        tmp_path, "dry_run = true\nmass_outage_percent = 50\nmass_outage_min_units = 2\npoll_interval = 20"
    )
    held = relay_checked(UNIT, CONFIRMED, True, T0, policy)
    assert [(type(a), getattr(a, "kind", None)) for a in held.actions] == [(Hold, "dry_run")]
    assert (policy.mass_outage_percent, policy.mass_outage_min_units, policy.poll_interval) == (50.0, 2, 20 * S)


def test_the_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    assert policy_from(tmp_path, "") == Policy(flap=FlapPolicy())  # a bare Policy() has the flap rule off
    confirmed = decide(UNIT, replace(ONE_DOWN, failure_counter=2), DOWN, now=T0, policy=Policy(), fleet=FleetView())
    assert [type(a) for a in confirmed.actions] == [OutageConfirmed, CheckRelay]
    # the third failure two retries (30 s) after the first: the guard's sweep (1.5 x 60 s) is not over yet
    early = replace(ONE_DOWN, failure_counter=2, outage_since=T0 - 30 * S)
    waited = decide(UNIT, early, DOWN, now=T0, policy=Policy(), fleet=FleetView())
    assert waited.actions[1:] == (AwaitSweep(T0 + 60 * S),)


def test_every_monitor_knob_in_the_file_reaches_the_policy(tmp_path: Path) -> None:
    policy = policy_from(
        tmp_path,
        "failure_threshold = 4\npoll_interval = 61\nretry_interval = 16\nboot_grace = 301\n"
        "relay_recheck_interval = 302\nmass_outage_percent = 31\nmass_outage_min_units = 6\n"
        "max_cycles_per_unit_per_day = 4\nmax_auto_cycles_per_hour = 21\ndry_run = true",
    )
    assert policy == Policy(
        failure_threshold=4,
        poll_interval=61 * S,
        retry_interval=16 * S,
        boot_grace=301 * S,
        relay_recheck_interval=302 * S,
        mass_outage_percent=31.0,
        mass_outage_min_units=6,
        max_cycles_per_unit_per_day=4,
        max_auto_cycles_per_hour=21,
        dry_run=True,
        flap=FlapPolicy(),
    )
