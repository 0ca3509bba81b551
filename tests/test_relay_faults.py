"""Power-cycles under real faults: PostgreSQL stopped mid-cycle, SIGKILL of `pbxwatch relay serve` at
random points, and a cloud that applies a command but drops the connection.

Real parts only: the relay service (in a thread or as its own process), the simulated cloud, a private
PostgreSQL cluster that the test stops and starts."""

from __future__ import annotations

import logging
import random
import signal
import time
from datetime import UTC, datetime

import pytest

from tests.pg_cluster import PgCluster, pg_cluster  # noqa: F401 -- the fixture
from tests.relay_fixtures import VERIFY_S, RelayEnv, ServiceProcess, wait_for
from tests.test_relay_cycles import cycle, done, switch_times

KILL_TRIALS = 20
RELAYS = ("1000aaaa01", "1000dddd04", "1000eeee05", "1000ffff06")


@pytest.mark.slow
def test_postgresql_stopped_during_a_cycle_the_on_is_on_time_and_rows_come_after(
    relay_env: RelayEnv,
    pg_cluster: PgCluster,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    relay_env.pg_url = pg_cluster.url
    relay_env.add_unit("101", "1000aaaa01", last_status="offline")
    relay_env.start()
    relay_env.authorize()
    relay_env.clock.hold()
    ticket = cycle(relay_env, enterprise_number="101", off_seconds=3, initiator="auto")
    wait_for(lambda: relay_env.cycle_state(ticket["cycle_id"]) == "off", "the relay to be off")
    pg_cluster.stop()
    relay_env.clock.release()
    wait_for(lambda: relay_env.sim.device("1000aaaa01").states == [True], "the relay on, database still down")
    assert not pg_cluster.running()
    pg_cluster.start()
    back_at = datetime.now(UTC)
    done(relay_env, ticket["cycle_id"])
    rows = relay_env.audit_rows()
    assert [(r["action_type"], r["action_result"]) for r in rows] == [
        ("ewelink_power_cycle", "success"),
        ("ewelink_toggle_off", "success"),
        ("ewelink_toggle_on", "success"),
    ]
    assert rows[2]["change_time"] < back_at  # the row carries the time of the "on", not of the write
    [(off_at, _), (on_at, _)] = switch_times(relay_env, "1000aaaa01")
    assert on_at - off_at >= 3
    outage_lines = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(outage_lines) == 1 and outage_lines[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if r.exc_info], "no traceback for an expected outage"


def test_an_off_applied_then_dropped_is_audited_and_the_relay_ends_on(relay: RelayEnv) -> None:
    from pbxwatch.sim.cloud_state import Fault

    dropped = Fault("apply_drop", path="/v2/device/thing/status")
    relay.sim.inject(dropped)
    ticket = cycle(relay, enterprise_number="101")
    done(relay, ticket["cycle_id"])
    assert dropped.applied == 1
    assert relay.sim.device("1000aaaa01").states == [True]
    rows = [(r["action_type"], r["action_result"], r["extra_info"].get("reason")) for r in relay.audit_rows()]
    assert rows == [
        ("ewelink_power_cycle", "success", None),
        ("ewelink_toggle_off", "fail", "cloud_unavailable"),
        ("ewelink_toggle_on", "success", None),
    ]


@pytest.fixture
def killable(relay_env: RelayEnv) -> ServiceProcess:
    from pbxwatch.sim.cloud_state import SimDevice

    for n, device_id in enumerate(RELAYS, start=1):
        if device_id not in relay_env.sim.state.devices:
            relay_env.sim.add_device(SimDevice(id=device_id, name=f"Relay {n}"))
        relay_env.add_unit(str(100 + n), device_id, last_status="offline")
    return ServiceProcess(relay_env)


@pytest.mark.slow
def test_sigkill_after_the_off_reached_the_cloud_leaves_its_off_row(
    relay_env: RelayEnv, killable: ServiceProcess
) -> None:
    """The write-ahead journal: the "off" is in flight (the cloud applies it late) when the service dies."""
    from pbxwatch.sim.cloud_state import Fault

    try:
        killable.start()
        relay_env.authorize()
        late = Fault("late_apply", path="/v2/device/thing/status", delay=2.0)
        relay_env.sim.inject(late)
        ticket = cycle(relay_env, enterprise_number="101", off_seconds=1)
        wait_for(lambda: switch_times(relay_env, "1000aaaa01"), "the off to reach the cloud")
        killable.signal(signal.SIGKILL)
        wait_for(lambda: late.applied == 1, "the off to land")
        killable.start()
        done(relay_env, ticket["cycle_id"])
    finally:
        killable.stop()
    assert relay_env.sim.device("1000aaaa01").states == [True]
    rows = [(r["action_type"], r["action_result"]) for r in relay_env.audit_rows()]
    assert rows == [
        ("ewelink_power_cycle", "success"),
        ("ewelink_toggle_off", "success"),
        ("ewelink_toggle_on", "success"),
    ]
    assert [on for _, on in switch_times(relay_env, "1000aaaa01")] == [False, True]


@pytest.mark.slow
def test_sigkill_at_random_points_of_cycles_leaves_every_relay_on_with_one_off_and_one_on_row(
    relay_env: RelayEnv, killable: ServiceProcess
) -> None:
    """KILL_TRIALS kills, each at a random point of a cycle (before the off, off, on, verification);
    the next cycle starts on another relay right after the restart, so kills also hit restarts."""
    rng = random.Random(20261201)
    tickets: list[tuple[str, str]] = []
    try:
        killable.start()
        relay_env.authorize()
        for trial in range(KILL_TRIALS):
            unit = str(101 + trial % len(RELAYS))
            wait_for(lambda u=unit: _idle(relay_env, u), f"unit {unit} to be free")  # type: ignore[misc]
            tickets.append((unit, cycle(relay_env, enterprise_number=unit, off_seconds=1)["cycle_id"]))
            time.sleep(rng.uniform(0.0, 1.5 + VERIFY_S))  # a random kill point, not a wait for a result
            killable.signal(signal.SIGKILL)
            killable.start()
        for _, cycle_id in tickets:
            done(relay_env, cycle_id)
    finally:
        killable.stop()
    assert all(relay_env.sim.device(d).states == [True] for d in RELAYS), "every relay ends on"
    for unit, cycle_id in tickets:
        rows = [r for r in relay_env.audit_rows() if r["extra_info"].get("cycle_id") == cycle_id]
        offs = [r for r in rows if r["action_type"] == "ewelink_toggle_off"]
        ons = [r for r in rows if r["action_type"] == "ewelink_toggle_on" and r["action_result"] == "success"]
        assert (len(offs), len(ons)) == (1, 1), f"cycle {cycle_id} of unit {unit}: {rows}"
    for n, device_id in enumerate(RELAYS):
        cycles_here = len([t for t in tickets if t[0] == str(101 + n)])
        offs_sent = [on for _, on in switch_times(relay_env, device_id) if not on]
        assert len(offs_sent) == cycles_here, f"relay {device_id}: one off per cycle"


def _idle(relay: RelayEnv, unit: str) -> bool:
    rows = relay.sql(
        "SELECT count(*) AS n FROM pbxwatch_power_cycles WHERE enterprise_number = $1 "
        "AND state IN ('pending', 'off', 'verifying')",
        unit,
    )
    return rows[0]["n"] == 0
