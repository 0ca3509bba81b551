"""The outbox and its sender against real PostgreSQL and real receivers; `pbxwatch notify test`; the catalog."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from pbxwatch import i18n
from pbxwatch.config import NotifySettings, load
from pbxwatch.db.engine import Database
from pbxwatch.notify.notices import KINDS, Notice, render
from pbxwatch.notify.outbox import Outbox
from pbxwatch.notify.routing import Routing
from pbxwatch.notify.sender import Sender
from pbxwatch.notify.tables import deliveries, outbox
from tests.cli_helpers import pbxwatch
from tests.notify_receivers import JsonReceiver, SmtpReceiver

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def box_for(db: Database, *urls: str, **notify: object) -> Outbox:
    settings = NotifySettings.model_validate({"urls": list(urls), "min_level": "info", **notify})
    return Outbox(db, Routing.from_settings(settings), settings.language)


def sender_for(box: Outbox, **options: object) -> Sender:
    values = {"attempts": 5, "backoff": 0.05, "timeout": 5.0, "poll": 0.05, **options}
    return Sender(box, **values)  # type: ignore[arg-type]


def token_notice(i: int, at: datetime = T0) -> Notice:
    return Notice("token_expiring", f"token:{i}", at, None, {"link": "L"})


async def test_two_senders_deliver_each_event_once_per_channel(
    db: Database, pg_url: str, json_receiver: JsonReceiver, smtp_receiver: SmtpReceiver
) -> None:
    box = box_for(db, json_receiver.url, smtp_receiver.url)
    assert await box.publish([token_notice(i) for i in range(6)]) == 6
    other_db = Database.from_url(pg_url)
    await other_db.prepare()
    try:
        other = box_for(other_db, json_receiver.url, smtp_receiver.url)
        a, b = sender_for(box, owner="a"), sender_for(other, owner="b")
        sent = 0
        while sent < 12:
            got = await asyncio.gather(a.send_due(), b.send_due())
            sent += sum(got)
            assert any(got) or sent == 12
    finally:
        await other_db.dispose()
    await json_receiver.wait_for(6)
    subjects = await smtp_receiver.wait_for(6)
    assert len(json_receiver.messages) == 6 and len(subjects) == 6
    assert sorted(m["title"] for m in json_receiver.messages) == ["pbxwatch: токен eWeLink скоро истечёт"] * 6
    assert a.stats.outcomes.get("sent", 0) + b.stats.outcomes.get("sent", 0) == 12


async def test_producing_an_event_twice_stores_it_once(db: Database, json_receiver: JsonReceiver) -> None:
    box = box_for(db, json_receiver.url)
    assert await box.publish([token_notice(1)]) == 1
    assert await box.publish([token_notice(1)]) == 0  # a restarted monitor, or the other one
    await sender_for(box).send_due()
    async with db.connect() as conn:
        assert len((await conn.execute(select(outbox))).all()) == 1
    assert len(await json_receiver.wait_for(1)) == 1


async def test_a_message_claimed_by_a_sender_that_died_is_never_sent_again(
    db: Database, json_receiver: JsonReceiver
) -> None:
    box = box_for(db, json_receiver.url)
    await box.publish([token_notice(1)])
    [due] = await box.due(T0)
    assert await box.claim(due, "crashed-monitor", T0)  # then it died before sending
    assert not await box.claim(due, "another", T0)  # the row count of a second claim is 0
    assert await sender_for(box).send_due() == 0
    assert json_receiver.messages == []


async def test_a_failing_channel_is_retried_with_back_off_and_logged_once_per_streak(
    db: Database, json_receiver: JsonReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "pbxwatch.notify")
    box = box_for(db, json_receiver.url)
    await box.publish([token_notice(1, datetime.now(UTC)), token_notice(2, datetime.now(UTC))])
    json_receiver.fail = True
    sender = sender_for(box)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        while json_receiver.refused < 6:  # both messages refused, several times each
            await asyncio.sleep(0.05)
        async with db.connect() as conn:
            rows = (await conn.execute(select(deliveries.c.state, deliveries.c.next_at, deliveries.c.attempts))).all()
        assert {r.state for r in rows} <= {"pending", "sending"}
        json_receiver.fail = False
        await json_receiver.wait_for(2)
    finally:
        stop.set()
        await task
    failing = [r for r in caplog.records if "failing" in r.getMessage()]
    assert len(failing) == 1, [r.getMessage() for r in failing]
    assert "works again" in caplog.text
    assert "127.0.0.1" not in failing[0].getMessage().split(":")[0]  # the label, not the URL


async def test_after_the_last_attempt_a_delivery_is_failed_not_retried_forever(db: Database) -> None:
    box = box_for(db, "json://127.0.0.1:9/nothing-listens")
    await box.publish([token_notice(1)])
    sender = sender_for(box, attempts=2, backoff=0.01)
    for _ in range(200):
        await sender.send_due()
        async with db.connect() as conn:
            state = await conn.scalar(select(deliveries.c.state))
        if state == "failed":
            break
        await asyncio.sleep(0.02)
    assert state == "failed"
    async with db.connect() as conn:
        row = (await conn.execute(select(deliveries))).mappings().one()
    assert row["attempts"] == 2 and "127.0.0.1" in row["last_error"]


async def test_routes_filter_by_event_and_level(db: Database, json_receiver: JsonReceiver) -> None:
    settings = NotifySettings.model_validate(
        {
            "urls": ["json://127.0.0.1:9/everything"],
            "min_level": "critical",
            "routes": [{"urls": [json_receiver.url], "events": ["token_expiring"], "min_level": "info"}],
        }
    )
    box = Outbox(db, Routing.from_settings(settings), "en")
    await box.publish([token_notice(1), Notice("monitor_silent", "m1", T0, None, {"at": "x", "ago_s": 300})])
    async with db.connect() as conn:
        rows = (await conn.execute(select(deliveries.c.event_id, deliveries.c.channel))).all()
    channels = Routing.from_settings(settings).by_key()
    by_event: dict[int, list[str]] = {}
    for event_id, channel in rows:
        by_event.setdefault(event_id, []).append(channels[channel].url)
    assert sorted(by_event.values()) == sorted([["json://127.0.0.1:9/everything"], [json_receiver.url]])


def test_notify_test_sends_to_the_configured_channels_from_a_secret_file(
    tmp_path: Path, json_receiver: JsonReceiver, smtp_receiver: SmtpReceiver
) -> None:
    secret = tmp_path / "notify-urls"
    secret.write_text(f"{json_receiver.url}\n{smtp_receiver.url}\n", encoding="utf-8")
    done = pbxwatch(
        "notify", "test", cwd=tmp_path, env={"PBXWATCH_NOTIFY_URLS_FILE": str(secret), "PBXWATCH_NOTIFY_LANGUAGE": "en"}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("ok: test message sent to ") == 2
    assert "127.0.0.1" not in done.stdout  # configured URLs are shown by label only
    assert json_receiver.titles() == ["pbxwatch: test message"]
    assert [m["Subject"] for m in smtp_receiver.handler.mails] == ["pbxwatch: test message"]


def test_notify_test_says_plainly_what_failed(tmp_path: Path, json_receiver: JsonReceiver) -> None:
    json_receiver.fail = True
    done = pbxwatch("notify", "test", "--url", json_receiver.url, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith(f"failed: {json_receiver.url}: ")
    assert "Traceback" not in done.stdout + done.stderr
    bad = pbxwatch("notify", "test", "--url", "nosuchscheme://x", cwd=tmp_path)
    assert (bad.returncode, bad.stdout.strip()) == (
        1,
        "failed: nosuchscheme://x: not a valid apprise URL (unknown scheme or missing parts)",
    )
    none = pbxwatch("notify", "test", cwd=tmp_path)
    assert none.returncode == 2 and "no notification channel configured" in none.stderr


def test_notify_urls_are_masked_in_config_show(tmp_path: Path) -> None:
    (tmp_path / "pbxwatch.toml").write_text('[notify]\nurls = ["tgram://123:SECRET/456"]\n', encoding="utf-8")
    loaded = load(tmp_path / "pbxwatch.toml", environ={})
    assert loaded.settings.notify.urls == ["tgram://123:SECRET/456"]
    shown = {key: value for key, value, _ in loaded.flat_items()}
    assert shown["notify.urls"] == "********"


def test_every_catalog_key_has_both_languages_with_the_same_placeholders() -> None:
    for key, texts in i18n.CATALOG.items():
        assert set(texts) == set(i18n.LANGUAGES), key
        assert i18n.placeholders(texts["ru"]) == i18n.placeholders(texts["en"]), key
    for kind in KINDS:
        assert f"what.{kind}" in i18n.CATALOG and f"body.{kind}" in i18n.CATALOG, kind


def test_a_dead_token_message_carries_the_seed_words_and_the_link() -> None:
    notice = Notice("token_dead", "t", T0, None, {"state": "expired", "link": "http://127.0.0.1:8010/ewelink-auth-url"})
    title, body = render(notice, "ru")
    assert "Токены истекли, нужна повторная авторизация" in title + body
    assert "http://127.0.0.1:8010/ewelink-auth-url" in body
    _, english = render(notice, "en")
    assert "http://127.0.0.1:8010/ewelink-auth-url" in english


async def test_reminders_of_an_open_incident_come_only_at_the_interval(db: Database) -> None:
    box = box_for(db)
    confirmed = Notice("outage_confirmed", "oc", T0, "7", {"since_at": T0, "reason": "cli_hung"})
    await box.publish([confirmed])
    assert await box.reminders_due(T0 + timedelta(minutes=59), timedelta(hours=1)) == []
    [due] = await box.reminders_due(T0 + timedelta(hours=1), timedelta(hours=1))
    assert due.unit == "7" and await box.counted_reminder(due)
    assert not await box.counted_reminder(due)  # the other monitor counted it first


async def test_an_incidents_messages_go_out_in_order_even_with_two_senders(
    db: Database, pg_url: str, json_receiver: JsonReceiver
) -> None:
    box = box_for(db, json_receiver.url, language="en")
    facts = {"since_at": T0, "reason": "cli_hung", "name": "Shop", "host": "h"}
    thread = [
        Notice("outage_confirmed", "a", T0, "9", facts),
        Notice("cycle_started", "b", T0, "9", facts),
        Notice("recovered", "c", T0, "9", {**facts, "downtime_s": 60}),
    ]
    await box.publish([*thread, token_notice(1)])
    first = await box.due(T0)
    assert [d.title for d in first] == ["pbxwatch: 9 Shop — PBX down", "pbxwatch: eWeLink token expiring"]
    assert await box.claim(first[0], "crashed", T0)  # a sender died while sending the first one
    assert [d.title for d in await box.due(T0 + timedelta(minutes=1))] == ["pbxwatch: eWeLink token expiring"]
    later = T0 + timedelta(minutes=6)  # the dead sender's claim no longer holds the thread back
    assert next(d.title for d in await box.due(later)) == "pbxwatch: 9 Shop — power-cycle started"
    other_db = Database.from_url(pg_url)
    await other_db.prepare()
    try:
        clock = lambda: later  # noqa: E731
        a = sender_for(box, owner="a", clock=clock)
        b = sender_for(box_for(other_db, json_receiver.url, language="en"), owner="b", clock=clock)
        for _ in range(10):
            await asyncio.gather(a.send_due(), b.send_due())
    finally:
        await other_db.dispose()
    await json_receiver.wait_for(3)
    assert [t for t in json_receiver.titles() if " 9 " in t] == [
        "pbxwatch: 9 Shop — power-cycle started",
        "pbxwatch: 9 Shop — PBX recovered",
    ]


def test_a_flapping_unit_is_rate_limited_and_its_next_message_counts_what_was_held_back() -> None:
    from dataclasses import replace

    from pbxwatch.domain.policy import Policy
    from pbxwatch.domain.state import UnitState, WatchedUnit
    from pbxwatch.notify.sink import NoticeSink

    sink = NoticeSink(NotifySettings(unit_max_per_hour=2), Policy())
    unit = WatchedUnit("5", "127.0.1.5", auto_cycle=True, device_id="d")
    state = UnitState(outage_since=T0, confirmed=True)
    for i in range(5):
        sink.cycle_started(unit, replace(state, cycles=(T0,) * i), f"c{i}", T0 + timedelta(minutes=i))
    assert [n.facts["cycle"] for n in sink.queue] == ["c0", "c1"]
    sink.cycle_started(unit, replace(state, cycles=(T0,) * 9), "c9", T0 + timedelta(minutes=61))
    assert [n.facts["cycle"] for n in sink.queue] == ["c0", "c1", "c9"]
    _, body = render(sink.queue[-1], "en", 1)
    assert body.endswith("(3 more message(s) about this PBX suppressed: too frequent)")


def test_notify_urls_from_toml_files_and_a_route_file(tmp_path: Path) -> None:
    main, ops = tmp_path / "main-urls", tmp_path / "ops-urls"
    main.write_text("json://127.0.0.1:9/a\n", encoding="utf-8")
    ops.write_text("json://127.0.0.1:9/b\njson://127.0.0.1:9/c\n", encoding="utf-8")
    (tmp_path / "pbxwatch.toml").write_text(
        f'[notify]\nurls_file = "{main}"\n[[notify.routes]]\nurls_file = "{ops}"\nevents = ["token_dead"]\n',
        encoding="utf-8",
    )
    settings = load(tmp_path / "pbxwatch.toml", environ={}).settings
    routing = Routing.from_settings(settings.notify)
    assert [c.url for c in routing.channels_for(token_notice(1))] == ["json://127.0.0.1:9/a"]
    dead = Notice("token_dead", "d", T0, None, {})
    assert [c.url for c in routing.channels_for(dead)] == [f"json://127.0.0.1:9/{x}" for x in "abc"]


def test_the_monitor_metrics_listen_on_loopback_only(tmp_path: Path) -> None:
    from pbxwatch.config import ConfigError

    with pytest.raises(ConfigError, match=r"monitor\.metrics_host .*bind it to a loopback address"):
        load(environ={}, monitor={"metrics_host": "0.0.0.0"})


async def test_a_sender_leaves_alone_the_channels_it_is_not_configured_for(
    db: Database, json_receiver: JsonReceiver
) -> None:
    """The relay service and the monitor share the outbox; one may know URLs the other does not."""
    monitor_box = box_for(db, json_receiver.url)
    await monitor_box.publish([token_notice(1)])
    relay_without_channels = sender_for(box_for(db))
    relay_with_another = sender_for(box_for(db, "json://127.0.0.1:9/other"))
    assert await relay_without_channels.send_due() == 0
    assert await relay_with_another.send_due() == 0
    assert await sender_for(monitor_box).send_due() == 1
    assert len(await json_receiver.wait_for(1)) == 1
