"""The watchdog's decision table (docs/design.md §3 verdict table, §4): one case per rule, names read as sentences."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pbxwatch.domain.policy import FleetView, Policy, mass_outage
from pbxwatch.domain.state import (
    Action,
    AwaitSweep,
    BlipEnded,
    CheckRelay,
    CycleFailed,
    Decision,
    GraceEnded,
    Hold,
    OutageConfirmed,
    PowerCycle,
    Recovered,
    UnitState,
    WatchedUnit,
)
from pbxwatch.domain.verdicts import CheckResult
from pbxwatch.domain.vocabulary import ActionType, LiveStatus, Reason, Verdict
from pbxwatch.domain.watchdog import (
    cycle_claimed_elsewhere,
    cycle_failed,
    cycle_started,
    decide,
    flap_restored,
    operator_rearmed,
    relay_checked,
    relay_went_offline,
    soft_restart_restored,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
POLICY = Policy()
STATS = {"source": "sip", "total": 8, "ok": 4}

AUTO = WatchedUnit("100", "127.0.1.1", auto_cycle=True, device_id="dev1", outlet=None)
MANUAL = WatchedUnit("101", "127.0.1.2", auto_cycle=False, device_id="dev1")
NO_RELAY = WatchedUnit("102", "127.0.1.3", auto_cycle=True, device_id=None)

UP = CheckResult.of(Reason.OK, uptime_seconds=86_400, disk_usage_percent=42, line_stats=STATS)
DOWN = CheckResult.of(Reason.ASTERISK_NOT_RUNNING, "no asterisk process")
UNKNOWN = CheckResult.of(Reason.AUTH_FAILED, "permission denied (publickey)")

FRESH = UnitState(last_status=LiveStatus.ONLINE)
# The first failed check a full sweep ago (docs/design.md §4.2): the mass-outage guard has seen the whole fleet
# since, so a confirmed outage may go on to the relay. `EARLY` is the same outage before the sweep is over.
TWO_DOWN = UnitState(last_status=LiveStatus.OFFLINE, failure_counter=2, outage_since=T0 - 90 * S)
EARLY = replace(TWO_DOWN, outage_since=T0 - 30 * S)
CONFIRMED = replace(TWO_DOWN, failure_counter=3, confirmed=True)
CYCLED = replace(CONFIRMED, action_done=True, cycle_at=T0 - 60 * S, cycles=(T0 - 60 * S,))


# ---- steps: what happens to the unit ----------------------------------------------------------


@dataclass(frozen=True)
class Check:
    result: CheckResult
    fleet: FleetView = field(default_factory=FleetView)


@dataclass(frozen=True)
class RelayAnswer:
    online: bool


@dataclass(frozen=True)
class Started:
    pass


@dataclass(frozen=True)
class ClaimLost:
    pass


@dataclass(frozen=True)
class Failed:
    audit: bool


Step = Check | RelayAnswer | Started | ClaimLost | Failed


def run(unit: WatchedUnit, state: UnitState, step: Step, policy: Policy, now: datetime = T0) -> Decision:
    match step:
        case Check(result, fleet):
            return decide(unit, state, result, now=now, policy=policy, fleet=fleet)
        case RelayAnswer(online):
            return relay_checked(unit, state, online, now, policy)
        case Started():
            return Decision(cycle_started(state, now))
        case ClaimLost():
            return Decision(cycle_claimed_elsewhere(state))
        case Failed(audit):
            return cycle_failed(unit, state, now, policy, reason="connection refused", audit=audit)
    raise AssertionError(step)


def summary(action: Action) -> str:
    """Actions as short words, so the table reads as what the monitor will do."""
    match action:
        case OutageConfirmed(counter, _):
            return f"on→off at {counter}"
        case Recovered():
            return "off→on"
        case BlipEnded(failures):
            return f"blip of {failures}"
        case Hold(kind, _):
            return f"hold {kind.value}"
        case CheckRelay(device_id):
            return f"ask relay {device_id}"
        case PowerCycle(device_id, _, key):
            return f"cycle {device_id} key {key}"
        case CycleFailed(device_id, _):
            return f"fail row {device_id}"
        case GraceEnded(uptime):
            return f"grace ended at uptime {uptime}"
        case AwaitSweep(until):
            return f"wait for the sweep until +{(until - T0).total_seconds():g}s"
    raise AssertionError(action)


@dataclass(frozen=True)
class Case:
    name: str
    unit: WatchedUnit
    state: UnitState
    step: Step
    actions: tuple[str, ...] = ()
    state_after: dict[str, Any] = field(default_factory=dict)
    live: dict[str, Any] | None = None  # expected LiveWrite fields (a check always writes one)
    policy: Policy = POLICY


def mass(*, on: bool = True) -> FleetView:
    return FleetView(mass_outage=on)


CASES = [
    # -- docs/design.md §3: what each verdict writes ---------------------------------------------------------
    Case(
        "an up verdict writes online, a zero counter, no error, and fresh disk and peers",
        AUTO,
        FRESH,
        Check(UP),
        live={
            "last_status": LiveStatus.ONLINE,
            "failure_counter": 0,
            "error_message": None,
            "metrics.disk_usage_percent": 42,
            "metrics.sip_peers": 8,
            "reset_action_done": True,
        },
    ),
    Case(
        "a first down counts one failure, keeps disk and peers, and writes no history row",
        AUTO,
        FRESH,
        Check(DOWN),
        state_after={"failure_counter": 1, "outage_since": T0, "confirmed": False},
        live={
            "last_status": LiveStatus.OFFLINE,
            "failure_counter": 1,
            "error_message": "asterisk_not_running: no asterisk process",
            "metrics": None,
        },
    ),
    Case(
        "an unknown verdict changes neither status nor counter but records its reason",
        AUTO,
        TWO_DOWN,
        Check(UNKNOWN),
        state_after={"failure_counter": 2, "last_status": LiveStatus.OFFLINE},
        live={
            "last_status": None,
            "failure_counter": None,
            "metrics": None,
            "error_message": "auth_failed: permission denied (publickey)",
        },
    ),
    Case(
        "an unknown verdict does not end a confirmed outage",
        AUTO,
        CONFIRMED,
        Check(UNKNOWN),
        state_after={"confirmed": True, "failure_counter": 3},
    ),
    # -- §4 counting and confirmation ------------------------------------------------------------
    Case(
        "a down below the threshold keeps counting without a row",
        AUTO,
        replace(TWO_DOWN, failure_counter=1),
        Check(DOWN),
        state_after={"failure_counter": 2},
    ),
    Case(
        "the down that reaches the threshold confirms the outage and asks the relay's online flag",
        AUTO,
        TWO_DOWN,
        Check(DOWN),
        ("on→off at 3", "ask relay dev1"),
        state_after={"confirmed": True, "failure_counter": 3},
    ),
    Case(
        "reaching the threshold before a full sweep since the first failed check confirms, and waits",
        AUTO,
        EARLY,
        Check(DOWN),
        ("on→off at 3", "wait for the sweep until +60s"),
        state_after={"confirmed": True, "failure_counter": 3, "sweep_awaited": True, "action_done": False},
        live={"last_status": LiveStatus.OFFLINE, "failure_counter": 3},
    ),
    Case(
        "the wait for the sweep is told once per outage; the next down just counts",
        AUTO,
        replace(EARLY, failure_counter=3, confirmed=True, sweep_awaited=True),
        Check(DOWN),
        state_after={"failure_counter": 4, "action_done": False},
    ),
    Case(
        "once the sweep is over, the next down asks the relay",
        AUTO,
        replace(TWO_DOWN, failure_counter=3, confirmed=True, sweep_awaited=True),
        Check(DOWN),
        ("ask relay dev1",),
    ),
    Case(
        "the sweep counts from the guard's first check too: after a monitor restart an old outage waits",
        AUTO,
        CONFIRMED,
        Check(DOWN, FleetView(watching_since=T0 - 15 * S)),
        ("wait for the sweep until +75s",),
    ),
    Case(
        "parameter_option_2 false: the outage is confirmed and recorded, nothing is switched",
        MANUAL,
        TWO_DOWN,
        Check(DOWN),
        ("on→off at 3",),
        state_after={"confirmed": True},
    ),
    Case(
        "parameter_option_2 false: later downs of the same outage do nothing more",
        MANUAL,
        CONFIRMED,
        Check(DOWN),
        state_after={"failure_counter": 4},
    ),
    Case(
        "no relay configured: the confirmation holds skipped_no_relay",
        NO_RELAY,
        TWO_DOWN,
        Check(DOWN),
        ("on→off at 3", "hold skipped_no_relay"),
        state_after={"holds": frozenset({ActionType.SKIPPED_NO_RELAY})},
    ),
    Case(
        "no relay configured: the hold is written once per outage",
        NO_RELAY,
        replace(CONFIRMED, holds=frozenset({ActionType.SKIPPED_NO_RELAY})),
        Check(DOWN),
    ),
    Case(
        "a custom threshold of 5 does not confirm at 3",
        AUTO,
        TWO_DOWN,
        Check(DOWN),
        policy=replace(POLICY, failure_threshold=5),
    ),
    # -- the relay cross-check and the claim -----------------------------------------------------
    Case(
        "the relay is online: power-cycle with one idempotency key for this outage",
        AUTO,
        CONFIRMED,
        RelayAnswer(online=True),
        ("cycle dev1 key auto-100-20260101T115830",),
    ),
    Case(
        "the relay is offline: skipped_relay_offline and the re-check timer starts",
        AUTO,
        CONFIRMED,
        RelayAnswer(online=False),
        ("hold skipped_relay_offline",),
        state_after={"relay_offline_at": T0, "action_done": False},
    ),
    Case(
        "the relay is still offline at the re-check: no second row",
        AUTO,
        replace(CONFIRMED, holds=frozenset({ActionType.SKIPPED_RELAY_OFFLINE}), relay_offline_at=T0 - 300 * S),
        RelayAnswer(online=False),
        state_after={"relay_offline_at": T0},
    ),
    Case(
        "while the relay re-check interval runs, downs do not ask the relay again",
        AUTO,
        replace(CONFIRMED, relay_offline_at=T0 - 60 * S),
        Check(DOWN),
    ),
    Case(
        "once the re-check interval has passed, a down asks the relay again",
        AUTO,
        replace(CONFIRMED, relay_offline_at=T0 - 300 * S),
        Check(DOWN),
        ("ask relay dev1",),
    ),
    Case(
        "the relay came back while the PBX is still down: it is cycled",
        AUTO,
        replace(CONFIRMED, relay_offline_at=T0 - 300 * S),
        RelayAnswer(online=True),
        ("cycle dev1 key auto-100-20260101T115830",),
        state_after={"relay_offline_at": None},
    ),
    Case("a relay answer arriving after the PBX recovered is ignored", AUTO, FRESH, RelayAnswer(online=True)),
    Case(
        "the claim succeeded: ewelink_action_done is set and boot grace starts",
        AUTO,
        CONFIRMED,
        Started(),
        state_after={"action_done": True, "cycle_at": T0, "cycles": (T0,)},
    ),
    Case(
        "the claim touched no row: another monitor owns the cycle",
        AUTO,
        CONFIRMED,
        ClaimLost(),
        state_after={"action_done": True, "cycle_at": None},
    ),
    Case(
        "ewelink_action_done already true: at most one automatic cycle per outage",
        AUTO,
        replace(CYCLED, cycle_at=T0 - 400 * S),
        Check(DOWN),
        state_after={"failure_counter": 4},
    ),
    Case(
        "rearmed by the operator while still down: the next down asks the relay again",
        AUTO,
        replace(CYCLED, action_done=False, cycle_at=T0 - 400 * S),
        Check(DOWN),
        ("ask relay dev1",),
    ),
    # -- the relay service failing us ------------------------------------------------------------
    Case(
        "the relay service is unreachable: one fail row, the claim released, a back-off",
        AUTO,
        replace(CONFIRMED, action_done=True),
        Failed(audit=True),
        ("fail row dev1",),
        state_after={"action_done": False, "retry_cycle_at": T0 + 300 * S, "cycle_failure_audited": True},
    ),
    Case(
        "the relay service unreachable again in the same outage: no second fail row",
        AUTO,
        replace(CONFIRMED, cycle_failure_audited=True),
        Failed(audit=True),
        state_after={"retry_cycle_at": T0 + 300 * S},
    ),
    Case(
        "a failure the relay service audited itself writes no row here",
        AUTO,
        CONFIRMED,
        Failed(audit=False),
        state_after={"retry_cycle_at": T0 + 300 * S},
    ),
    Case(
        "during the back-off, downs do not ask the relay",
        AUTO,
        replace(CONFIRMED, retry_cycle_at=T0 + 10 * S),
        Check(DOWN),
    ),
    # -- recovery --------------------------------------------------------------------------------
    Case(
        "the first up after a confirmed outage writes off→on and resets ewelink_action_done",
        AUTO,
        replace(CYCLED, cycle_at=T0 - 400 * S, holds=frozenset({ActionType.SKIPPED_RELAY_OFFLINE})),
        Check(UP),
        ("off→on",),
        state_after={
            "confirmed": False,
            "action_done": False,
            "failure_counter": 0,
            "holds": frozenset(),
            "outage_since": None,
        },
        live={"last_status": LiveStatus.ONLINE, "failure_counter": 0, "reset_action_done": True},
    ),
    Case(
        "a blip that ends before confirmation writes no row, only a blip count",
        AUTO,
        TWO_DOWN,
        Check(UP),
        ("blip of 2",),
        state_after={"failure_counter": 0},
    ),
    # -- boot grace ------------------------------------------------------------------------------
    Case(
        "during boot grace a down does not count",
        AUTO,
        CYCLED,
        Check(DOWN),
        state_after={"failure_counter": 3},
        live={
            "last_status": LiveStatus.OFFLINE,
            "failure_counter": None,
            "error_message": "asterisk_not_running: no asterisk process (boot grace)",
        },
    ),
    Case(
        "after boot grace, downs count again but the outage is not cycled twice",
        AUTO,
        replace(CYCLED, cycle_at=T0 - 301 * S),
        Check(DOWN),
        state_after={"failure_counter": 4},
    ),
    Case(
        "a fresh uptime ends boot grace early and recovers the outage",
        AUTO,
        CYCLED,
        Check(CheckResult.of(Reason.OK, uptime_seconds=30)),
        ("grace ended at uptime 30", "off→on"),
        state_after={"cycle_at": None},
    ),
    Case(
        "an uptime older than the cycle keeps boot grace running",
        AUTO,
        CYCLED,
        Check(UP),
        ("off→on",),
        state_after={"cycle_at": T0 - 60 * S},
    ),
    # -- mass outage -----------------------------------------------------------------------------
    Case(
        "in a mass outage a down counts as unknown and holds skipped_mass_outage",
        AUTO,
        TWO_DOWN,
        Check(DOWN, mass()),
        ("hold skipped_mass_outage",),
        state_after={"failure_counter": 2, "confirmed": False},
        live={
            "last_status": None,
            "failure_counter": None,
            "error_message": "mass_outage: asterisk_not_running: no asterisk process",
        },
    ),
    Case(
        "in a mass outage an up unit that goes down is held too, without counting",
        AUTO,
        FRESH,
        Check(DOWN, mass()),
        ("hold skipped_mass_outage",),
        state_after={"failure_counter": 0, "outage_since": T0, "last_status": LiveStatus.ONLINE},
    ),
    Case(
        "the mass-outage hold is written once per unit and outage",
        AUTO,
        replace(TWO_DOWN, holds=frozenset({ActionType.SKIPPED_MASS_OUTAGE})),
        Check(DOWN, mass()),
    ),
    Case(
        "when the mass outage lifts, counting resumes and the unit is cycled normally",
        AUTO,
        replace(TWO_DOWN, holds=frozenset({ActionType.SKIPPED_MASS_OUTAGE})),
        Check(DOWN, mass(on=False)),
        ("on→off at 3", "ask relay dev1"),
    ),
    # -- caps ------------------------------------------------------------------------------------
    Case(
        "the unit's daily cap holds skipped_daily_cap",
        AUTO,
        replace(TWO_DOWN, cycles=(T0 - 3600 * S, T0 - 7200 * S, T0 - 9000 * S)),
        Check(DOWN),
        ("on→off at 3", "hold skipped_daily_cap"),
    ),
    Case(
        "cycles older than a day do not count against the daily cap",
        AUTO,
        replace(TWO_DOWN, cycles=(T0 - 90_000 * S,) * 3),
        Check(DOWN),
        ("on→off at 3", "ask relay dev1"),
    ),
    Case(
        "the fleet's hourly cap holds skipped_daily_cap",
        AUTO,
        TWO_DOWN,
        Check(DOWN, FleetView(auto_cycles_last_hour=20)),
        ("on→off at 3", "hold skipped_daily_cap"),
    ),
    # -- dry run ---------------------------------------------------------------------------------
    Case(
        "dry run records dry_run instead of cycling",
        AUTO,
        CONFIRMED,
        RelayAnswer(online=True),
        ("hold dry_run",),
        policy=replace(POLICY, dry_run=True),
        state_after={"action_done": False},
    ),
    Case(
        "dry run already recorded in this outage: no more relay look-ups",
        AUTO,
        replace(CONFIRMED, holds=frozenset({ActionType.DRY_RUN})),
        Check(DOWN),
        policy=replace(POLICY, dry_run=True),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decision_table(case: Case) -> None:
    decision = run(case.unit, case.state, case.step, case.policy)
    assert tuple(summary(a) for a in decision.actions) == case.actions
    for name, expected in case.state_after.items():
        assert getattr(decision.state, name) == expected, name
    if not isinstance(case.step, Check):
        assert decision.live is None  # relay answers and claim results write no live row
        return
    assert decision.live is not None  # every check writes the live row
    assert decision.live.checked_at == T0
    for path, expected in (case.live or {}).items():
        value: Any = decision.live
        for part in path.split("."):
            value = getattr(value, part)
        assert value == expected, path


def test_every_check_writes_the_live_row() -> None:
    for result in (UP, DOWN, UNKNOWN):
        decision = decide(AUTO, TWO_DOWN, result, now=T0, policy=POLICY, fleet=FleetView())
        assert decision.live is not None
        assert decision.live.checked_at == T0


def test_a_whole_outage_in_sequence() -> None:
    """Downs until a sweep has passed, an online relay, a cycle, a booting PBX, then a fresh uptime: the rows of
    docs/design.md §4."""
    state, seen = FRESH, []
    steps = [
        (0, Check(DOWN)),
        (15, Check(DOWN)),
        (30, Check(DOWN)),
        (45, Check(DOWN)),
        (60, Check(DOWN)),
        (75, Check(DOWN)),
        (90, Check(DOWN)),
        (90, RelayAnswer(online=True)),
        (90, Started()),
        (105, Check(DOWN)),
        (150, Check(CheckResult.of(Reason.OK, uptime_seconds=5))),
    ]
    for at, step in steps:
        decision = run(AUTO, state, step, POLICY, now=T0 + at * S)
        state = decision.state
        seen.extend(summary(a) for a in decision.actions)
    # the mass-outage guard sees the whole fleet once (a sweep, 90 s) after the first failed check
    assert seen == [
        "on→off at 3",
        "wait for the sweep until +90s",
        "ask relay dev1",
        "cycle dev1 key auto-100-20260101T120000",
        "grace ended at uptime 5",
        "off→on",
    ]
    assert state == UnitState(last_status=LiveStatus.ONLINE, cycles=(T0 + 90 * S,))


# ---- the mass-outage share (docs/design.md §4) -------------------------------------------------------------


def fleet_of(down: int, up: int, *, age: timedelta = 10 * S) -> dict[str, tuple[datetime, Verdict]]:
    verdicts = [Verdict.DOWN] * down + [Verdict.UP] * up
    return {str(i): (T0 - age, v) for i, v in enumerate(verdicts)}


@pytest.mark.parametrize(
    ("name", "latest", "expected"),
    [
        ("6 of 10 down is more than 30 %: a mass outage", fleet_of(6, 4), True),
        ("3 of 10 down is exactly 30 %: not more", fleet_of(3, 7), False),
        ("4 of 4 down is under mass_outage_min_units down: not a mass outage", fleet_of(4, 0), False),
        ("checks older than the last sweep do not count", fleet_of(6, 4, age=91 * S), False),
        ("a check a little over one poll_interval old is still in the last sweep", fleet_of(6, 4, age=70 * S), True),
        (
            "unknown verdicts are checked units but not down ones",
            {
                **fleet_of(2, 0),
                "a": (T0, Verdict.UNKNOWN),
                "b": (T0, Verdict.UNKNOWN),
                "c": (T0, Verdict.UP),
                "d": (T0, Verdict.UP),
                "e": (T0, Verdict.UP),
            },
            False,
        ),
    ],
)
def test_mass_outage_share(name: str, latest: dict[str, tuple[datetime, Verdict]], expected: bool) -> None:
    assert mass_outage(latest, T0, POLICY) is expected, name


@pytest.mark.parametrize(
    ("name", "status", "counter", "confirmed"),
    [
        ("offline with the counter exactly at the threshold is a confirmed outage", "offline", 3, True),
        ("offline with the counter above the threshold is a confirmed outage", "offline", 4, True),
        ("offline with the counter one below the threshold is still counting", "offline", 2, False),
        ("online with a stale counter is no outage", "online", 5, False),
        ("no row yet is no outage", None, None, False),
    ],
)
def test_a_restart_restores_the_outage_from_the_stored_row(
    name: str, status: str | None, counter: int | None, confirmed: bool
) -> None:
    state = UnitState.restored(
        last_status=status,
        failure_counter=counter,
        action_done=True,
        threshold=3,
        outage_since=T0,
        cycles=(T0 - 60 * S,),
    )
    assert state.confirmed is confirmed, name
    assert state.pbx_status == ("off" if confirmed else "on")
    assert (state.action_done, state.cycle_at, state.cycles) == (True, T0 - 60 * S, (T0 - 60 * S,))
    assert state.outage_since == (T0 if status == "offline" else None)


def test_a_restored_confirmed_outage_is_not_confirmed_twice() -> None:
    """The stored counter at the threshold: the next down writes no second on→off row."""
    state = UnitState.restored(
        last_status="offline", failure_counter=3, action_done=True, threshold=3, outage_since=T0 - 60 * S
    )
    decision = decide(AUTO, state, DOWN, now=T0, policy=POLICY, fleet=FleetView())
    assert decision.actions == ()
    assert decision.state.failure_counter == 4


@pytest.mark.parametrize("module", ["policy", "state", "watchdog", "outage_tally"])
def test_the_decision_core_imports_no_io(module: str) -> None:
    """The decision core imports no asyncio, database, HTTP or SSH, and nothing of pbxwatch but the domain."""
    import ast
    from pathlib import Path

    import pbxwatch.domain

    source = Path(pbxwatch.domain.__file__).with_name(f"{module}.py").read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    forbidden = {"asyncio", "sqlalchemy", "httpx", "asyncssh", "time", "socket", "subprocess"}
    assert not {name.split(".")[0] for name in imported} & forbidden
    assert all(name.startswith("pbxwatch.domain") for name in imported if name.startswith("pbxwatch"))
    assert ".now(" not in source and "utcnow" not in source  # time is a parameter


# ---- what the rows and requests carry, and the boundaries of the timers ------------------------------

OUTLET2 = WatchedUnit("103", "127.0.1.4", auto_cycle=True, device_id="dev2", outlet=2)
GONE = "asterisk_not_running: no asterisk process"


@pytest.mark.parametrize(
    ("name", "unit", "state", "step", "expected", "policy"),
    [
        (
            "the relay-offline hold says why in words",
            AUTO,
            CONFIRMED,
            RelayAnswer(online=False),
            [
                Hold(
                    ActionType.SKIPPED_RELAY_OFFLINE,
                    "relay dev1 is offline: the site has probably lost power or internet",
                )
            ],
            POLICY,
        ),
        (
            "the dry-run row names the relay it would have cycled",
            AUTO,
            CONFIRMED,
            RelayAnswer(online=True),
            [Hold(ActionType.DRY_RUN, "dry run: would power-cycle relay dev1")],
            replace(POLICY, dry_run=True),
        ),
        (
            "the mass-outage hold quotes the check it set aside",
            AUTO,
            TWO_DOWN,
            Check(DOWN, mass()),
            [
                Hold(
                    ActionType.SKIPPED_MASS_OUTAGE,
                    f"mass outage: too many units down at once, {GONE} counted as unknown",
                )
            ],
            POLICY,
        ),
        (
            "the no-relay hold names the empty column",
            NO_RELAY,
            TWO_DOWN,
            Check(DOWN),
            [
                OutageConfirmed(3, GONE),
                Hold(ActionType.SKIPPED_NO_RELAY, "no relay configured (ewelink_device_id is empty)"),
            ],
            POLICY,
        ),
        (
            "the daily-cap hold gives the count and the setting",
            AUTO,
            replace(TWO_DOWN, cycles=(T0 - 3600 * S, T0 - 7200 * S, T0 - 9000 * S)),
            Check(DOWN),
            [
                OutageConfirmed(3, GONE),
                Hold(ActionType.SKIPPED_DAILY_CAP, "3 automatic cycles in 24 h (max_cycles_per_unit_per_day=3)"),
            ],
            POLICY,
        ),
        (
            "the fail row carries the relay service's error",
            AUTO,
            CONFIRMED,
            Failed(audit=True),
            [CycleFailed("dev1", "connection refused")],
            POLICY,
        ),
        (
            "the cycle request names the unit's outlet",
            OUTLET2,
            CONFIRMED,
            RelayAnswer(online=True),
            [PowerCycle("dev2", 2, "auto-103-20260101T115830")],
            POLICY,
        ),
        (
            "an outage without a start time is keyed by now",
            AUTO,
            replace(CONFIRMED, outage_since=None),
            RelayAnswer(online=True),
            [PowerCycle("dev1", None, "auto-100-20260101T120000")],
            POLICY,
        ),
        (
            "a unit without a relay is never cycled, whatever the relay answer",
            NO_RELAY,
            CONFIRMED,
            RelayAnswer(online=True),
            [],
            POLICY,
        ),
        (
            "a dry-run row of an earlier run does not stop a real cycle",
            AUTO,
            replace(CONFIRMED, holds=frozenset({ActionType.DRY_RUN})),
            Check(DOWN),
            [CheckRelay("dev1")],
            POLICY,
        ),
        (
            "boot grace ends exactly boot_grace after the cycle",
            AUTO,
            replace(CYCLED, action_done=False, cycle_at=T0 - 300 * S),
            Check(DOWN),
            [CheckRelay("dev1")],
            POLICY,
        ),
        (
            "the back-off ends exactly at retry_cycle_at",
            AUTO,
            replace(CONFIRMED, retry_cycle_at=T0),
            Check(DOWN),
            [CheckRelay("dev1")],
            POLICY,
        ),
        (
            "a cycle exactly one day old no longer counts against the daily cap",
            AUTO,
            replace(TWO_DOWN, cycles=(T0 - 86_400 * S,) * 3),
            Check(DOWN),
            [OutageConfirmed(3, GONE), CheckRelay("dev1")],
            POLICY,
        ),
    ],
)
def test_actions_carry_what_the_operator_reads(
    name: str, unit: WatchedUnit, state: UnitState, step: Step, expected: list[Action], policy: Policy
) -> None:
    assert list(run(unit, state, step, policy).actions) == expected, name


def test_a_late_relay_answer_leaves_the_state_as_it_is() -> None:
    assert relay_checked(AUTO, FRESH, True, T0, POLICY).state == FRESH
    assert relay_checked(AUTO, CYCLED, True, T0, POLICY).state == CYCLED


def test_a_started_cycle_clears_the_back_off_and_forgets_cycles_older_than_a_day() -> None:
    state = replace(CONFIRMED, retry_cycle_at=T0 + 60 * S, cycles=(T0 - 90_000 * S, T0 - 3600 * S))
    started = cycle_started(state, T0)
    assert (started.retry_cycle_at, started.cycles, started.cycle_at) == (None, (T0 - 3600 * S, T0), T0)


def test_a_down_marks_the_unit_offline_in_memory_too() -> None:
    for state in (FRESH, replace(FRESH, cycle_at=T0 - 10 * S)):  # counted, and in boot grace
        assert (
            decide(AUTO, state, DOWN, now=T0, policy=POLICY, fleet=FleetView()).state.last_status is LiveStatus.OFFLINE
        )


def test_a_reason_without_detail_is_stored_as_the_bare_code() -> None:
    assert CheckResult.of(Reason.AUTH_FAILED).error_message() == "auth_failed"
    assert CheckResult.of(Reason.AUTH_FAILED).detail == ""
    assert CheckResult.of(Reason.AUTH_FAILED, "denied").error_message() == "auth_failed: denied"


def test_a_restored_row_keeps_its_status_and_counter() -> None:
    online = UnitState.restored(
        last_status="online", failure_counter=None, action_done=False, threshold=3, outage_since=T0
    )
    assert (online.last_status, online.failure_counter, online.outage_since) == (LiveStatus.ONLINE, 0, None)
    odd = UnitState.restored(last_status="weird", failure_counter=7, action_done=False, threshold=3, outage_since=T0)
    assert (odd.last_status, odd.failure_counter, odd.confirmed) == (None, 7, False)


def test_an_operator_rearm_allows_the_next_cycle_at_once() -> None:
    """`pbxwatch units rearm` after a failed cycle: no cycle is done, and no back-off is waited for."""
    backed_off = replace(CYCLED, retry_cycle_at=T0 + 300 * S)
    rearmed = operator_rearmed(backed_off)
    assert (rearmed.action_done, rearmed.retry_cycle_at) == (False, None)
    assert (rearmed.cycles, rearmed.cycle_at, rearmed.confirmed) == (CYCLED.cycles, CYCLED.cycle_at, True)
    decision = decide(AUTO, replace(rearmed, cycle_at=T0 - 600 * S), DOWN, now=T0, policy=POLICY, fleet=FleetView())
    assert decision.actions == (CheckRelay("dev1"),)


def test_a_relay_gone_offline_before_switching_is_held_and_rechecked_later() -> None:
    """The relay service found the relay offline at the last look: one hold row, the claim forgotten."""
    claimed = replace(CONFIRMED, action_done=True)
    decision = relay_went_offline(AUTO, claimed, T0, POLICY)
    assert decision.actions == (
        Hold(ActionType.SKIPPED_RELAY_OFFLINE, "relay dev1 is offline: the site has probably lost power or internet"),
    )
    assert (decision.state.action_done, decision.state.relay_offline_at) == (False, T0)
    soon = decide(AUTO, decision.state, DOWN, now=T0 + 299 * S, policy=POLICY, fleet=FleetView())
    assert soon.actions == ()
    later = decide(AUTO, decision.state, DOWN, now=T0 + 300 * S, policy=POLICY, fleet=FleetView())
    assert later.actions == (CheckRelay("dev1"),)


def test_a_restored_soft_restart_is_not_run_twice_in_one_outage() -> None:
    unit = replace(AUTO, restart_command="systemctl restart asterisk")
    fresh = decide(unit, CONFIRMED, DOWN, now=T0, policy=POLICY, fleet=FleetView())
    assert [type(a).__name__ for a in fresh.actions] == ["SoftRestart"]
    restored = soft_restart_restored(CONFIRMED, T0 - 600 * S)
    assert restored.soft_restart_at == T0 - 600 * S
    assert decide(unit, restored, DOWN, now=T0, policy=POLICY, fleet=FleetView()).actions == (CheckRelay("dev1"),)


def test_a_restored_flap_memory_replaces_the_empty_one_and_nothing_else() -> None:
    from pbxwatch.domain.flap import FlapMemory

    memory = FlapMemory(outages=(T0 - 3600 * S,), held_since=T0 - 60 * S)
    restored = flap_restored(CONFIRMED, memory)
    assert restored.flap == memory
    assert replace(restored, flap=CONFIRMED.flap) == CONFIRMED
    assert decide(AUTO, restored, DOWN, now=T0, policy=POLICY, fleet=FleetView()).actions == ()  # held: no cycle
