"""Notifications from the monitor, end to end in-process: real PostgreSQL, the real outbox and sender,
real apprise delivering `json://` to a real HTTP receiver on loopback. The story of each incident is
asserted message by message."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pbxwatch.config import NotifySettings, Settings
from pbxwatch.db.engine import Database
from pbxwatch.domain.vocabulary import Reason
from pbxwatch.notify.tables import deliveries, incidents
from tests.monitor_harness import FakeRelay, ScriptedProber, add_unit, eventually, live, running_monitor, settings_for
from tests.notify_receivers import JsonReceiver

HUNG = Reason.CLI_HUNG


def with_notify(settings: Settings, url: str, **notify: Any) -> Settings:
    options = {"urls": [url], "min_level": "info", "poll_interval": 0.1, "retry_backoff": 0.2, **notify}
    return settings.model_copy(update={"notify": NotifySettings.model_validate(options)})


async def _online(db: Database, *numbers: str) -> bool:
    for number in numbers:
        row = await live(db, number)
        if row is None or row["last_status"] != "online":
            return False
    return True


async def test_hang_cycle_recovery_is_one_thread_of_three_messages(
    db: Database, pg_url: str, tmp_path: Path, json_receiver: JsonReceiver
) -> None:
    await add_unit(db, "101", "127.0.1.5")
    prober, relay = ScriptedProber(), FakeRelay()
    settings = with_notify(settings_for(pg_url, tmp_path), json_receiver.url)
    async with running_monitor(settings, prober, relay):
        await eventually(lambda: _online(db, "101"), what="first check")
        prober.reasons["127.0.1.5"] = HUNG
        await json_receiver.wait_for(2)
        prober.uptime["127.0.1.5"] = 0  # booted after the cycle
        prober.reasons["127.0.1.5"] = Reason.OK
        await json_receiver.wait_for(3)
    assert json_receiver.titles() == [
        "pbxwatch: 101 Enterprise 101 — АТС не отвечает",
        "pbxwatch: 101 Enterprise 101 — перезагрузка по питанию",
        "pbxwatch: 101 Enterprise 101 — АТС снова в сети",
    ]
    confirmed, started, recovered = (m["message"] for m in json_receiver.messages)
    incident = confirmed.split(".")[0]
    assert incident.startswith("Инцидент #")
    assert started.startswith(incident) and recovered.startswith(incident + " закрыт")
    assert "127.0.1.5:22" in confirmed and "cli_hung: scripted" in confirmed
    assert "перезагрузит АТС по питанию" in confirmed  # what it will do next
    assert "cycle-1" in started and "Помогла перезагрузка" in recovered
    async with db.connect() as conn:
        rows = (await conn.execute(select(incidents))).mappings().all()
        states = (await conn.execute(select(deliveries.c.state))).scalars().all()
    assert len(rows) == 1 and rows[0]["closed_at"] is not None
    assert states == ["sent"] * 3


async def test_an_offline_relay_is_one_held_message_saying_the_site_lost_power(
    db: Database, pg_url: str, tmp_path: Path, json_receiver: JsonReceiver
) -> None:
    await add_unit(db, "102", "127.0.1.6", device="dev2")
    prober, relay = ScriptedProber(), FakeRelay(online={"dev2": False})
    settings = with_notify(settings_for(pg_url, tmp_path), json_receiver.url, language="en")
    async with running_monitor(settings, prober, relay):
        await eventually(lambda: _online(db, "102"), what="first check")
        prober.reasons["127.0.1.6"] = Reason.CONNECT_TIMEOUT
        await json_receiver.wait_for(2)
        await eventually(lambda: _lookups_at_least(relay, 3), what="the relay re-checked while still offline")
        prober.reasons["127.0.1.6"] = Reason.OK
        await json_receiver.wait_for(3)
    assert json_receiver.titles() == [
        "pbxwatch: 102 Enterprise 102 — PBX down",
        "pbxwatch: 102 Enterprise 102 — power-cycle held",
        "pbxwatch: 102 Enterprise 102 — PBX recovered",
    ]
    held = json_receiver.messages[1]["message"]
    assert "relay dev2 is offline — the site has probably lost power or internet" in held
    assert "checks the relay again in 0.5 s and power-cycles when it is back" in held
    assert "without a power-cycle" in json_receiver.messages[2]["message"]
    assert relay.cycles == []


async def test_a_mass_outage_is_one_grouped_message_not_one_per_unit(
    db: Database, pg_url: str, tmp_path: Path, json_receiver: JsonReceiver
) -> None:
    hosts = {f"2{i:02d}": f"127.0.1.{20 + i}" for i in range(8)}
    for number, host in hosts.items():
        await add_unit(db, number, host)
    prober, relay = ScriptedProber(), FakeRelay()
    settings = with_notify(settings_for(pg_url, tmp_path), json_receiver.url, language="en")
    async with running_monitor(settings, prober, relay):
        await eventually(lambda: _online(db, *hosts), what="first sweep")
        for host in hosts.values():
            prober.reasons[host] = Reason.CONNECT_TIMEOUT
        await json_receiver.wait_for(1)
        await eventually(lambda: _checked_again(prober, hosts.values(), 6), what="several sweeps during the outage")
        for host in hosts.values():
            prober.reasons[host] = Reason.OK
        await json_receiver.wait_for(2)
        await eventually(lambda: _online(db, *hosts), what="all back")
    assert json_receiver.titles() == ["pbxwatch: mass outage: 8 PBXes", "pbxwatch: mass outage over"]
    body = json_receiver.messages[0]["message"]
    assert "8 PBXes are down at once: 200, 201, 202, 203, 204, 205, 206, 207." in body
    assert "power-cycles nothing" in body
    assert relay.cycles == []


async def _lookups_at_least(relay: FakeRelay, n: int) -> bool:
    return relay.lookups >= n


async def _checked_again(prober: ScriptedProber, hosts: Any, n: int) -> bool:
    return all(prober.checks.get(h, 0) >= n for h in hosts)


async def test_a_still_open_incident_is_repeated_only_at_the_reminder_interval(
    db: Database, pg_url: str, tmp_path: Path, json_receiver: JsonReceiver
) -> None:
    await add_unit(db, "103", "127.0.1.7", auto=False)
    prober, relay = ScriptedProber(), FakeRelay()
    settings = with_notify(settings_for(pg_url, tmp_path), json_receiver.url, language="en", reminder_interval=1.0)
    async with running_monitor(settings, prober, relay):
        await eventually(lambda: _online(db, "103"), what="first check")
        prober.reasons["127.0.1.7"] = Reason.ASTERISK_NOT_RUNNING
        await json_receiver.wait_for(3)
        prober.reasons["127.0.1.7"] = Reason.OK
        await eventually(lambda: _titled(json_receiver, "PBX recovered"), what="recovery told")
    titles = [t.removeprefix("pbxwatch: 103 Enterprise 103 — ") for t in json_receiver.titles()]
    assert titles[0] == "PBX down" and titles[-1] == "PBX recovered"
    assert set(titles[1:-1]) == {"still down"} and len(titles) >= 4
    assert "automatic power-cycles are off for this enterprise" in json_receiver.messages[0]["message"]
    assert "another reminder in 1 s" in json_receiver.messages[1]["message"]


async def test_a_standby_that_takes_over_says_so(
    db: Database, pg_url: str, tmp_path: Path, json_receiver: JsonReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "pbxwatch.monitor.leader")
    await add_unit(db, "104", "127.0.1.8")
    prober, relay = ScriptedProber(), FakeRelay()
    first = with_notify(settings_for(pg_url, tmp_path / "a"), json_receiver.url, language="en")
    second = with_notify(settings_for(pg_url, tmp_path / "b"), json_receiver.url, language="en")
    async with contextlib.AsyncExitStack() as later, contextlib.AsyncExitStack() as earlier:
        await earlier.enter_async_context(running_monitor(first, prober, relay))
        await eventually(lambda: _online(db, "104"), what="the first monitor checks")
        await later.enter_async_context(running_monitor(second, prober, relay))
        await eventually(lambda: _roles(tmp_path, {"a": "active", "b": "standby"}), what="one active, one standby")
        await eventually(lambda: _true("waiting as standby" in caplog.text), what="the second one found the lock taken")
        assert json_receiver.messages == []
        await earlier.aclose()  # the active one stops
        await json_receiver.wait_for(1)
        await eventually(lambda: _roles(tmp_path, {"b": "active"}), what="the second is active")
    assert json_receiver.titles() == ["pbxwatch: standby monitor took over"]
    assert "became active" in json_receiver.messages[0]["message"]


async def _roles(tmp: Path, roles: dict[str, str]) -> bool:
    for name, role in roles.items():
        try:
            beat = json.loads((tmp / name / "run" / "monitor.heartbeat").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if beat.get("role") != role:
            return False
    return True


async def _titled(receiver: JsonReceiver, text: str) -> bool:
    return any(t.endswith(text) for t in receiver.titles())


async def test_a_channel_that_hangs_never_holds_up_checks_or_the_cycle(
    db: Database, pg_url: str, tmp_path: Path, json_receiver: JsonReceiver
) -> None:
    await add_unit(db, "105", "127.0.1.9")
    prober, relay = ScriptedProber(), FakeRelay()
    json_receiver.hang.set()
    settings = with_notify(settings_for(pg_url, tmp_path), json_receiver.url, send_timeout=60)
    async with running_monitor(settings, prober, relay):
        await eventually(lambda: _online(db, "105"), what="first check")
        prober.reasons["127.0.1.9"] = HUNG
        await eventually(lambda: _cycles(relay, 1), what="the power-cycle, while the channel hangs")
        await eventually(lambda: _true(json_receiver.waiting == 1), what="the confirmation stuck in flight")
        assert json_receiver.messages == []
        prober.uptime["127.0.1.9"] = 0
        prober.reasons["127.0.1.9"] = Reason.OK
        await eventually(lambda: _online(db, "105"), what="recovered and recorded, still without a message")
        assert json_receiver.messages == []
        json_receiver.released.set()
        await json_receiver.wait_for(3)
    assert [t.split(" — ")[-1] for t in json_receiver.titles()] == [
        "АТС не отвечает",
        "перезагрузка по питанию",
        "АТС снова в сети",
    ]


async def _true(value: bool) -> bool:
    return value


async def _cycles(relay: FakeRelay, n: int) -> bool:
    return len(relay.cycles) >= n
