"""Service events watched from the relay service: tokens, the monitor's heartbeat, finished relay cycles.
Real PostgreSQL, the real outbox, apprise to a real HTTP receiver; the token state and clock are injected."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from pbxwatch.config import NotifySettings
from pbxwatch.db.engine import Database
from pbxwatch.db.tables import enterprises, power_cycles
from pbxwatch.notify.notices import Notice
from pbxwatch.notify.outbox import Outbox
from pbxwatch.notify.routing import Routing
from pbxwatch.notify.sender import Sender
from pbxwatch.notify.service_watch import ServiceWatch, WatchOptions
from tests.notify_receivers import JsonReceiver

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


def world(
    db: Database, url: str, tmp: Path, token: list[str], clock: Clock, language: str = "ru"
) -> tuple[ServiceWatch, Sender]:
    settings = NotifySettings.model_validate({"urls": [url], "min_level": "info", "language": language})
    box = Outbox(db, Routing.from_settings(settings), settings.language)
    options = WatchOptions(heartbeat_file=tmp / "monitor.heartbeat", auth_link="http://127.0.0.1:8010/ewelink-auth-url")
    sender = Sender(box, attempts=3, backoff=0.05, timeout=5, poll=0.05, clock=clock)
    return ServiceWatch(box, lambda: token[0], options, clock), sender


async def test_tokens_expiring_then_dead_are_told_once_each_with_the_seed_words_and_the_link(
    db: Database, tmp_path: Path, json_receiver: JsonReceiver
) -> None:
    token, clock = ["valid"], Clock()
    watch, sender = world(db, json_receiver.url, tmp_path, token, clock)
    assert await watch.check() == 0
    token[0] = "expiring"
    assert await watch.check() == 1
    assert await watch.check() == 0  # still expiring: no repeat
    token[0] = "expired"
    assert await watch.check() == 1
    await sender.send_due()
    messages = await json_receiver.wait_for(2)
    assert [m["title"] for m in messages] == [
        "pbxwatch: токен eWeLink скоро истечёт",
        "pbxwatch: Токены истекли, нужна повторная авторизация",
    ]
    assert all("http://127.0.0.1:8010/ewelink-auth-url" in m["message"] for m in messages)
    restarted, _ = world(db, json_receiver.url, tmp_path, token, clock)
    assert await restarted.check() == 0  # the same day, the same state: stored once


async def test_a_silent_monitor_is_told_once_but_a_clean_stop_is_not(
    db: Database, tmp_path: Path, json_receiver: JsonReceiver
) -> None:
    token, clock = ["valid"], Clock()
    watch, sender = world(db, json_receiver.url, tmp_path, token, clock, "en")
    beat = tmp_path / "monitor.heartbeat"
    beat.write_text(json.dumps({"role": "active", "pid": 1, "at": T0.isoformat()}), encoding="utf-8")
    clock.at = T0 + timedelta(seconds=60)
    assert await watch.check() == 0
    clock.at = T0 + timedelta(minutes=5)
    assert await watch.check() == 1
    clock.at = T0 + timedelta(minutes=10)
    assert await watch.check() == 0
    beat.write_text(json.dumps({"role": "stopped", "pid": 1, "at": clock.at.isoformat()}), encoding="utf-8")
    clock.at = T0 + timedelta(hours=1)
    assert await watch.check() == 0
    await sender.send_due()
    [message] = await json_receiver.wait_for(1)
    assert message["title"] == "pbxwatch: monitor stopped"
    assert "since 2026-12-01 12:00:00 UTC (5 min)" in message["message"]


async def test_a_relay_read_back_on_joins_the_incident_thread(
    db: Database, tmp_path: Path, json_receiver: JsonReceiver
) -> None:
    token, clock = ["valid"], Clock()
    watch, sender = world(db, json_receiver.url, tmp_path, token, clock, "en")
    async with db.begin() as conn:
        await conn.execute(insert(enterprises).values(number="55", name="Shop", host="127.0.1.5"))
        await conn.execute(
            insert(power_cycles).values(
                id="c0ffee",
                device_id="1000aaaa01",
                enterprise_number="55",
                initiator="auto",
                state="done",
                off_seconds=10,
                created_at=T0,
                on_due_at=T0,
                on_at=T0 + timedelta(seconds=11),
            )
        )
    await watch.box.publish([Notice("outage_confirmed", "oc:55", T0, "55", {"since_at": T0, "reason": "cli_hung"})])
    assert await watch.check() == 1
    assert await watch.check() == 0
    while await sender.send_due():  # one message of a unit at a time: its thread stays in order
        pass
    messages = await json_receiver.wait_for(2)
    assert messages[1]["title"] == "pbxwatch: 55 Shop — relay back ON"
    assert messages[1]["message"].startswith(messages[0]["message"].split(".")[0] + ". Relay 1000aaaa01 read back ON")
