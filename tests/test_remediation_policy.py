"""The decision core of maintenance windows, the flap hold and the soft restart ladder: one table per
policy, each row a sentence (what the unit went through -> what the watchdog does)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pbxwatch.domain.flap import FlapHeld, FlapMemory, FlapPolicy, FlapReleased, assess
from pbxwatch.domain.maintenance import (
    Occurrence,
    Weekly,
    Window,
    WindowError,
    active_for,
    parse_duration,
    parse_weekly,
)
from pbxwatch.domain.maintenance_request import parse_until
from pbxwatch.domain.policy import FleetView, Policy
from pbxwatch.domain.state import (
    Action,
    CheckRelay,
    Hold,
    MaintenanceEnded,
    MaintenanceStarted,
    OutageConfirmed,
    Recovered,
    SoftRestart,
    UnitState,
    WatchedUnit,
)
from pbxwatch.domain.verdicts import CheckResult
from pbxwatch.domain.vocabulary import LiveStatus, Reason
from pbxwatch.domain.watchdog import decide, maintenance_began, maintenance_ended, relay_checked, soft_restarted

T0 = datetime(2026, 12, 6, 2, 30, tzinfo=UTC)  # a Sunday
S, H = timedelta(seconds=1), timedelta(hours=1)
FLAP = FlapPolicy()  # the defaults: 3 outages or 2 cycles in 6 h, > 30 % of the last 20 checks, stable 1 h
POLICY = Policy(flap=FLAP)
RESTART = "sudo -n systemctl restart asterisk"
AUTO = WatchedUnit("100", "127.0.1.1", auto_cycle=True, device_id="dev1")
LADDER = replace(AUTO, restart_command=RESTART)
MANUAL = replace(LADDER, auto_cycle=False)

UP = CheckResult.of(Reason.OK, uptime_seconds=86_400)
DEAD = CheckResult.of(Reason.ASTERISK_NOT_RUNNING, "no asterisk process")
HUNG = CheckResult.of(Reason.CLI_HUNG, "asterisk -rx did not answer")
REFUSED = CheckResult.of(Reason.CONNECT_REFUSED, "connection refused")
TWO_DOWN = UnitState(last_status=LiveStatus.OFFLINE, failure_counter=2, outage_since=T0 - 30 * S)
CONFIRMED = replace(TWO_DOWN, failure_counter=3, confirmed=True)
WINDOW = Window(7, "100", "disk replacement", "ivanov", starts_at=T0 - H, ends_at=T0 + H)
IN_WINDOW = Occurrence(WINDOW, T0 - H, T0 + H)


def words(actions: tuple[Action, ...]) -> tuple[str, ...]:
    """Actions as short words, so a row reads as what the monitor will do."""
    out = []
    for action in actions:
        match action:
            case OutageConfirmed(counter, _):
                out.append(f"on→off at {counter}")
            case Recovered():
                out.append("off→on")
            case Hold(kind, _):
                out.append(f"hold {kind.value}")
            case CheckRelay():
                out.append("ask relay")
            case SoftRestart(command):
                out.append(f"restart `{command}`")
            case FlapHeld():
                out.append("held: unstable")
            case FlapReleased():
                out.append("flap hold over")
            case MaintenanceStarted():
                out.append("maintenance_start")
            case MaintenanceEnded(_, still_down):
                out.append(f"maintenance_end{' (still down)' if still_down else ''}")
            case _:
                out.append(type(action).__name__)
    return tuple(out)


# ---- maintenance windows ------------------------------------------------------------------------


@dataclass(frozen=True)
class MaintenanceCase:
    name: str
    unit: WatchedUnit
    state: UnitState
    check: CheckResult
    actions: tuple[str, ...]
    counter: int | None = None  # the live row's failure_counter (None: left unchanged)


MAINTENANCE = [
    MaintenanceCase(
        "a unit in maintenance that goes down is recorded offline but never confirmed",
        LADDER,
        replace(TWO_DOWN, maintenance=IN_WINDOW),
        DEAD,
        (),
    ),
    MaintenanceCase(
        "a confirmed outage in maintenance asks for neither a restart nor the relay",
        LADDER,
        replace(CONFIRMED, maintenance=IN_WINDOW),
        DEAD,
        (),
    ),
    MaintenanceCase(
        "a unit in maintenance that comes back is recovered as usual",
        LADDER,
        replace(CONFIRMED, maintenance=IN_WINDOW),
        UP,
        ("off→on",),
        0,
    ),
    MaintenanceCase(
        "the same outage outside a window is confirmed and restarted",
        LADDER,
        TWO_DOWN,
        DEAD,
        ("on→off at 3", f"restart `{RESTART}`"),
        3,
    ),
]


@pytest.mark.parametrize("case", MAINTENANCE, ids=[c.name for c in MAINTENANCE])
def test_maintenance_table(case: MaintenanceCase) -> None:
    decision = decide(case.unit, case.state, case.check, now=T0, policy=POLICY, fleet=FleetView())
    assert words(decision.actions) == case.actions
    assert decision.live is not None
    assert decision.live.failure_counter == case.counter
    expected = LiveStatus.ONLINE if case.check is UP else LiveStatus.OFFLINE
    assert decision.live.last_status is expected


def test_a_relay_answer_that_arrives_in_a_window_starts_no_cycle() -> None:
    decision = relay_checked(AUTO, replace(CONFIRMED, maintenance=IN_WINDOW), True, T0, POLICY)
    assert decision.actions == ()


def test_a_unit_still_down_when_its_window_ends_is_a_new_outage_from_then_on() -> None:
    began = maintenance_began(replace(TWO_DOWN, action_done=True), IN_WINDOW)
    assert words(began.actions) == ("maintenance_start",)
    ended = maintenance_ended(replace(began.state, confirmed=True, failure_counter=3), T0 + H)
    assert words(ended.actions) == ("maintenance_end (still down)",)
    assert ended.live is not None and ended.live.failure_counter == 0 and ended.live.reset_action_done
    state, seen = ended.state, []
    for i in range(3):
        decision = decide(LADDER, state, DEAD, now=T0 + H + i * 15 * S, policy=POLICY, fleet=FleetView())
        state, seen = decision.state, [*seen, *words(decision.actions)]
    assert seen == ["on→off at 3", f"restart `{RESTART}`"]


def test_a_unit_up_when_its_window_ends_just_leaves_it() -> None:
    ended = maintenance_ended(UnitState(last_status=LiveStatus.ONLINE, maintenance=IN_WINDOW), T0 + H)
    assert words(ended.actions) == ("maintenance_end",)
    assert ended.state.maintenance is None and ended.live is None


MOSCOW = ZoneInfo("Europe/Moscow")  # UTC+3
WEEKLY = Window(1, None, "backups", "ops", weekly=Weekly(6, time(2, 0), time(4, 0)))  # sun 02:00-04:00
OVERNIGHT = Window(2, "100", "upgrade", "ops", weekly=Weekly(5, time(23, 0), time(1, 0)))  # sat 23:00-01:00


@pytest.mark.parametrize(
    ("name", "window", "now", "zone", "running"),
    [
        ("a one-off window runs from its start", WINDOW, T0 - H, UTC, True),
        ("a one-off window is over at its end", WINDOW, T0 + H, UTC, False),
        ("a one-off window ended early by an operator is over", replace(WINDOW, ended_at=T0 - S), T0, UTC, False),
        (
            "a weekly window runs on its day in the configured zone",
            WEEKLY,
            datetime(2026, 12, 5, 23, 30, tzinfo=UTC),
            MOSCOW,
            True,
        ),  # Sunday 02:30 in Moscow
        ("a weekly window is not running on Sunday 02:30 UTC when the zone is Moscow", WEEKLY, T0, MOSCOW, False),
        ("a weekly window runs on its day in UTC", WEEKLY, T0, UTC, True),
        ("a weekly window does not run on other days", WEEKLY, T0 + 24 * H, UTC, False),
        ("a weekly window past midnight still runs after midnight", OVERNIGHT, T0 - 2 * H, UTC, True),  # sun 00:30
        ("a weekly window past midnight is over at its end", OVERNIGHT, T0 - H, UTC, False),  # sun 01:30
    ],
)
def test_when_windows_run(name: str, window: Window, now: datetime, zone: ZoneInfo, running: bool) -> None:
    assert (window.occurrence(now, zone) is not None) is running


def test_fleet_wide_and_unit_windows_cover_the_right_units() -> None:
    windows = [WEEKLY, replace(WINDOW, unit_number="200")]
    assert active_for("999", windows, T0, UTC) is not None  # fleet-wide
    found = active_for("200", windows, T0, UTC)
    assert found is not None and found.window.id == WINDOW.id  # the one that started first
    assert active_for("999", [replace(WINDOW, unit_number="200")], T0, UTC) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", 2 * H),
        ("90m", 90 * 60 * S),
        ("1d", 24 * H),
        ("1h30m", 90 * 60 * S),
        ("1d 2h", 26 * H),
    ],
)
def test_durations_an_operator_types(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "2x", "0h", "-1h", "400d", "h"])
def test_durations_that_are_refused(text: str) -> None:
    with pytest.raises(WindowError):
        parse_duration(text)


@pytest.mark.parametrize(
    "text", ["sun 2-4", "sunday02:00-04:00", "xyz 02:00-04:00", "sun 25:00-04:00", "sun 02:00-02:00", "sun 02:00"]
)
def test_weekly_windows_that_are_refused(text: str) -> None:
    with pytest.raises(WindowError):
        parse_weekly(text)


def test_weekly_and_until_read_local_time() -> None:
    assert str(parse_weekly("Sunday 2:00-04:00")) == "sun 02:00-04:00"
    assert parse_until("2026-12-06 18:00", T0, MOSCOW) == datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
    assert parse_until("01:00", T0, UTC) == datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # the next 01:00
    assert parse_until("2026-12-06T18:00+00:00", T0, MOSCOW) == datetime(2026, 12, 6, 18, 0, tzinfo=UTC)


# ---- the flap hold ------------------------------------------------------------------------------


def ago(*hours: float) -> tuple[datetime, ...]:
    return tuple(T0 - timedelta(hours=h) for h in hours)


@dataclass(frozen=True)
class FlapCase:
    name: str
    memory: FlapMemory
    cycles: tuple[datetime, ...]
    outcome: str  # "held: ..." (the reason's start), "released", "" (nothing)


FLAPS = [
    FlapCase(
        "three confirmed outages in six hours put the unit on hold",
        FlapMemory(outages=ago(5, 3, 0)),
        (),
        "held: unstable, needs a human: 3 confirmed outages in 6 h",
    ),
    FlapCase("two confirmed outages in six hours are not enough", FlapMemory(outages=ago(5, 0)), (), ""),
    FlapCase("an outage older than the window does not count", FlapMemory(outages=ago(7, 3, 0)), (), ""),
    FlapCase(
        "two automatic power-cycles in six hours put the unit on hold",
        FlapMemory(),
        ago(4, 1),
        "held: unstable, needs a human: 2 automatic power-cycles in 6 h",
    ),
    FlapCase("one power-cycle in six hours is not enough", FlapMemory(), ago(8, 1), ""),
    FlapCase(
        "outages before the last rearm do not count", FlapMemory(outages=ago(5, 3, 0), counted_since=T0 - 4 * H), (), ""
    ),
    FlapCase(
        "seven failed checks of the last twenty (35 %) put the unit on hold",
        FlapMemory(checks=(True,) * 7 + (False,) * 13),
        (),
        "held: unstable, needs a human: 7 of the last 20 checks failed",
    ),
    FlapCase(
        "six failed checks of the last twenty (30 %) are not more than 30 %",
        FlapMemory(checks=(True,) * 6 + (False,) * 14),
        (),
        "",
    ),
    FlapCase("fewer than twenty checks are not judged yet", FlapMemory(checks=(True,) * 10), (), ""),
    FlapCase(
        "a held unit stable for an hour is released",
        FlapMemory(held_since=T0 - 2 * H, last_failure_at=T0 - 61 * 60 * S),
        (),
        "released",
    ),
    FlapCase(
        "a held unit that failed a check half an hour ago stays held",
        FlapMemory(held_since=T0 - 2 * H, last_failure_at=T0 - 30 * 60 * S),
        (),
        "",
    ),
    FlapCase(
        "a unit held ten minutes ago stays held even without failures",
        FlapMemory(held_since=T0 - 10 * 60 * S),
        ago(4, 1),
        "",
    ),
]


@pytest.mark.parametrize("case", FLAPS, ids=[c.name for c in FLAPS])
def test_flap_table(case: FlapCase) -> None:
    memory, event = assess(case.memory, case.cycles, T0, FLAP)
    match event:
        case FlapHeld(reason):
            assert case.outcome and reason.startswith(case.outcome.removeprefix("held: ")), reason
            assert memory.held_since == T0
        case FlapReleased():
            assert case.outcome == "released"
            assert memory == FlapMemory(counted_since=T0)
        case None:
            assert case.outcome == ""


def test_a_held_unit_is_neither_restarted_nor_cycled_and_the_hold_is_written_once() -> None:
    held = replace(TWO_DOWN, flap=FlapMemory(outages=ago(5, 3)))
    first = decide(LADDER, held, DEAD, now=T0, policy=POLICY, fleet=FleetView())
    assert words(first.actions) == ("on→off at 3", "held: unstable")
    again = decide(LADDER, first.state, DEAD, now=T0 + 15 * S, policy=POLICY, fleet=FleetView())
    assert words(again.actions) == ()
    assert relay_checked(LADDER, again.state, True, T0 + 20 * S, POLICY).actions == ()


def test_checks_in_maintenance_do_not_count_towards_the_flap_share() -> None:
    state = replace(TWO_DOWN, maintenance=IN_WINDOW)
    for i in range(30):
        state = decide(LADDER, state, DEAD, now=T0 + i * S, policy=POLICY, fleet=FleetView()).state
    assert state.flap.checks == () and not state.flap.held


def test_a_long_confirmed_outage_is_one_outage_not_a_failed_share() -> None:
    state = UnitState(last_status=LiveStatus.ONLINE, flap=FlapMemory(checks=(False,) * 19))
    for i in range(40):
        decision = decide(LADDER, state, DEAD, now=T0 + i * 15 * S, policy=POLICY, fleet=FleetView())
        state = decision.state
        assert not any(isinstance(a, FlapHeld) for a in decision.actions), i
    assert not any(state.flap.checks) and len(state.flap.outages) == 1  # no failure left in the share
    assert state.flap.last_failure_at == T0 + 39 * 15 * S  # a held unit still down is not "stable"


def test_blips_that_never_reach_the_threshold_fill_the_failed_share() -> None:
    state, held = UnitState(last_status=LiveStatus.ONLINE), []
    for i, check in enumerate([UP, DEAD, DEAD] * 7):  # two failed checks, then up again, seven times
        decision = decide(LADDER, state, check, now=T0 + i * 15 * S, policy=POLICY, fleet=FleetView())
        state, held = decision.state, [*held, *words(decision.actions)]
    assert "held: unstable" in held and "on→off at 3" not in held


def test_the_flap_memory_survives_a_recovery() -> None:
    state = replace(CONFIRMED, flap=FlapMemory(outages=ago(1)))
    up = decide(LADDER, state, UP, now=T0, policy=POLICY, fleet=FleetView())
    assert up.state.flap.outages == ago(1) and up.state.flap.checks == (False,)


# ---- the soft restart ladder --------------------------------------------------------------------


# Polled every 20 s, the mass-outage guard's sweep (30 s, docs/design.md §4.2) is over by the third failed check:
# the ladder's own timing decides when the relay comes.
LADDER_POLICY = replace(POLICY, poll_interval=20 * S)


def run_outage(
    unit: WatchedUnit, checks: list[CheckResult], *, restart_ok: bool | None = None, policy: Policy = LADDER_POLICY
) -> list[str]:
    """Checks 15 s apart from a healthy unit; after a soft restart, report it ran (`restart_ok`).

    Repeated "ask relay" in a row count once: the monitor runs one relay step per unit at a time."""
    state, seen = UnitState(last_status=LiveStatus.ONLINE), []
    for i, check in enumerate(checks):
        now = T0 + i * 15 * S
        decision = decide(unit, state, check, now=now, policy=policy, fleet=FleetView())
        state = decision.state
        seen.extend(w for w in words(decision.actions) if not (w == "ask relay" and seen[-1:] == [w]))
        if any(isinstance(a, SoftRestart) for a in decision.actions) and restart_ok is not None:
            state = soft_restarted(state, restart_ok, now + S, policy)
    return seen


LADDER_CASES = [
    (
        "a dead Asterisk on a reachable host is restarted, not power-cycled",
        LADDER,
        [DEAD] * 3,
        True,
        ["on→off at 3", f"restart `{RESTART}`"],
    ),
    ("a hung CLI is restarted too", LADDER, [HUNG] * 3, True, ["on→off at 3", f"restart `{RESTART}`"]),
    (
        "a restart that brings Asterisk back ends the outage",
        LADDER,
        [DEAD] * 3 + [UP],
        True,
        ["on→off at 3", f"restart `{RESTART}`", "off→on"],
    ),
    (
        "after a good restart the relay waits out the restart grace",
        LADDER,
        [DEAD] * 6,
        True,
        ["on→off at 3", f"restart `{RESTART}`"],
    ),
    (
        "still down after the grace, the ladder falls through to the relay",
        LADDER,
        [DEAD] * 7,
        True,
        ["on→off at 3", f"restart `{RESTART}`", "ask relay"],
    ),
    (
        "a restart that fails goes to the relay at the next failed check",
        LADDER,
        [DEAD] * 4,
        False,
        ["on→off at 3", f"restart `{RESTART}`", "ask relay"],
    ),
    (
        "there is never a second soft restart in one outage",
        LADDER,
        [DEAD] * 3 + [HUNG] * 6,
        False,
        ["on→off at 3", f"restart `{RESTART}`", "ask relay"],
    ),
    ("SSH down goes straight to the relay", LADDER, [REFUSED] * 3, None, ["on→off at 3", "ask relay"]),
    ("without a restart command the relay comes first", AUTO, [DEAD] * 3, None, ["on→off at 3", "ask relay"]),
    ("an enterprise without automatic action gets no restart either", MANUAL, [DEAD] * 4, None, ["on→off at 3"]),
]


@pytest.mark.parametrize(
    ("name", "unit", "checks", "restart_ok", "expected"), LADDER_CASES, ids=[c[0] for c in LADDER_CASES]
)
def test_ladder_table(
    name: str, unit: WatchedUnit, checks: list[CheckResult], restart_ok: bool | None, expected: list[str]
) -> None:
    # restart_grace 60 s, checks every 15 s: the 4th check after the restart is past the grace
    assert run_outage(unit, checks, restart_ok=restart_ok) == expected


def test_each_outage_gets_its_own_soft_restart() -> None:
    assert run_outage(LADDER, [DEAD] * 3 + [UP] + [DEAD] * 3, restart_ok=True) == [
        "on→off at 3",
        f"restart `{RESTART}`",
        "off→on",
        "on→off at 3",
        f"restart `{RESTART}`",
    ]
