"""Maintenance windows through the relay service (`/maintenance`) and the CLI, on one database: what one
sets the other sees, and the dashboard's `active_windows(now)` names the paused units."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from pbxwatch.db.engine import Database
from pbxwatch.db.maintenance import active_windows
from tests.cli_helpers import pbxwatch
from tests.relay_fixtures import RelayEnv
from tests.test_dashboard import login


def windows(relay: RelayEnv, **params: Any) -> list[dict[str, Any]]:
    reply = relay.get("/maintenance", params=params)
    assert reply.status_code == 200, reply.text
    found: list[dict[str, Any]] = reply.json()["windows"]
    return found


def test_windows_are_added_listed_and_ended_through_the_api(relay: RelayEnv) -> None:
    reply = relay.post(
        "/maintenance", json={"units": ["101", "102"], "for": "2h", "reason": "router swap", "set_by": "ivanov"}
    )
    assert reply.status_code == 201, reply.text
    added = reply.json()["windows"]
    assert [(w["unit"], w["running"], w["set_by"]) for w in added] == [("101", True, "ivanov"), ("102", True, "ivanov")]
    reply = relay.post(
        "/maintenance", json={"all": True, "weekly": "sun 02:00-04:00", "reason": "backups", "set_by": "ops"}
    )
    assert reply.status_code == 201, reply.text
    assert [w["unit"] for w in windows(relay)] == ["101", "102", None]

    reply = relay.post("/maintenance/end", json={"units": ["101"], "by": "petrov"})
    assert [w["unit"] for w in reply.json()["windows"]] == ["101"]
    assert [w["unit"] for w in windows(relay)] == ["102", None]
    assert [w["unit"] for w in windows(relay, past="true")] == ["101", "102", None]


def test_bad_windows_are_refused_with_one_clear_message(relay: RelayEnv) -> None:
    cases = [
        ({"units": ["101"], "for": "2x", "reason": "r", "set_by": "me"}, 422, "cannot read the duration"),
        (
            {"units": ["101"], "for": "2h", "weekly": "sun 02:00-04:00", "reason": "r", "set_by": "me"},
            422,
            "exactly one of",
        ),
        ({"units": ["101"], "weekly": "someday 02:00-04:00", "reason": "r", "set_by": "me"}, 422, "unknown day"),
        ({"units": ["101"], "until": "2001-01-01 10:00", "reason": "r", "set_by": "me"}, 422, "in the past"),
        ({"units": ["999"], "for": "2h", "reason": "r", "set_by": "me"}, 404, "no such unit: 999"),
        ({"for": "2h", "reason": "r", "set_by": "me"}, 422, "give units or all"),
        ({"units": ["101"], "for": "2h", "reason": "", "set_by": "me"}, 422, "reason"),
    ]
    for body, status, text in cases:
        reply = relay.post("/maintenance", json=body)
        assert reply.status_code == status, (body, reply.text)
        assert text in reply.json()["message"], (body, reply.text)
    assert windows(relay) == []
    blank = relay.post("/maintenance/end", json={"units": ["101"], "by": "   "})  # found by the fuzz test
    assert blank.status_code == 422 and "who ended it must not be empty" in blank.json()["message"]


def test_the_cli_and_the_api_share_the_windows(relay: RelayEnv, tmp_path: Path) -> None:
    env = relay.env_vars()
    added = pbxwatch(
        "maintenance", "add", "101", "--for", "90m", "--reason", "disk swap", "--by", "ivanov", cwd=tmp_path, env=env
    )
    assert added.returncode == 0, added.stderr
    assert [(w["unit"], w["reason"], w["running"]) for w in windows(relay)] == [("101", "disk swap", True)]
    relay.post("/maintenance", json={"all": True, "for": "1h", "reason": "core switch", "set_by": "noc"})
    listed = pbxwatch("maintenance", "list", cwd=tmp_path, env=env)
    assert "disk swap" in listed.stdout and "core switch" in listed.stdout and "all units" in listed.stdout
    ended = pbxwatch("maintenance", "end", "--all", cwd=tmp_path, env=env)
    assert ended.returncode == 0 and "core switch" in ended.stdout
    refused = pbxwatch("maintenance", "add", "101", "--for", "2h", cwd=tmp_path, env=env)
    assert refused.returncode == 1 and refused.stderr.startswith("error: --reason is required")
    assert "Traceback" not in refused.stderr


def test_active_windows_names_every_paused_unit(relay: RelayEnv) -> None:
    relay.post("/maintenance", json={"units": ["102"], "for": "1h", "reason": "swap", "set_by": "ivanov"})
    now = datetime.now(UTC)
    sunday_3am = datetime(2026, 12, 6, 3, 0, tzinfo=ZoneInfo("Europe/Moscow"))
    relay.post("/maintenance", json={"all": True, "weekly": "sun 02:00-04:00", "reason": "backups", "set_by": "ops"})

    async def read(at: datetime, zone: ZoneInfo) -> dict[str, str]:
        db = Database.from_url(relay.settings().database_url)
        try:
            return {n: w.reason for n, w in (await active_windows(db, at, zone)).items()}
        finally:
            await db.dispose()

    assert asyncio.run(read(sunday_3am, ZoneInfo("Europe/Moscow"))) == {"101": "backups", "102": "backups"}
    if now.astimezone(ZoneInfo("Europe/Moscow")).weekday() != 6:  # not Sunday night in Moscow right now
        assert asyncio.run(read(now, ZoneInfo("Europe/Moscow"))) == {"102": "swap"}
    assert asyncio.run(read(now + timedelta(hours=2), UTC)).get("102") != "swap"


def test_the_dashboards_rearm_button_ends_a_flap_hold(relay: RelayEnv) -> None:
    relay.sql(
        "INSERT INTO unit_status_history (enterprise_number, prev_status, new_status, change_time, "
        "action_type, user_initiator, error_message, extra_info) VALUES ('101', 'on', 'on', "
        "now() - interval '1 minute', 'held', 'auto', 'unstable, needs a human: 3 confirmed outages', '{}')"
    )
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        csrf = login(relay, client)
        reply = client.post(f"{relay.url}/unit/101/rearm", data={"csrf": csrf})
    assert reply.status_code == 303 and reply.headers["location"].endswith("done=rearm")
    assert [r["user_initiator"] for r in relay.audit_rows("rearmed")] == ["user"]


def test_the_dashboard_shows_a_unit_in_maintenance_as_paused(relay: RelayEnv) -> None:
    relay.sql("UPDATE unit_live_status SET last_checked_at = now() WHERE enterprise_number IN ('101', '102')")
    relay.post("/maintenance", json={"units": ["102"], "for": "1h", "reason": "router swap", "set_by": "ivanov"})
    with httpx.Client(timeout=30) as client:
        page = client.get(f"{relay.url}/fleet/table", params={"q": "", "state": "", "page": 1}).text
    row = page[page.index('data-unit="102"') :]
    row = row[: row.index("</tr>")]
    assert 'data-state="paused"' in row and "router swap (ivanov)" in row
    assert 'data-unit="101" data-state="paused"' not in page


def test_status_and_the_units_api_show_a_unit_in_maintenance_as_paused(relay: RelayEnv, tmp_path: Path) -> None:
    relay.sql("UPDATE unit_live_status SET last_checked_at = now() WHERE enterprise_number IN ('101', '102')")
    relay.post("/maintenance", json={"units": ["102"], "for": "1h", "reason": "router swap", "set_by": "ivanov"})
    units = {u["number"]: u for u in relay.get("/units").json()["units"]}
    assert (units["102"]["state"], units["102"]["reason"]) == ("paused", "router swap (ivanov)")
    assert units["101"]["state"] != "paused"
    shown = pbxwatch("status", "--state", "paused", cwd=tmp_path, env=relay.env_vars())
    lines = [line for line in shown.stdout.splitlines() if line.startswith(("101", "102"))]
    assert len(lines) == 1 and lines[0].startswith("102") and "paused" in lines[0], shown.stdout


def test_the_dashboards_pause_button_opens_a_window_set_by_the_user(relay: RelayEnv) -> None:
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        anonymous = client.post(f"{relay.url}/unit/102/pause", data={"for": "2h", "reason": "x"})
        csrf = login(relay, client)
        form = client.get(f"{relay.url}/unit/102/confirm/pause").text
        odd = client.post(f"{relay.url}/unit/102/pause", data={"csrf": csrf, "for": "1000h", "reason": "x"})
        reply = client.post(f"{relay.url}/unit/102/pause", data={"csrf": csrf, "for": "2h", "reason": "router swap"})
    assert anonymous.status_code == 401 and odd.status_code == 422
    assert 'name="for"' in form and "102" in form
    assert reply.status_code == 303 and reply.headers["location"].endswith("done=pause")
    assert [(w["unit"], w["reason"], w["set_by"], w["running"]) for w in windows(relay)] == [
        ("102", "router swap", "user", True)
    ]
