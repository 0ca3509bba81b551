"""End to end with real processes: `pbxwatch monitor` + `pbxwatch relay serve` as subprocesses, the simulated
fleet (real SSH on 127.0.1.x, or its xdist worker's addresses: tests/loopback.py) and the simulated eWeLink
cloud in this process, and real PostgreSQL.

Assertions read the database, the simulated cloud's request log and the fleet's power state.
Timings are short (poll 1 s, retry 0.3 s, threshold 3, off 1 s); waits are bounded, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import insert, select

from pbxwatch.config import SYSTEM_CONFIG_ENV
from pbxwatch.db.engine import Database
from pbxwatch.db.tables import enterprises, unit_live_status, unit_status_history
from pbxwatch.sim.cloud import SimCloud
from pbxwatch.sim.cloud_state import SimCloudConfig, SimDevice
from pbxwatch.sim.fleet import Mode, SimFleet
from tests.loopback import address
from tests.monitor_harness import kinds
from tests.notify_receivers import JsonReceiver
from tests.pg_cluster import PgCluster, pg_cluster  # noqa: F401 -- the fixture

pytestmark = pytest.mark.slow

PBXWATCH = Path(sys.executable).with_name("pbxwatch")
APP_ID, APP_SECRET = "e2eappid0001", "e2eappsecret0001"
API_TOKEN = "e2e-relay-api-token-0123456789"
WAIT_S = 60.0
BOOT_DELAY_S = 3.0
CYCLE_ROWS = [
    "on→off",
    "ewelink_power_cycle success",
    "ewelink_toggle_off success",
    "ewelink_toggle_on success",
    "off→on",
]
MONITOR_ENV = {
    "PBXWATCH_POLL_INTERVAL": "1",
    "PBXWATCH_RETRY_INTERVAL": "0.3",
    "PBXWATCH_FAILURE_THRESHOLD": "3",
    "PBXWATCH_BOOT_GRACE": "30",
    "PBXWATCH_OFF_SECONDS": "1",
    "PBXWATCH_RELAY_RECHECK_INTERVAL": "1",
    "PBXWATCH_MASS_OUTAGE_MIN_UNITS": "5",
    "PBXWATCH_SSH_CONNECT_TIMEOUT": "2",
    "PBXWATCH_SSH_COMMAND_TIMEOUT": "3",
    "PBXWATCH_METRICS_PORT": "0",  # any free port (the heartbeat names it)
}


def device_id(i: int) -> str:
    return f"10000e{i:04d}"


@dataclass
class World:
    tmp: Path
    db_url: str
    fleet: SimFleet
    cloud: SimCloud
    db: Database
    relay_port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def relay_url(self) -> str:
        return f"http://127.0.0.1:{self.relay_port}"

    def env(self, run_dir: str = "run", **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PBXWATCH_") or k == SYSTEM_CONFIG_ENV}
        env.update({
            "PBXWATCH_DATABASE_URL": self.db_url, "PBXWATCH_LOG_DIR": str(self.tmp / "logs"),
            "PBXWATCH_RUN_DIR": str(self.tmp / run_dir), "PBXWATCH_RELAY_PORT": str(self.relay_port),
            "PBXWATCH_RELAY_URL": self.relay_url, "PBXWATCH_RELAY_API_TOKEN": API_TOKEN,
            "PBXWATCH_EWELINK_APP_ID": APP_ID, "PBXWATCH_EWELINK_APP_SECRET": APP_SECRET,
            "PBXWATCH_EWELINK_REDIRECT_URL": f"{self.relay_url}/ewelink-callback/",
            "PBXWATCH_EWELINK_TOKEN_FILE": str(self.tmp / "ewelink_token.json"),
            "PBXWATCH_EWELINK_API_URL": self.cloud.url, "PBXWATCH_EWELINK_OAUTH_URL": self.cloud.oauth_url,
            "PBXWATCH_SSH_USERNAME": self.fleet.username, "PBXWATCH_SSH_KEY_FILE": str(self.fleet.client_key_file),
            "PBXWATCH_SSH_KNOWN_HOSTS": str(self.fleet.known_hosts_file), **MONITOR_ENV,
        })  # fmt: skip
        env.update(extra)
        return env

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        out = (self.tmp / f"{name}.out").open("ab")
        proc = subprocess.Popen(
            [str(PBXWATCH), *args],
            cwd=self.tmp,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        out.close()
        self.procs[name] = proc
        return proc

    async def start_relay(self) -> None:
        self.spawn("relay", ["relay", "serve"], self.env())
        async with httpx.AsyncClient(timeout=5) as http:
            await eventually(lambda: _answers(http, f"{self.relay_url}/health"), what="relay service up")
            code = self.cloud.issue_code(f"{self.relay_url}/ewelink-callback/", region="eu")
            issued = await http.get(
                f"{self.relay_url}/ewelink-auth-url", headers={"Authorization": f"Bearer {API_TOKEN}"}
            )
            state = parse_qs(urlsplit(issued.json()["auth_url"]).query)["state"][0]
            reply = await http.get(
                f"{self.relay_url}/ewelink-callback/", params={"code": code, "region": "eu", "state": state}
            )
            assert reply.status_code == 200, reply.text

    def start_monitor(self, name: str = "monitor", **extra: str) -> subprocess.Popen[bytes]:
        return self.spawn(name, ["monitor"], self.env(run_dir=f"run-{name}", **extra))

    def heartbeat(self, name: str = "monitor") -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.tmp / f"run-{name}" / "monitor.heartbeat").read_text())
            return data
        except (OSError, ValueError):
            return {}

    async def add_units(self, count: int, *, auto: bool = True, start: int = 1) -> list[str]:
        numbers = []
        async with self.db.begin() as conn:
            for i in range(start, start + count):
                host = self.fleet.host(f"pbx{i:03d}")
                number = f"{500 + i}"
                await conn.execute(insert(enterprises).values(
                    number=number, name=f"E2E {i}", host=host.address, ssh_port=host.port, parameter_option_2=auto,
                    ewelink_device_id=device_id(i), active=True))  # fmt: skip
                numbers.append(number)
        return numbers

    def switches(self, device: str) -> list[bool]:
        """Relay switch requests that reached the cloud for this device: True = on."""
        states = []
        for request in self.cloud.requests("/v2/device/thing/status"):
            if request.method != "POST":
                continue
            body = json.loads(request.body or b"{}")
            if body.get("id") == device:
                params = body.get("params", {})
                switch = params.get("switch") or next((s.get("switch") for s in params.get("switches", [])), None)
                states.append(switch == "on")
        return states

    async def history(self, number: str) -> list[dict[str, Any]]:
        query = select(unit_status_history).where(unit_status_history.c.enterprise_number == number)
        async with self.db.connect() as conn:
            return [dict(r) for r in (await conn.execute(query.order_by(unit_status_history.c.id))).mappings()]

    async def live(self, number: str) -> dict[str, Any]:
        query = select(unit_live_status).where(unit_live_status.c.enterprise_number == number)
        async with self.db.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            return dict(row) if row else {}

    async def kinds(self, number: str) -> list[str]:
        return kinds(await self.history(number))

    async def all_online(self, numbers: list[str]) -> bool:
        rows = [await self.live(n) for n in numbers]
        return all(row.get("last_status") == "online" for row in rows)

    def stop_processes(self) -> None:
        for name in ("monitor", "monitor-b", "relay"):
            proc = self.procs.pop(name, None)
            if proc is None:
                continue
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def _answers(http: httpx.AsyncClient, url: str) -> bool:
    with suppress(httpx.HTTPError):
        await http.get(url)
        return True
    return False


async def eventually(predicate: Callable[[], Awaitable[bool]], *, timeout: float = WAIT_S, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened within {timeout:.0f} s: {what}")


@asynccontextmanager
async def world_on(
    db_url: str, tmp: Path, hosts: int, *, relay_offline: tuple[int, ...] = (), shared: tuple[int, ...] = ()
) -> AsyncIterator[World]:
    """``shared``: relays shared to the eWeLink account by their owner (itemType 2), the recommended setup."""
    # A PBX boots for a few seconds (longer than the relay service takes to read the relay back).
    async with SimFleet(hosts, state_dir=tmp / "fleet", base_address=address(), boot_delay=BOOT_DELAY_S) as fleet:
        by_device = {device_id(i): f"pbx{i:03d}" for i in range(1, hosts + 1)}

        async def power(device: str, outlet: int | None, on: bool) -> None:
            await fleet.set_power(by_device[device], on)

        devices = [
            SimDevice(
                d, f"Relay {d}", online=int(d[-4:]) not in relay_offline, item_type=2 if int(d[-4:]) in shared else 1
            )
            for d in by_device
        ]
        cloud = SimCloud(SimCloudConfig(app_id=APP_ID, app_secret=APP_SECRET), devices=devices, on_switch=power)
        await cloud.start()
        db = Database.from_url(db_url)
        await db.prepare()
        world = World(tmp, db_url, fleet, cloud, db, _free_port())
        try:
            yield world
        finally:
            await asyncio.to_thread(world.stop_processes)
            await db.dispose()
            await cloud.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---- the scenarios of the issue ---------------------------------------------------------------------


async def test_three_outages_a_dead_asterisk_auto_cycle_off_and_an_offline_relay(
    pg_url: str, tmp_path: Path, json_receiver: JsonReceiver
) -> None:
    """One world, three units, three stories at once (sharing the processes keeps the suite fast):

    - pbx001: its Asterisk dies → on→off, power_cycle, toggle_off, toggle_on, off→on; one off and one on
      reach the cloud; online again with ewelink_action_done false;
    - pbx002 (parameter_option_2 false): confirmed and recorded, never switched;
    - pbx003 (relay offline, and SHARED to the account — itemType 2): skipped_relay_offline once, no switch;
      the relay comes back while the PBX is still down → cycled.

    The monitor tells each incident through apprise to a real HTTP receiver: the exact messages per unit.
    """
    async with world_on(pg_url, tmp_path, 3, relay_offline=(3,), shared=(3,)) as w:
        [dies] = await w.add_units(1, start=1)
        [manual] = await w.add_units(1, auto=False, start=2)
        [dark] = await w.add_units(1, start=3)
        await w.start_relay()
        w.start_monitor(
            PBXWATCH_NOTIFY_URLS=json_receiver.url, PBXWATCH_NOTIFY_LANGUAGE="en", PBXWATCH_NOTIFY_MIN_LEVEL="info"
        )
        await eventually(lambda: w.all_online([dies, manual, dark]), what="baseline online")
        await w.fleet.set_mode("pbx001", Mode.ASTERISK_NOT_RUNNING)
        await w.fleet.set_mode("pbx002", Mode.CLI_HUNG)
        await w.fleet.set_mode("pbx003", Mode.ASTERISK_NOT_RUNNING)

        await eventually(lambda: _kinds_are(w, dies, CYCLE_ROWS), what="the cycle rows in order")
        await eventually(lambda: _live_is(w, dies, last_status="online", ewelink_action_done=False), what="online")
        assert w.switches(device_id(1)) == [False, True]
        assert w.fleet.host("pbx001").powered
        rows = await w.history(dies)
        assert {r["user_initiator"] for r in rows} == {"auto"}
        assert rows[1]["extra_info"]["device_id"] == device_id(1)

        await eventually(lambda: _kinds_are(w, manual, ["on→off"]), what="outage of the manual unit confirmed")
        await eventually(lambda: _counter_at_least(w, manual, 8), what="several more down checks")
        await eventually(lambda: _kinds_are(w, dark, ["on→off", "skipped_relay_offline"]), what="held")
        await eventually(lambda: _counter_at_least(w, dark, 10), what="re-checks while the relay is offline")
        assert await w.kinds(dark) == ["on→off", "skipped_relay_offline"]
        assert w.switches(device_id(3)) == []

        w.cloud.set_online(device_id(3), True)
        # The relay service serves GET /devices/{id} from its device list (up to 60 s old): allow for it.
        await eventually(
            lambda: _kinds_are(w, dark, ["on→off", "skipped_relay_offline", *CYCLE_ROWS[1:]]),
            timeout=120,
            what="cycled once the relay is back",
        )
        assert w.switches(device_id(3)) == [False, True]
        shared_reads = [
            json.loads(r.body)["thingList"]
            for r in w.cloud.requests("/v2/device/thing")
            if r.method == "POST" and r.path == "/v2/device/thing"
        ]
        assert any({"itemType": 2, "id": device_id(3)} in items for items in shared_reads)
        assert await w.kinds(manual) == ["on→off"]
        assert w.switches(device_id(2)) == []
        assert (await w.live(manual))["ewelink_action_done"] is False
        await json_receiver.wait_for(8)
        told = {
            n: [t.split(" — ")[-1] for t in json_receiver.titles() if t.startswith(f"pbxwatch: {n} ")]
            for n in (dies, manual, dark)
        }
        assert told == {
            dies: ["PBX down", "power-cycle started", "PBX recovered"],
            manual: ["PBX down"],
            dark: ["PBX down", "power-cycle held", "power-cycle started", "PBX recovered"],
        }
        held = next(
            m["message"] for m in json_receiver.messages if m["title"] == f"pbxwatch: {dark} E2E 3 — power-cycle held"
        )
        assert "the site has probably lost power or internet" in held
        log = (tmp_path / "logs" / "reboot_service.log").read_text(encoding="utf-8")
        assert f"unit {dies}" in log and "outage confirmed" in log and "automatic power-cycle" in log
        assert API_TOKEN not in log


async def test_a_mass_outage_is_held_and_a_unit_still_down_afterwards_is_cycled(pg_url: str, tmp_path: Path) -> None:
    async with world_on(pg_url, tmp_path, 10) as w:
        units = await w.add_units(10)
        await w.start_relay()
        w.start_monitor(PBXWATCH_RETRY_INTERVAL="1")  # every unit checked once a second: one sweep
        await eventually(lambda: w.all_online(units), what="baseline online")
        down = ["pbx001", "pbx002", "pbx003", "pbx004", "pbx005"]  # 5 down (the minimum), 50 % of the fleet
        await asyncio.gather(*(w.fleet.set_mode(name, Mode.ASTERISK_NOT_RUNNING) for name in down))
        await eventually(lambda: _all_held(w, units[:5]), what="one skipped_mass_outage row per down unit")
        for name in down:  # several more checks of each while 50 % are down
            await eventually(lambda name=name: _execs_grow(w.fleet.host(name), 3), what=f"more checks of {name}")
        for number in units[:5]:
            assert await w.kinds(number) == ["skipped_mass_outage"]
        assert all(w.switches(device_id(i)) == [] for i in range(1, 11))
        await asyncio.gather(*(w.fleet.set_mode(name, Mode.HEALTHY) for name in down[:4]))
        await eventually(lambda: _kinds_are(w, units[4], ["skipped_mass_outage", *CYCLE_ROWS]), what="cycled")
        assert w.switches(device_id(5)) == [False, True]
        for number in units[:4]:
            assert await w.kinds(number) == ["skipped_mass_outage"]
        assert all(w.switches(device_id(i)) == [] for i in (1, 2, 3, 4, 6, 7, 8, 9, 10))


async def test_three_of_eight_units_down_are_each_cycled_not_held_as_a_mass_outage(pg_url: str, tmp_path: Path) -> None:
    async with world_on(pg_url, tmp_path, 8) as w:
        units = await w.add_units(8)
        await w.start_relay()
        w.start_monitor(PBXWATCH_RETRY_INTERVAL="1")
        await eventually(lambda: w.all_online(units), what="baseline online")
        down = ["pbx002", "pbx005", "pbx007"]  # 3 of 8 (37 %), fewer than mass_outage_min_units (5) down
        await asyncio.gather(*(w.fleet.set_mode(name, Mode.ASTERISK_NOT_RUNNING) for name in down))
        for i in (2, 5, 7):
            number = units[i - 1]
            await eventually(lambda n=number: _cycled_once(w, n), what=f"unit {number} cycled")
            assert w.switches(device_id(i)) == [False, True]
        assert all(w.switches(device_id(i)) == [] for i in (1, 3, 4, 6, 8))
        assert not [k for n in units for k in await w.kinds(n) if k == "skipped_mass_outage"]


async def test_two_monitors_on_one_database_cycle_once_without_duplicate_rows(pg_url: str, tmp_path: Path) -> None:
    async with world_on(pg_url, tmp_path, 1) as w:
        [unit] = await w.add_units(1)
        await w.start_relay()
        w.start_monitor("monitor")
        w.start_monitor("monitor-b", PBXWATCH_EVENT_LOOP="asyncio")  # the escape hatch, should uvloop misbehave
        await eventually(lambda: _roles(w, {"active", "standby"}), what="one active, one standby")
        await eventually(lambda: w.all_online([unit]), what="baseline online")
        await w.fleet.set_mode("pbx001", Mode.ASTERISK_NOT_RUNNING)
        await eventually(lambda: _kinds_are(w, unit, CYCLE_ROWS), what="one cycle")
        await eventually(lambda: _execs_grow(w.fleet.host("pbx001"), 4), what="more checks after the recovery")
        assert await w.kinds(unit) == CYCLE_ROWS
        assert w.switches(device_id(1)) == [False, True]
        active = "monitor" if w.heartbeat("monitor")["role"] == "active" else "monitor-b"
        w.procs[active].send_signal(signal.SIGTERM)  # the standby takes over
        await asyncio.to_thread(w.procs[active].wait, 30)
        other = "monitor-b" if active == "monitor" else "monitor"
        await eventually(lambda: _true(w.heartbeat(other).get("role") == "active"), what="standby took over")
        assert w.procs[active].returncode == 0
        log = (tmp_path / "logs" / "reboot_service.log").read_text(encoding="utf-8")
        assert sorted(re.findall(r"monitor starting: .*, event loop (\w+)", log)) == ["asyncio", "uvloop"]


async def test_the_database_away_loses_no_row_and_starts_no_cycle(pg_cluster: PgCluster, tmp_path: Path) -> None:  # noqa: F811
    async with world_on(pg_cluster.url, tmp_path, 1) as w:
        [unit] = await w.add_units(1)
        await w.start_relay()
        monitor = w.start_monitor()
        await eventually(lambda: w.all_online([unit]), what="baseline online")
        await w.db.engine.dispose()
        await asyncio.to_thread(pg_cluster.stop)
        host = w.fleet.host("pbx001")
        await w.fleet.set_mode("pbx001", Mode.ASTERISK_NOT_RUNNING)
        await eventually(lambda: _execs_grow(host, 8), what="down checks while the database is away")
        await w.fleet.set_mode("pbx001", Mode.HEALTHY)
        await eventually(lambda: _execs_grow(host, 3), what="up checks while the database is away")
        await asyncio.to_thread(pg_cluster.start)
        await eventually(lambda: _kinds_are(w, unit, ["on→off", "off→on"]), what="the owed rows written")
        await eventually(lambda: _live_is(w, unit, last_status="online", failure_counter=0), what="live row")
        assert monitor.poll() is None
        assert w.switches(device_id(1)) == []
        log = (tmp_path / "logs" / "reboot_service.log").read_text(encoding="utf-8")
        assert "database unavailable" in log and "database is back" in log


# ---- helpers --------------------------------------------------------------------------------------


async def _true(value: bool) -> bool:
    return value


async def _kinds_are(w: World, number: str, expected: list[str]) -> bool:
    return await w.kinds(number) == expected


async def _cycled_once(w: World, number: str) -> bool:
    """The cycle's rows, after any request the relay refused because three cycles at once spent the real eWeLink
    call budget (429, audited as a failed power-cycle; the monitor asks again)."""
    rows = await w.history(number)
    refused = [r for r in rows if r["action_result"] == "fail"]
    if not all("call_budget_exceeded" in (r["error_message"] or "") for r in refused):
        return False
    return kinds([r for r in rows if r not in refused]) == CYCLE_ROWS


async def _live_is(w: World, number: str, **expected: Any) -> bool:
    row = await w.live(number)
    return all(row.get(k) == v for k, v in expected.items())


async def _counter_at_least(w: World, number: str, count: int) -> bool:
    return ((await w.live(number)).get("failure_counter") or 0) >= count


async def _all_held(w: World, numbers: list[str]) -> bool:
    found = [await w.kinds(n) for n in numbers]
    return all("skipped_mass_outage" in k for k in found)


async def _roles(w: World, expected: set[str]) -> bool:
    return {w.heartbeat("monitor").get("role"), w.heartbeat("monitor-b").get("role")} == expected


_execs: dict[int, int] = {}


async def _execs_grow(host: Any, by: int) -> bool:
    """True once the host has run `by` more probe commands than at the first call for this target."""
    key = id(host) * 1000 + by
    start = _execs.setdefault(key, host.execs)
    return bool(host.execs - start >= by)
