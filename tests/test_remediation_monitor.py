"""The monitor in-process (real PostgreSQL, injected prober and relay port): per-enterprise ladders, the
event port, and a flap hold that survives a monitor restart until `units rearm`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from pbxwatch.db.engine import Database
from pbxwatch.db.flap import rearm_flap
from pbxwatch.db.ladders import Ladder, set_ladder
from pbxwatch.domain.verdicts import CommandRun
from pbxwatch.domain.vocabulary import Reason
from pbxwatch.monitor.events import LogEvents, UnitEvent
from tests.monitor_harness import (
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

DOWN = Reason.ASTERISK_NOT_RUNNING
SETTINGS_COMMAND = "sudo -n systemctl restart asterisk"


class RestartingProber(ScriptedProber):
    """A scripted prober that is also a restarter: a restart brings the host's Asterisk back."""

    def __init__(self) -> None:
        super().__init__()
        self.restarts: list[tuple[str, str]] = []

    async def run_restart(self, host: str, port: int, command: str) -> CommandRun:
        self.restarts.append((host, command))
        self.reasons[host] = Reason.OK
        return CommandRun(0, "")


class UselessRestarts(RestartingProber):
    """The restart command succeeds, but Asterisk stays dead."""

    async def run_restart(self, host: str, port: int, command: str) -> CommandRun:
        self.restarts.append((host, command))
        return CommandRun(0, "")


class Events(LogEvents):
    def __init__(self) -> None:
        self.seen: list[UnitEvent] = []

    def emit(self, event: UnitEvent) -> None:
        self.seen.append(event)

    def kinds(self, unit: str) -> list[str]:
        return [e.kind.value for e in self.seen if e.unit == unit]


async def test_each_enterprise_follows_its_own_ladder(db: Database, pg_url: str, tmp_path: Path) -> None:
    await add_unit(db, "100", "127.0.1.1", device="dev0")  # the settings' default: soft restart first
    await add_unit(db, "101", "127.0.1.2", device="dev1")  # power-cycle only
    await add_unit(db, "102", "127.0.1.3", device="dev2")  # its own command
    await set_ladder(db, "101", Ladder(power_only=True))
    await set_ladder(db, "102", Ladder(restart_command="sudo -n /usr/sbin/service asterisk restart"))
    prober, relay, events = RestartingProber(), FakeRelay(), Events()
    settings = settings_for(pg_url, tmp_path, restart_command=SETTINGS_COMMAND, restart_grace=30)
    async with running_monitor(settings, prober, relay, events=events):
        await eventually(lambda: _online(db, "100", "101", "102"), what="baseline online")
        for host in ("127.0.1.1", "127.0.1.2", "127.0.1.3"):
            prober.reasons[host] = DOWN
        await eventually(
            lambda: _kinds_are(db, "100", ["on→off", "asterisk_restart success", "off→on"]),
            what="100 restarted with the settings' command",
        )
        await eventually(
            lambda: _kinds_are(db, "102", ["on→off", "asterisk_restart success", "off→on"]),
            what="102 restarted with its own command",
        )
        await eventually(lambda: _true(len(relay.cycles) == 1), what="101 power-cycled")
    assert sorted(prober.restarts) == [
        ("127.0.1.1", SETTINGS_COMMAND),
        ("127.0.1.3", "sudo -n /usr/sbin/service asterisk restart"),
    ]
    assert [c["unit"] for c in relay.cycles] == ["101"]
    assert events.kinds("100") == ["outage_confirmed", "soft_restart"]
    assert events.kinds("101") == ["outage_confirmed"]


async def test_a_flap_hold_survives_a_monitor_restart_until_rearmed(db: Database, pg_url: str, tmp_path: Path) -> None:
    await add_unit(db, "100", "127.0.1.1")
    prober, relay, events = ScriptedProber(), FakeRelay(), Events()
    settings = settings_for(pg_url, tmp_path, flap_max_outages=1, flap_failed_percent=0)
    prober.reasons["127.0.1.1"] = DOWN
    async with running_monitor(settings, prober, relay, events=events):
        await eventually(lambda: _kinds_are(db, "100", ["on→off", "held"]), what="held at the first outage")
    assert relay.cycles == [] and events.kinds("100") == ["outage_confirmed", "held_unstable"]

    checks = prober.checks.get("127.0.1.1", 0)
    async with running_monitor(settings, prober, relay, events=events):
        await eventually(lambda: _true(prober.checks["127.0.1.1"] >= checks + 10), what="checks after the restart")
        assert relay.cycles == [] and await _kinds_are(db, "100", ["on→off", "held"])
        assert await rearm_flap(db, "100", by="petrov", now=datetime.now(UTC))
        await eventually(lambda: _true(len(relay.cycles) == 1), what="cycled once rearmed")
    rows = await history(db, "100")
    assert kinds(rows) == ["on→off", "held", "rearmed"]
    assert rows[2]["user_initiator"] == "petrov"
    assert not await rearm_flap(db, "100", by="petrov", now=datetime.now(UTC))  # nothing held any more


async def _kinds_are(db: Database, number: str, expected: list[str]) -> bool:
    return kinds(await history(db, number)) == expected


async def _online(db: Database, *numbers: str) -> bool:
    rows = [await live(db, n) for n in numbers]
    return all(r is not None and r["last_status"] == "online" for r in rows)


async def _true(value: bool) -> bool:
    await asyncio.sleep(0)
    return value


async def test_a_restarted_monitor_does_not_restart_asterisk_twice_in_one_outage(
    db: Database, pg_url: str, tmp_path: Path
) -> None:
    await add_unit(db, "100", "127.0.1.1")
    prober, relay = UselessRestarts(), FakeRelay()
    settings = settings_for(pg_url, tmp_path, restart_command=SETTINGS_COMMAND, restart_grace=3600)
    prober.reasons["127.0.1.1"] = DOWN
    async with running_monitor(settings, prober, relay):
        await eventually(lambda: _kinds_are(db, "100", ["on→off", "asterisk_restart success"]), what="restarted")
    checks = prober.checks["127.0.1.1"]
    async with running_monitor(settings, prober, relay):
        await eventually(lambda: _true(prober.checks["127.0.1.1"] >= checks + 10), what="checks after the restart")
    assert prober.restarts == [("127.0.1.1", SETTINGS_COMMAND)]
    assert relay.cycles == []  # still within the restart grace
