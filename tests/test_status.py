"""A status that tells the truth: `pbxwatch status` (real CLI, subprocess), `GET /units`, and the pure
state function they share."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from pbxwatch.cli.status import _table
from pbxwatch.db.engine import Database
from pbxwatch.db.fleet_status import fleet_status
from pbxwatch.domain.unit_status import State, UnitFacts, exit_code, summary, unit_state
from pbxwatch.domain.vocabulary import Reason
from tests.cli_helpers import clean_env, pbxwatch
from tests.monitor_harness import FakeRelay, ScriptedProber, add_unit, eventually, live, running_monitor, settings_for
from tests.relay_fixtures import RelayEnv

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STALE = timedelta(minutes=5)
LONG_NAME = "Enterprise with a very long name that a terminal table would have to cut " * 2


def facts(**values: Any) -> UnitFacts:
    return UnitFacts(**{"last_status": "online", "last_checked_at": NOW - timedelta(seconds=10), **values})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, (State.ONLINE, "ok")),
        ({"last_error_message": "host_key_mismatch: the key changed"}, (State.UNKNOWN, "host_key_mismatch")),
        ({"last_status": "offline", "last_error_message": "auth_failed: denied"}, (State.UNKNOWN, "auth_failed")),
        ({"last_error_message": "mass_outage: connect_timeout"}, (State.HELD, "mass_outage")),
        (
            {"last_status": "offline", "last_error_message": "cli_hung: x", "hold": "skipped_relay_offline"},
            (State.HELD, "relay_offline"),
        ),
        ({"last_status": "offline", "last_error_message": "cli_hung: x"}, (State.OFFLINE, "cli_hung")),
        (
            {"last_status": "offline", "last_error_message": "connect_refused: x (boot grace)"},
            (State.BOOT_GRACE, "connect_refused"),
        ),
        ({"last_status": "offline", "cycling": True}, (State.CYCLING, "power_cycle")),
        ({"last_checked_at": NOW - timedelta(minutes=6)}, (State.UNKNOWN, "stale_check")),
        ({"last_checked_at": None, "last_status": None}, (State.UNKNOWN, "never_checked")),
        ({"last_status": None, "last_error_message": "host_key_mismatch: new"}, (State.UNKNOWN, "host_key_mismatch")),
        ({"active": False}, (State.PAUSED, "inactive")),
        (
            {"paused": "maintenance window until 14:00", "last_status": "offline"},
            (State.PAUSED, "maintenance window until 14:00"),
        ),
    ],
)
def test_unit_state_never_shows_a_problem_as_online(given: dict[str, Any], expected: tuple[State, str]) -> None:
    assert unit_state(facts(**given), NOW, stale_after=STALE) == expected


def test_exit_codes_follow_nagios_and_the_summary_counts_worst_first() -> None:
    assert exit_code([State.ONLINE, State.PAUSED], monitor_running=True) == 0
    assert exit_code([State.ONLINE, State.UNKNOWN], monitor_running=True) == 1
    assert exit_code([State.HELD], monitor_running=True) == 1
    assert exit_code([State.UNKNOWN, State.OFFLINE], monitor_running=True) == 2
    assert exit_code([State.ONLINE], monitor_running=False) == 2
    states = [State.ONLINE] * 412 + [State.OFFLINE] * 3 + [State.UNKNOWN, State.CYCLING]
    assert summary(states) == "412 online, 3 offline, 1 unknown, 1 cycling"


async def _error_is(db: Database, number: str, prefix: str) -> bool:
    row = await live(db, number)
    return bool(row and (row["last_error_message"] or "").startswith(prefix))


def _status(tmp: Path, pg_url: str, *args: str) -> Any:
    env = {"PBXWATCH_DATABASE_URL": pg_url, "PBXWATCH_RUN_DIR": str(tmp / "live-run"), "COLUMNS": "40"}
    return pbxwatch("status", *args, cwd=tmp, env=env)


@contextlib.contextmanager
def a_running_monitor(tmp: Path) -> Iterator[None]:
    """A real `pbxwatch monitor` process whose heartbeat `pbxwatch status` reads (it watches an empty
    database of its own: the units' states come from the in-process monitor of each test)."""
    env = clean_env(
        {
            "PBXWATCH_DATABASE_URL": f"sqlite:///{tmp / 'empty.db'}",
            "PBXWATCH_RUN_DIR": str(tmp / "live-run"),
            "PBXWATCH_LOG_DIR": str(tmp / "live-logs"),
            "PBXWATCH_SSH_USERNAME": "pbx",
            "PBXWATCH_METRICS": "false",
        }
    )
    assert pbxwatch("db", "upgrade", cwd=tmp, env=env).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "pbxwatch", "monitor"],
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        beat = tmp / "live-run" / "monitor.heartbeat"
        deadline = time.monotonic() + 60
        while not (beat.is_file() and '"active"' in beat.read_text(encoding="utf-8")):
            assert proc.poll() is None and time.monotonic() < deadline, "the monitor did not start"
            time.sleep(0.1)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


async def test_status_shows_a_changed_host_key_as_unknown_and_exits_by_the_worst_state(
    db: Database, pg_url: str, tmp_path: Path
) -> None:
    await add_unit(db, "300", "127.0.1.30", auto=False)
    await add_unit(db, "301", "127.0.1.5")
    await add_unit(db, "302", "127.0.1.32")
    from sqlalchemy import update

    from pbxwatch.db.tables import enterprises

    async with db.begin() as conn:
        await conn.execute(update(enterprises).where(enterprises.c.number == "302").values(name=LONG_NAME))
    prober, relay = ScriptedProber(), FakeRelay()
    prober.reasons["127.0.1.5"] = Reason.HOST_KEY_MISMATCH
    async with running_monitor(settings_for(pg_url, tmp_path), prober, relay):
        await eventually(lambda: _error_is(db, "301", "host_key_mismatch"), what="the host key check")
        live = a_running_monitor(tmp_path)
        await asyncio.to_thread(live.__enter__)
        await eventually(lambda: _all_checked(db, "300", "302"), what="first checks")
        warned = await asyncio.to_thread(_status, tmp_path, pg_url)
        only = await asyncio.to_thread(_status, tmp_path, pg_url, "--state", "unknown,offline")
        as_json = await asyncio.to_thread(_status, tmp_path, pg_url, "--json")
        prober.reasons["127.0.1.30"] = Reason.CLI_HUNG
        await eventually(lambda: _error_is(db, "300", "cli_hung"), what="300 down")
        critical = await asyncio.to_thread(_status, tmp_path, pg_url)
        await asyncio.to_thread(live.__exit__, None, None, None)
    assert warned.returncode == 1, warned.stdout + warned.stderr
    lines = warned.stdout.splitlines()
    assert lines[0].split()[:5] == ["unit", "name", "host", "state", "reason"]
    first = lines[1]  # worst first
    assert first.startswith("301 ") and "127.0.1.5 " in first and " unknown " in first
    assert "host_key_mismatch" in first
    assert any(LONG_NAME.strip() in line and "127.0.1.32" in line for line in lines)  # no truncation at 40 columns
    assert [line for line in lines if "127.0.1.5 " in line] == [first]  # `status | grep 127.0.1.5`
    assert lines[-1].startswith("2 online, 1 unknown; monitor: active")
    assert [line.split()[0] for line in only.stdout.splitlines()[1:-1]] == ["301"]
    data = json.loads(as_json.stdout)
    assert (data["exit_code"], data["monitor_running"], data["summary"]) == (1, True, "2 online, 1 unknown")
    unit = next(u for u in data["units"] if u["number"] == "301")
    assert (unit["state"], unit["reason"], unit["failure_counter"]) == ("unknown", "host_key_mismatch", 0)
    assert unit["check_age_s"] is not None and unit["check_age_s"] >= 0
    assert critical.returncode == 2
    assert critical.stdout.splitlines()[1].startswith("300 ")
    stopped = await asyncio.to_thread(_status, tmp_path, pg_url, "--state", "online")
    assert stopped.returncode == 2  # the monitor is not running
    assert "; monitor: stopped (exited cleanly" in stopped.stdout.splitlines()[-1]


async def test_status_shows_held_during_a_mass_outage(db: Database, pg_url: str, tmp_path: Path) -> None:
    hosts = {f"31{i}": f"127.0.1.{40 + i}" for i in range(6)}
    for number, host in hosts.items():
        await add_unit(db, number, host)
    prober, relay = ScriptedProber(), FakeRelay()
    async with running_monitor(settings_for(pg_url, tmp_path), prober, relay):
        await eventually(lambda: _all_checked(db, *hosts), what="first sweep")
        for host in hosts.values():
            prober.reasons[host] = Reason.CONNECT_TIMEOUT
        await eventually(lambda: _all_mass(db, *hosts), what="every unit under the mass-outage guard")
        live = a_running_monitor(tmp_path)
        await asyncio.to_thread(live.__enter__)
        done = await asyncio.to_thread(_status, tmp_path, pg_url, "--json")
        await asyncio.to_thread(live.__exit__, None, None, None)
    data = json.loads(done.stdout)
    assert {(u["state"], u["reason"]) for u in data["units"]} == {("held", "mass_outage")}
    assert (done.returncode, data["summary"]) == (1, "6 held")
    assert relay.cycles == []


def test_get_units_carries_the_same_state_and_reason(relay: RelayEnv) -> None:
    relay.sql(
        "UPDATE unit_live_status SET last_checked_at = now(), "
        "last_error_message = 'host_key_mismatch: changed' WHERE enterprise_number = '101'"
    )
    relay.sql(
        "UPDATE unit_live_status SET last_checked_at = now(), failure_counter = 4, "
        "last_error_message = 'cli_hung: x' WHERE enterprise_number = '102'"
    )
    units = {u["number"]: u for u in relay.get("/units").json()["units"]}
    assert (units["101"]["state"], units["101"]["reason"]) == ("unknown", "host_key_mismatch")
    assert (units["102"]["state"], units["102"]["reason"]) == ("offline", "cli_hung")
    assert relay.get("/units/101").json()["state"] == "unknown"

    async def cli_view() -> dict[str, tuple[str, str]]:
        db = Database.from_url(relay.pg_url)
        await db.prepare()
        try:
            return {s.number: (s.view.state.value, s.view.reason) for s in await fleet_status(db)}
        finally:
            await db.dispose()

    assert asyncio.run(cli_view()) == {n: (u["state"], u["reason"]) for n, u in units.items()}


async def test_on_a_terminal_the_table_fits_and_keeps_number_and_state(db: Database, tmp_path: Path) -> None:
    await add_unit(db, "0000123456", "127.0.1.5")
    async with db.begin() as conn:
        from sqlalchemy import insert

        from pbxwatch.db.tables import unit_live_status

        await conn.execute(
            insert(unit_live_status).values(
                enterprise_number="0000123456",
                last_status="offline",
                last_checked_at=datetime.now(UTC),
                failure_counter=7,
                last_error_message="cli_hung: " + "x" * 200,
            )
        )
    rows = await fleet_status(db)
    for width in (30, 60, 100, 250):
        console = Console(width=width, force_terminal=True, color_system=None, record=True)
        console.print(_table(rows, datetime.now(UTC), width))
        text = console.export_text()
        assert all(len(line) <= width for line in text.splitlines()), text
        assert "0000123456" in text and "offline" in text, text


async def _all_checked(db: Database, *numbers: str) -> bool:
    for number in numbers:
        row = await live(db, number)
        if row is None or row["last_status"] != "online":
            return False
    return True


async def _all_mass(db: Database, *numbers: str) -> bool:
    for number in numbers:
        if not await _error_is(db, number, "mass_outage"):
            return False
    return True
