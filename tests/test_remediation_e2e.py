"""End to end with real processes (`pbxwatch monitor`, `pbxwatch relay serve`, the CLI) on the simulated
fleet (real SSH), the simulated eWeLink cloud and real PostgreSQL: maintenance windows, the flap hold and
the soft restart ladder as an operator sees them — history rows, relay switches, the fleet's restarts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pbxwatch.sim.fleet import Mode
from tests.test_monitor_e2e import (
    CYCLE_ROWS,
    PBXWATCH,
    World,
    _execs_grow,
    _kinds_are,
    _live_is,
    device_id,
    eventually,
    world_on,
)

pytestmark = pytest.mark.slow

RESTART = "sudo -n systemctl restart asterisk"
CONFIG = f"""
[monitor]
restart_command = "{RESTART}"
restart_grace = 20
flap_max_outages = 2
flap_failed_percent = 0
"""
RESTARTED = ["on→off", "asterisk_restart success", "off→on"]


async def cli(w: World, *args: str) -> str:
    """Run `pbxwatch ARGS` as an operator would (without blocking the simulators on this loop)."""
    proc = await asyncio.create_subprocess_exec(
        str(PBXWATCH), *args, cwd=w.tmp, env=w.env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


def start(w: World) -> None:
    config = w.tmp / "pbxwatch.toml"
    config.write_text(CONFIG, encoding="utf-8")
    w.start_monitor(PBXWATCH_CONFIG=str(config))


def log_text(tmp: Path) -> str:
    return (tmp / "logs" / "reboot_service.log").read_text(encoding="utf-8")


async def test_maintenance_and_the_soft_restart_ladder(pg_url: str, tmp_path: Path) -> None:
    """Three units, three stories at once:

    - pbx001 in a maintenance window goes down: recorded offline, never restarted or cycled, no outage
      event; when the window is ended by the CLI it is a new outage: confirmed, restarted over SSH, back;
    - pbx002's Asterisk dies: restarted over SSH, back, never power-cycled;
    - pbx003's Asterisk dies and its restart fails: power-cycled once.
    """
    async with world_on(pg_url, tmp_path, 3) as w:
        paused, restarted, stubborn = await w.add_units(3)
        await w.start_relay()
        start(w)
        await eventually(lambda: w.all_online([paused, restarted, stubborn]), what="baseline online")
        said = await cli(w, "maintenance", "add", paused, "--for", "2h", "--reason", "disk swap", "--by", "ivanov")
        assert "maintenance window 1" in said
        await eventually(lambda: _kinds_are(w, paused, ["maintenance_start"]), what="maintenance_start row")

        host = w.fleet.host("pbx001")
        await w.fleet.set_mode("pbx001", Mode.ASTERISK_NOT_RUNNING)
        await w.fleet.set_mode("pbx002", Mode.ASTERISK_NOT_RUNNING)
        await w.fleet.set_mode("pbx003", Mode.ASTERISK_NOT_RUNNING, restart_cures=False)

        await eventually(lambda: _kinds_are(w, restarted, RESTARTED), what="pbx002 restarted and back")
        assert w.switches(device_id(2)) == [] and w.fleet.host("pbx002").restarts == 1
        rows = await w.history(restarted)
        assert rows[1]["extra_info"]["command"] == RESTART and rows[1]["extra_info"]["exit_status"] == 0

        await eventually(
            lambda: _kinds_are(w, stubborn, ["on→off", "asterisk_restart fail", *CYCLE_ROWS[1:]]),
            what="pbx003: the restart failed, then one power-cycle",
        )
        assert w.switches(device_id(3)) == [False, True]
        failed = (await w.history(stubborn))[1]
        assert "Job for asterisk.service failed" in failed["extra_info"]["output"]

        await eventually(lambda: _live_is(w, paused, last_status="offline"), what="pbx001 recorded offline")
        await eventually(lambda: _execs_grow(host, 10), what="many failed checks in the window")
        assert await w.kinds(paused) == ["maintenance_start"]
        assert w.switches(device_id(1)) == [] and host.restarts == 0
        assert f"event outage_confirmed unit {paused}" not in log_text(tmp_path)
        listed = await cli(w, "maintenance", "list")
        assert "disk swap" in listed and "running" in listed

        await cli(w, "maintenance", "end", paused, "--by", "petrov")
        await eventually(
            lambda: _kinds_are(w, paused, ["maintenance_start", "maintenance_end", *RESTARTED]),
            what="after the window: a new outage, restarted, back",
        )
        rows = await w.history(paused)
        assert [r["user_initiator"] for r in rows[:2]] == ["ivanov", "ivanov"]
        assert rows[0]["error_message"] == "disk swap"
        assert w.switches(device_id(1)) == [] and host.restarts == 1
        text = log_text(tmp_path)
        assert f"event maintenance_start unit {paused}" in text and f"event soft_restart unit {restarted}" in text


async def test_a_flapping_unit_is_held_and_rearmed_by_the_cli(pg_url: str, tmp_path: Path) -> None:
    """flap_max_outages = 2: the second outage is held (one `held` row, no restart, no cycle) until
    `pbxwatch units rearm`; then the ladder runs again (a restart that fails, one power-cycle)."""
    async with world_on(pg_url, tmp_path, 1) as w:
        [unit] = await w.add_units(1)
        await w.start_relay()
        start(w)
        await eventually(lambda: w.all_online([unit]), what="baseline online")
        host = w.fleet.host("pbx001")
        await w.fleet.set_mode("pbx001", Mode.ASTERISK_NOT_RUNNING)
        await eventually(lambda: _kinds_are(w, unit, RESTARTED), what="first outage: restarted")

        await w.fleet.set_mode("pbx001", Mode.ASTERISK_NOT_RUNNING, restart_cures=False)
        await eventually(lambda: _kinds_are(w, unit, [*RESTARTED, "on→off", "held"]), what="held")
        await eventually(lambda: _execs_grow(host, 10), what="many more failed checks while held")
        assert await w.kinds(unit) == [*RESTARTED, "on→off", "held"]
        held = (await w.history(unit))[-1]
        assert held["error_message"].startswith("unstable, needs a human: 2 confirmed outages in 6 h")
        assert w.switches(device_id(1)) == [] and host.restarts == 1
        assert f"event held_unstable unit {unit}" in log_text(tmp_path)

        said = await cli(w, "units", "rearm", unit, "--by", "petrov")
        assert "flap hold ended" in said
        await eventually(
            lambda: _kinds_are(
                w, unit, [*RESTARTED, "on→off", "held", "rearmed", "asterisk_restart fail", *CYCLE_ROWS[1:]]
            ),
            what="rearmed: the ladder again, down to one power-cycle",
        )
        assert (await w.history(unit))[5]["user_initiator"] == "petrov"
        assert w.switches(device_id(1)) == [False, True]
