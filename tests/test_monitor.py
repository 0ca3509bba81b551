"""The monitor daemon in-process against real PostgreSQL, with an injected prober and relay port."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbxwatch.db.engine import Database
from pbxwatch.db.fleet_status import RearmError, fleet_status, rearm
from pbxwatch.domain.vocabulary import Reason
from pbxwatch.monitor.leader import SingleMonitor
from tests.monitor_harness import (
    FakeRelay,
    ScriptedProber,
    add_unit,
    eventually,
    history,
    kinds,
    live,
    running_monitor,
    set_unit,
    settings_for,
)

DOWN = Reason.ASTERISK_NOT_RUNNING


async def test_a_dead_asterisk_is_confirmed_cycled_once_and_recovers(db: Database, pg_url: str, tmp_path: Path) -> None:
    await add_unit(db, "100", "127.0.1.1")
    prober, relay = ScriptedProber(), FakeRelay()
    settings = settings_for(pg_url, tmp_path)
    async with running_monitor(settings, prober, relay):
        await eventually(lambda: _status_is(db, "100", "online"), what="first check written")
        prober.reasons["127.0.1.1"] = DOWN
        await eventually(lambda: _true(len(relay.cycles) == 1), what="one power-cycle requested")
        row = await live(db, "100")
        assert row is not None
        assert (row["last_status"], row["ewelink_action_done"]) == ("offline", True)
        assert row["failure_counter"] >= 3
        assert row["last_error_message"] == "asterisk_not_running: scripted"
        assert row["disk_usage_percent"] == 17  # kept from the last up
        prober.uptime["127.0.1.1"] = 0  # it booted after the cycle
        prober.reasons["127.0.1.1"] = Reason.OK
        await eventually(lambda: _kinds_are(db, "100", ["on→off", "off→on"]), what="recovery row")
        await eventually(lambda: _action_done_is(db, "100", False), what="ewelink_action_done reset")
    assert relay.cycles == [{"unit": "100", "device": "dev1", "outlet": None, "key": relay.cycles[0]["key"]}]
    assert relay.cycles[0]["key"].startswith("auto-100-")
    rows = await history(db, "100")
    assert {r["user_initiator"] for r in rows} == {"auto"}
    assert rows[0]["failure_counter"] == 3
    assert (tmp_path / "run" / "monitor.heartbeat").is_file()


async def test_parameter_option_2_false_is_confirmed_and_recorded_but_never_switched(
    db: Database, pg_url: str, tmp_path: Path
) -> None:
    await add_unit(db, "101", "127.0.1.2", auto=False)
    prober, relay = ScriptedProber(), FakeRelay()
    prober.reasons["127.0.1.2"] = Reason.CLI_HUNG
    async with running_monitor(settings_for(pg_url, tmp_path), prober, relay):
        await eventually(lambda: _kinds_are(db, "101", ["on→off"]), what="outage confirmed")
        await eventually(lambda: _true(prober.checks.get("127.0.1.2", 0) >= 6), what="more checks")
    assert relay.cycles == []
    assert relay.lookups == 0
    assert kinds(await history(db, "101")) == ["on→off"]


async def test_an_offline_relay_is_held_once_then_cycled_when_it_comes_back(
    db: Database, pg_url: str, tmp_path: Path
) -> None:
    await add_unit(db, "102", "127.0.1.3", device="relay9")
    prober, relay = ScriptedProber(), FakeRelay(online={"relay9": False})
    prober.reasons["127.0.1.3"] = Reason.CONNECT_REFUSED
    async with running_monitor(settings_for(pg_url, tmp_path), prober, relay):
        await eventually(lambda: _kinds_are(db, "102", ["on→off", "skipped_relay_offline"]), what="hold")
        await eventually(lambda: _true(relay.lookups >= 2), what="relay re-checked")
        assert relay.cycles == []
        relay.online["relay9"] = True
        await eventually(lambda: _true(len(relay.cycles) == 1), what="cycled after the relay came back")
    assert kinds(await history(db, "102")) == ["on→off", "skipped_relay_offline"]
    hold = (await history(db, "102"))[1]
    assert hold["extra_info"] == {"reason": "skipped_relay_offline", "device_id": "relay9", "outlet": None}
    assert hold["prev_status"] == hold["new_status"] == "off"


async def test_an_unreachable_relay_service_writes_one_fail_row_and_no_cycle(
    db: Database, pg_url: str, tmp_path: Path
) -> None:
    await add_unit(db, "103", "127.0.1.4")
    prober, relay = ScriptedProber(), FakeRelay(reachable=False)
    prober.reasons["127.0.1.4"] = DOWN
    async with running_monitor(settings_for(pg_url, tmp_path), prober, relay):
        await eventually(lambda: _kinds_are(db, "103", ["on→off", "ewelink_power_cycle fail"]), what="fail row")
        await eventually(lambda: _true(relay.lookups >= 2), what="retried after the back-off")
    rows = await history(db, "103")
    assert kinds(rows) == ["on→off", "ewelink_power_cycle fail"]
    assert "unreachable" in rows[1]["error_message"]
    assert (await live(db, "103") or {})["ewelink_action_done"] is False


async def test_units_added_changed_and_removed_are_noticed_without_a_restart(
    db: Database, pg_url: str, tmp_path: Path
) -> None:
    await add_unit(db, "104", "127.0.1.5")
    prober, relay = ScriptedProber(), FakeRelay()
    async with running_monitor(settings_for(pg_url, tmp_path), prober, relay):
        await eventually(lambda: _status_is(db, "104", "online"), what="first unit checked")
        await add_unit(db, "105", "127.0.1.6")
        await eventually(lambda: _status_is(db, "105", "online"), what="added unit checked")
        await set_unit(db, "105", host="127.0.1.7")
        await eventually(lambda: _true(prober.checks.get("127.0.1.7", 0) > 0), what="changed host probed")
        await set_unit(db, "104", active=False)
        await eventually(
            lambda: _left_the_schedule(prober, "127.0.1.5", clock="127.0.1.7"), what="deactivated unit no longer probed"
        )


async def test_rearm_allows_a_second_cycle_in_the_same_outage(db: Database, pg_url: str, tmp_path: Path) -> None:
    await add_unit(db, "106", "127.0.1.8")
    prober, relay = ScriptedProber(), FakeRelay()
    prober.reasons["127.0.1.8"] = DOWN
    async with running_monitor(settings_for(pg_url, tmp_path), prober, relay):
        await eventually(lambda: _true(len(relay.cycles) == 1), what="first cycle")
        await eventually(lambda: _true(prober.checks["127.0.1.8"] >= 12), what="the cycle did not help")
        assert len(relay.cycles) == 1
        assert await rearm(db, "106") is True
        await eventually(lambda: _true(len(relay.cycles) == 2), what="second cycle after rearm")
    assert relay.cycles[0]["key"] == relay.cycles[1]["key"]  # same outage, same idempotency key
    assert await rearm(db, "106") is True
    assert await rearm(db, "106") is False
    with pytest.raises(RearmError, match="unit 999 does not exist"):
        await rearm(db, "999")


async def test_status_table_reports_status_counter_disk_sip_last_action_and_hold(
    db: Database, pg_url: str, tmp_path: Path
) -> None:
    await add_unit(db, "107", "127.0.1.9", device=None)
    await add_unit(db, "108", "127.0.1.10")
    prober, relay = ScriptedProber(), FakeRelay()
    async with running_monitor(settings_for(pg_url, tmp_path), prober, relay):
        await eventually(lambda: _status_is(db, "107", "online"), what="checked")
        prober.reasons["127.0.1.9"] = DOWN
        await eventually(lambda: _kinds_are(db, "107", ["on→off", "skipped_no_relay"]), what="no relay hold")
    by_number = {s.number: s for s in await fleet_status(db)}
    held, fine = by_number["107"], by_number["108"]
    assert (held.status, held.sip_ok, held.sip_total, held.disk_usage_percent) == ("offline", 2, 3, 17)
    assert held.failure_counter >= 3
    assert held.last_action == "skipped_no_relay"
    assert held.hold_reason == "no relay configured (ewelink_device_id is empty)"
    assert held.since is not None
    assert (fine.status, fine.failure_counter, fine.last_action, fine.hold_reason) == ("online", 0, None, None)


# ---- helpers --------------------------------------------------------------------------------


async def _true(value: bool) -> bool:
    return value


async def _status_is(db: Database, number: str, status: str) -> bool:
    row = await live(db, number)
    return row is not None and row["last_status"] == status


async def _action_done_is(db: Database, number: str, value: bool) -> bool:
    row = await live(db, number)
    return row is not None and row["ewelink_action_done"] is value


async def _kinds_are(db: Database, number: str, expected: list[str]) -> bool:
    return kinds(await history(db, number)) == expected


_marks: dict[tuple[str, str], tuple[int, int]] = {}


async def _left_the_schedule(prober: ScriptedProber, host: str, *, clock: str) -> bool:
    """True once `host` had no check while the still-monitored `clock` host had three (no wall-clock wait)."""
    now = (prober.checks.get(host, 0), prober.checks.get(clock, 0))
    seen = _marks.get((host, clock))
    if seen is None or seen[0] != now[0]:
        _marks[(host, clock)] = now
        return False
    return now[1] - seen[1] >= 3


async def test_a_restarted_monitor_neither_repeats_the_outage_row_nor_cycles_again(
    db: Database, pg_url: str, tmp_path: Path
) -> None:
    await add_unit(db, "109", "127.0.1.11")
    prober, relay = ScriptedProber(), FakeRelay()
    prober.reasons["127.0.1.11"] = DOWN
    settings = settings_for(pg_url, tmp_path)
    async with running_monitor(settings, prober, relay):
        await eventually(lambda: _true(len(relay.cycles) == 1), what="cycled")
    checks = prober.checks["127.0.1.11"]
    async with running_monitor(settings, prober, relay):
        await eventually(lambda: _true(prober.checks["127.0.1.11"] >= checks + 8), what="checks after the restart")
    assert kinds(await history(db, "109")) == ["on→off"]
    assert len(relay.cycles) == 1


async def test_two_active_monitors_cannot_double_a_row_or_a_cycle(db: Database, pg_url: str, tmp_path: Path) -> None:
    """Without the advisory lock (both active), conditional writes and the claim still keep one of each."""
    await add_unit(db, "110", "127.0.1.12")
    prober_a, prober_b, relay = ScriptedProber(), ScriptedProber(), FakeRelay()
    for prober in (prober_a, prober_b):
        prober.reasons["127.0.1.12"] = DOWN
    settings = settings_for(pg_url, tmp_path)
    async with (
        running_monitor(settings, prober_a, relay, leadership=SingleMonitor()),
        running_monitor(settings, prober_b, relay, leadership=SingleMonitor()),
    ):
        await eventually(lambda: _true(len(relay.cycles) >= 1), what="cycled")
        await eventually(
            lambda: _true(prober_a.checks["127.0.1.12"] > 10 and prober_b.checks["127.0.1.12"] > 10),
            what="both kept checking",
        )
        for prober in (prober_a, prober_b):
            prober.uptime["127.0.1.12"] = 0
            prober.reasons["127.0.1.12"] = Reason.OK
        await eventually(lambda: _kinds_are(db, "110", ["on→off", "off→on"]), what="recovered")
        seen = prober_a.checks["127.0.1.12"], prober_b.checks["127.0.1.12"]
        await eventually(
            lambda: _true(
                prober_a.checks["127.0.1.12"] >= seen[0] + 4 and prober_b.checks["127.0.1.12"] >= seen[1] + 4
            ),
            what="more up checks",
        )
    assert kinds(await history(db, "110")) == ["on→off", "off→on"]
    assert len(relay.cycles) == 1


async def test_dry_run_records_what_it_would_do_and_switches_nothing(db: Database, pg_url: str, tmp_path: Path) -> None:
    await add_unit(db, "111", "127.0.1.13")
    prober, relay = ScriptedProber(), FakeRelay()
    prober.reasons["127.0.1.13"] = DOWN
    async with running_monitor(settings_for(pg_url, tmp_path, dry_run=True), prober, relay):
        await eventually(lambda: _kinds_are(db, "111", ["on→off", "dry_run"]), what="dry_run row")
        await eventually(lambda: _true(prober.checks["127.0.1.13"] >= 10), what="more down checks")
    rows = await history(db, "111")
    assert kinds(rows) == ["on→off", "dry_run"]
    assert rows[1]["error_message"] == "dry run: would power-cycle relay dev1"
    assert relay.cycles == []
    assert (await live(db, "111") or {})["ewelink_action_done"] is False


async def test_on_sqlite_a_single_monitor_cycles_once_and_says_so(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database.from_url(sqlite_url)
    await database.prepare()
    try:
        await add_unit(database, "112", "127.0.1.14")
        prober, relay = ScriptedProber(), FakeRelay()
        prober.reasons["127.0.1.14"] = DOWN
        with caplog.at_level("INFO", logger="pbxwatch.monitor"):
            async with running_monitor(settings_for(sqlite_url, tmp_path), prober, relay):
                await eventually(lambda: _true(len(relay.cycles) == 1), what="cycled")
                prober.uptime["127.0.1.14"] = 0
                prober.reasons["127.0.1.14"] = Reason.OK
                await eventually(lambda: _kinds_are(database, "112", ["on→off", "off→on"]), what="recovered")
        assert "SQLite database: no advisory lock, a single monitor per database is assumed" in caplog.text
        assert len(relay.cycles) == 1
    finally:
        await database.dispose()
