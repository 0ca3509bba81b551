"""`pbxwatch status [--json]` and `pbxwatch units rearm NUMBER` through the real CLI (a subprocess)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pbxwatch.db.engine import Database
from pbxwatch.domain.vocabulary import Reason
from tests.cli_helpers import pbxwatch
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


async def _cycled_and_held(db: Database, pg_url: str, tmp_path: Path) -> None:
    """Unit 200 cycled (ewelink_action_done true, still down); unit 201 held: no relay configured."""
    await add_unit(db, "200", "127.0.2.1")
    await add_unit(db, "201", "127.0.2.2", device=None)
    await add_unit(db, "202", "127.0.2.3")
    prober, relay = ScriptedProber(), FakeRelay()
    prober.reasons.update({"127.0.2.1": Reason.CLI_HUNG, "127.0.2.2": Reason.CONNECT_TIMEOUT})

    async def done() -> bool:
        row = await live(db, "200")
        return bool(row and row["ewelink_action_done"]) and kinds(await history(db, "201"))[-1:] == ["skipped_no_relay"]

    async with running_monitor(settings_for(pg_url, tmp_path), prober, relay):
        await eventually(done, what="a cycle and a hold")


async def test_status_json_and_table(db: Database, pg_url: str, tmp_path: Path) -> None:
    await _cycled_and_held(db, pg_url, tmp_path)
    env = {"PBXWATCH_DATABASE_URL": pg_url, "PBXWATCH_RUN_DIR": str(tmp_path / "run")}
    done = await asyncio.to_thread(pbxwatch, "status", "--json", cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stderr  # Nagios CRITICAL: a unit offline, and the monitor stopped
    data = json.loads(done.stdout)
    units = {u["number"]: u for u in data["units"]}
    assert units["200"]["status"] == "offline" and units["200"]["action_done"] is True
    assert units["201"]["hold_reason"] == "no relay configured (ewelink_device_id is empty)"
    assert units["201"]["last_action"] == "skipped_no_relay"
    assert (
        units["202"]["status"],
        units["202"]["failure_counter"],
        units["202"]["sip_ok"],
        units["202"]["sip_total"],
        units["202"]["disk_usage_percent"],
    ) == ("online", 0, 2, 3, 17)
    assert data["monitor"]["role"] == "stopped"
    assert units["200"]["state"] in {"boot grace", "offline"}  # just cycled: the grace may still run
    assert (units["201"]["state"], units["202"]["state"]) == ("held", "online")
    assert units["201"]["reason"] == "no_relay"
    table = await asyncio.to_thread(pbxwatch, "status", cwd=tmp_path, env=env)
    assert table.returncode == 2, table.stderr
    line_200 = next(line for line in table.stdout.splitlines() if line.startswith("200 "))
    assert f" {units['200']['state']} " in line_200 and " yes " in line_200  # cycled
    for text in ("skipped_no_relay", "no relay configured", "2/3", "17%", "online"):
        assert text in table.stdout, text


async def test_units_rearm(db: Database, pg_url: str, tmp_path: Path) -> None:
    await _cycled_and_held(db, pg_url, tmp_path)
    env = {"PBXWATCH_DATABASE_URL": pg_url, "PBXWATCH_LOG_DIR": str(tmp_path / "logs")}
    first = await asyncio.to_thread(pbxwatch, "units", "rearm", "200", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "unit 200 rearmed" in first.stdout
    assert (await live(db, "200") or {})["ewelink_action_done"] is False
    again = await asyncio.to_thread(pbxwatch, "units", "rearm", "200", cwd=tmp_path, env=env)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    unknown = await asyncio.to_thread(pbxwatch, "units", "rearm", "999", cwd=tmp_path, env=env)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: unit 999 does not exist"
    assert "unit 200 rearmed by an operator" in (tmp_path / "logs" / "reboot_service.log").read_text(encoding="utf-8")


async def test_monitor_without_ssh_username_says_so_in_one_line(pg_url: str, tmp_path: Path) -> None:
    done = await asyncio.to_thread(pbxwatch, "monitor", cwd=tmp_path, env={"PBXWATCH_DATABASE_URL": pg_url})
    assert done.returncode == 2
    assert "ssh.username is required" in done.stderr
    assert "Traceback" not in done.stderr
