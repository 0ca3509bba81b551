"""The monitor's safety rails against its own failures and its caps, in-process on real PostgreSQL.

Doubles that fail (tests/monitor_harness.py): a prober that hangs or raises, a relay service that
answers 409 `relay_offline` / `cycle_running` or holds a request, and that writes the power-cycle rows
the caps read back. Each test states what an operator would see: rows, the live row, relay requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from pbxwatch.db.engine import Database
from pbxwatch.domain.vocabulary import Reason
from pbxwatch.monitor.store import FLUSH_LOCK_KEY
from tests.monitor_harness import (
    BUSY,
    WENT_OFFLINE,
    FakeRelay,
    ScriptedProber,
    add_unit,
    eventually,
    history,
    kinds,
    live,
    running_monitor,
    settings_for,
)
from tests.pg_cluster import PgCluster, pg_cluster  # noqa: F401 -- the fixture

DOWN = Reason.ASTERISK_NOT_RUNNING


async def _true(value: bool) -> bool:
    return value


async def _status_is(db: Database, number: str, status: str) -> bool:
    row = await live(db, number)
    return row is not None and row["last_status"] == status


async def _kinds_are(db: Database, number: str, expected: list[str]) -> bool:
    return kinds(await history(db, number)) == expected


# ---- nothing pbxwatch caused counts as down ---------------------------------------------------------


async def _after_own_failures(
    db: Database, pg_url: str, tmp_path: Path, fail: Callable[[ScriptedProber, str], None]
) -> tuple[dict[str, Any], FakeRelay]:
    """Up first, then the prober fails for twice the threshold of checks; the rows after a clean stop."""
    host = "127.0.2.1"
    await add_unit(db, "200", host)
    prober, relay = ScriptedProber(), FakeRelay()
    async with running_monitor(settings_for(pg_url, tmp_path), prober, relay, check_timeout=0.3):
        await eventually(lambda: _status_is(db, "200", "online"), what="first check written")
        before = prober.checks[host]
        prober.reasons[host] = DOWN  # what the PBX would say if the prober answered: never reached
        fail(prober, host)
        await eventually(lambda: _true(prober.checks[host] >= before + 7), what="failed checks")
    row = await live(db, "200")
    assert row is not None
    return row, relay


async def test_the_monitors_own_guard_timeout_never_counts_as_down(db: Database, pg_url: str, tmp_path: Path) -> None:
    row, relay = await _after_own_failures(db, pg_url, tmp_path, lambda p, host: p.hang.add(host))
    assert kinds(await history(db, "200")) == []  # no on→off row
    assert (relay.lookups, relay.cycles) == (0, [])  # the relay service was never asked
    assert (row["last_status"], row["failure_counter"]) == ("online", 0)
    assert row["last_error_message"] == "probe_error: the monitor's guard timeout: the check did not finish in 0.3s"


async def test_an_exception_in_the_prober_never_counts_as_down(db: Database, pg_url: str, tmp_path: Path) -> None:
    row, relay = await _after_own_failures(
        db, pg_url, tmp_path, lambda p, host: p.crash.update({host: RuntimeError("bug in the prober")})
    )
    assert kinds(await history(db, "200")) == []
    assert (relay.lookups, relay.cycles) == (0, [])
    assert (row["last_status"], row["failure_counter"]) == ("online", 0)
    assert row["last_error_message"] == "probe_error: an exception in the prober: RuntimeError: bug in the prober"


# ---- the relay service's 409 answers ------------------------------------------------------------------


async def test_a_409_relay_offline_holds_releases_the_claim_and_cycles_once_the_relay_is_back(
    db: Database, pg_url: str, tmp_path: Path
) -> None:
    await add_unit(db, "201", "127.0.2.2")
    prober, relay = ScriptedProber(), FakeRelay(refuse={"dev1": WENT_OFFLINE})
    prober.reasons["127.0.2.2"] = DOWN
    async with running_monitor(settings_for(pg_url, tmp_path), prober, relay):
        await eventually(lambda: _kinds_are(db, "201", ["on→off", "skipped_relay_offline"]), what="held")
        assert (await live(db, "201") or {})["ewelink_action_done"] is False  # the claim was released
        await eventually(lambda: _true(relay.requests >= 2), what="asked again after the re-check interval")
        relay.refuse.clear()
        await eventually(lambda: _true(len(relay.cycles) == 1), what="cycled once the relay answers")
    assert kinds(await history(db, "201")) == ["on→off", "skipped_relay_offline"]


async def test_a_409_cycle_running_counts_as_this_outages_cycle(db: Database, pg_url: str, tmp_path: Path) -> None:
    await add_unit(db, "202", "127.0.2.3")
    prober, relay = ScriptedProber(), FakeRelay(refuse={"dev1": BUSY})
    prober.reasons["127.0.2.3"] = DOWN
    async with running_monitor(settings_for(pg_url, tmp_path), prober, relay):
        await eventually(lambda: _true(relay.requests == 1), what="the cycle request")
        await eventually(lambda: _true(prober.checks["127.0.2.3"] >= 12), what="more down checks")
    assert relay.requests == 1  # no second request in this outage
    assert kinds(await history(db, "202")) == ["on→off"]  # no fail row: the relay service is cycling it
    assert (await live(db, "202") or {})["ewelink_action_done"] is True


# ---- holds and caps --------------------------------------------------------------------------------


async def test_a_hold_is_written_once_per_outage_across_a_restart(db: Database, pg_url: str, tmp_path: Path) -> None:
    await add_unit(db, "203", "127.0.2.4", device=None)
    prober, relay = ScriptedProber(), FakeRelay()
    prober.reasons["127.0.2.4"] = DOWN
    settings = settings_for(pg_url, tmp_path)
    async with running_monitor(settings, prober, relay):
        await eventually(lambda: _kinds_are(db, "203", ["on→off", "skipped_no_relay"]), what="held")
    checks = prober.checks["127.0.2.4"]
    async with running_monitor(settings, prober, relay):  # the restarted monitor owes the hold again
        await eventually(lambda: _true(prober.checks["127.0.2.4"] >= checks + 6), what="checks after the restart")
    assert kinds(await history(db, "203")) == ["on→off", "skipped_no_relay"]


async def test_the_fleets_hourly_cap_holds_the_next_unit(db: Database, pg_url: str, tmp_path: Path) -> None:
    await add_unit(db, "204", "127.0.2.5", device="relayA")
    await add_unit(db, "205", "127.0.2.6", device="relayB")
    prober, relay = ScriptedProber(), FakeRelay(db=db)
    async with running_monitor(settings_for(pg_url, tmp_path, max_auto_cycles_per_hour=1), prober, relay):
        prober.reasons["127.0.2.5"] = DOWN
        await eventually(lambda: _true(len(relay.cycles) == 1), what="the first unit cycled")
        prober.reasons["127.0.2.6"] = DOWN
        await eventually(lambda: _kinds_are(db, "205", ["on→off", "skipped_daily_cap"]), what="the next held")
    assert [c["unit"] for c in relay.cycles] == ["204"]
    hold = (await history(db, "205"))[1]
    assert hold["error_message"] == "fleet cap: 1 automatic cycles in the last hour (max_auto_cycles_per_hour=1)"


async def test_the_fleets_hourly_cap_survives_a_restart(db: Database, pg_url: str, tmp_path: Path) -> None:
    await add_unit(db, "206", "127.0.2.7", device="relayA")
    await add_unit(db, "207", "127.0.2.8", device="relayB")
    prober, relay = ScriptedProber(), FakeRelay(db=db)
    settings = settings_for(pg_url, tmp_path, max_auto_cycles_per_hour=1)
    async with running_monitor(settings, prober, relay):
        prober.reasons["127.0.2.7"] = DOWN
        await eventually(lambda: _true(len(relay.cycles) == 1), what="the first unit cycled")
    prober.reasons["127.0.2.8"] = DOWN
    async with running_monitor(settings, prober, relay):
        await eventually(lambda: _kinds_are(db, "207", ["on→off", "skipped_daily_cap"]), what="held after restart")
    assert [c["unit"] for c in relay.cycles] == ["206"]


async def test_the_daily_cap_counts_the_stored_cycles_after_a_restart(
    db: Database, pg_url: str, tmp_path: Path
) -> None:
    """The cycles of the last day are the relay service's `ewelink_power_cycle success` rows (initiator auto)."""
    await add_unit(db, "208", "127.0.2.9")
    prober, relay = ScriptedProber(), FakeRelay(db=db)
    settings = settings_for(pg_url, tmp_path, max_cycles_per_unit_per_day=1)
    async with running_monitor(settings, prober, relay):
        prober.reasons["127.0.2.9"] = DOWN
        await eventually(lambda: _true(len(relay.cycles) == 1), what="cycled")
        prober.uptime["127.0.2.9"], prober.reasons["127.0.2.9"] = 0, Reason.OK
        await eventually(
            lambda: _kinds_are(db, "208", ["on→off", "ewelink_power_cycle success", "off→on"]), what="recovered"
        )
    prober.uptime["127.0.2.9"], prober.reasons["127.0.2.9"] = 100_000, DOWN  # the next outage, after a restart
    async with running_monitor(settings, prober, relay):
        await eventually(
            lambda: _kinds_are(
                db, "208", ["on→off", "ewelink_power_cycle success", "off→on", "on→off", "skipped_daily_cap"]
            ),
            what="held by the cap",
        )
    assert len(relay.cycles) == 1
    hold = (await history(db, "208"))[-1]
    assert hold["error_message"] == "1 automatic cycles in 24 h (max_cycles_per_unit_per_day=1)"


# ---- the database comes first ------------------------------------------------------------------------


async def test_the_outage_row_is_in_the_database_before_the_relay_is_asked_to_cycle(
    db: Database, pg_url: str, tmp_path: Path
) -> None:
    """Another flush holds the monitors' flush lock: the cycle waits until the on→off row is written."""
    await add_unit(db, "209", "127.0.2.10")
    prober, relay = ScriptedProber(), FakeRelay(db=db)
    async with running_monitor(settings_for(pg_url, tmp_path), prober, relay):
        await eventually(lambda: _status_is(db, "209", "online"), what="first check written")
        other = await asyncpg.connect(pg_url)
        try:
            transaction = other.transaction()
            await transaction.start()
            await other.execute("SELECT pg_advisory_xact_lock($1)", FLUSH_LOCK_KEY)
            prober.reasons["127.0.2.10"] = DOWN
            await eventually(lambda: _true(prober.checks["127.0.2.10"] >= 8), what="confirmed in memory")
            await transaction.rollback()
        finally:
            await other.close()
        await eventually(lambda: _true(len(relay.cycles) == 1), what="cycled once the row is written")
    assert relay.cycles[0]["seen"] == ["on→off"]  # what the relay service found when the request came


async def test_no_relay_look_up_and_no_cycle_while_the_database_is_away(
    pg_cluster: PgCluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    database = Database.from_url(pg_cluster.url)
    try:
        await add_unit(database, "210", "127.0.2.11")
    finally:
        await database.dispose()
    prober, relay = ScriptedProber(), FakeRelay()
    async with running_monitor(settings_for(pg_cluster.url, tmp_path), prober, relay):
        await eventually(lambda: _true(prober.checks.get("127.0.2.11", 0) >= 2), what="checked")
        await asyncio.to_thread(pg_cluster.stop)
        before = prober.checks["127.0.2.11"]
        prober.reasons["127.0.2.11"] = DOWN
        await eventually(lambda: _true(prober.checks["127.0.2.11"] >= before + 8), what="down checks, no database")
        assert (relay.lookups, relay.requests) == (0, 0)  # the relay service was not even asked
        await asyncio.to_thread(pg_cluster.start)
        await eventually(lambda: _true(len(relay.cycles) == 1), what="cycled once the database is back")
