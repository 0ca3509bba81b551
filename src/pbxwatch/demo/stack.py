"""The demo's running parts: the two simulators in this process, the two services as real processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from pbxwatch.db.engine import Database
from pbxwatch.db.migrate import upgrade
from pbxwatch.db.units import upsert_units
from pbxwatch.demo.inbox import Inbox, Message
from pbxwatch.demo.plan import (
    BOOT_DELAY,
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    DemoUnit,
    config_toml,
)
from pbxwatch.sim.cloud import SimCloud
from pbxwatch.sim.cloud_state import SimCloudConfig, SimDevice
from pbxwatch.sim.fleet import SimFleet

SERVICE_START_TIMEOUT = 30.0
SERVICE_STOP_TIMEOUT = 20.0


class DemoError(Exception):
    """A part of the demo could not start; the message says which and where its output is."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    output: Path
    handle: IO[bytes] = field(repr=False)

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, then wait for a clean exit (the relay finishes pending "on"s); SIGKILL as a last resort."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(SERVICE_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.handle.close()
        return self.process.returncode


@dataclass
class DemoStack:
    """Everything the story needs, started in order by `start()` and stopped in reverse by `stop()`."""

    workdir: Path
    units: list[DemoUnit]
    log_level: str = "INFO"
    cloud: SimCloud | None = None
    fleet: SimFleet | None = None
    services: dict[str, Service] = field(default_factory=dict)
    relay_port: int = 0
    db: Database | None = None
    inbox: Inbox | None = None
    on_message: Callable[[Message], None] | None = None  # each notification as it reaches the inbox

    @property
    def config_file(self) -> Path:
        return self.workdir / "pbxwatch.toml"

    @property
    def relay_url(self) -> str:
        return f"http://127.0.0.1:{self.relay_port}"

    @property
    def database(self) -> Database:
        assert self.db is not None, "start() first"
        return self.db

    def unit_host(self, unit: DemoUnit) -> str:
        return unit.host_name

    async def start(self, progress: Callable[[str], None]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        progress("starting the simulated PBX fleet (SSH servers on 127.0.1.x)")
        self.fleet = SimFleet(
            len(self.units), state_dir=self.workdir / "fleet", boot_delay=BOOT_DELAY, name_prefix="pbx"
        )
        await self.fleet.start()
        progress("starting the simulated eWeLink cloud")
        self.cloud = SimCloud(
            SimCloudConfig(app_id=DEMO_APP_ID, app_secret=DEMO_APP_SECRET),
            devices=[
                SimDevice(u.device_id, f"Relay {u.name}", item_type=2 if u.shared_relay else 1)
                for u in self.units
                if u.device_id
            ],
            on_switch=self._power,
        )
        await self.cloud.start()
        self.relay_port = free_port()
        progress("starting a notification receiver on loopback (apprise json://)")
        self.inbox = Inbox(self.on_message)
        self.inbox.start()
        self.config_file.write_text(
            config_toml(
                self.workdir,
                relay_port=self.relay_port,
                cloud_url=self.cloud.url,
                oauth_url=self.cloud.oauth_url,
                ssh={
                    "username": self.fleet.username,
                    "key_file": str(self.fleet.client_key_file),
                    "known_hosts": str(self.fleet.known_hosts_file),
                },
                level=self.log_level,
                notify_url=self.inbox.url,
            ),
            encoding="utf-8",
        )
        progress(f"creating the database {self.workdir / 'pbxwatch.db'} and {len(self.units)} units")
        await self._database()
        progress(f"starting the relay service on {self.relay_url} (watch the story live: {self.relay_url}/)")
        self.services["relay"] = self._spawn("relay", "relay", "serve")
        await self._wait_health()
        progress("starting the monitor")
        self.services["monitor"] = self._spawn("monitor", "monitor")

    async def _power(self, device_id: str, outlet: int | None, on: bool) -> None:
        """The relay feeds the PBX: the cloud's switch drives the fleet's power input."""
        assert self.fleet is not None
        for unit in self.units:
            if unit.device_id == device_id:
                await self.fleet.set_power(unit.host_name, on)

    async def _database(self) -> None:
        self.db = Database.from_url(f"sqlite:///{self.workdir / 'pbxwatch.db'}")
        await upgrade(self.db)
        await self.db.prepare()
        assert self.fleet is not None
        rows = []
        for unit in self.units:
            host = self.fleet.host(unit.host_name)
            rows.append({
                "number": unit.number, "name": unit.name, "host": host.address, "ssh_port": host.port,
                "parameter_option_2": unit.auto_cycle, "ewelink_device_id": unit.device_id, "active": True,
            })  # fmt: skip
        async with self.db.begin() as conn:
            await upsert_units(conn, rows)

    def _spawn(self, name: str, *args: str) -> Service:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PBXWATCH_")}
        env["PBXWATCH_CONFIG"] = str(self.config_file)
        output = self.workdir / "logs" / f"{name}.out"
        output.parent.mkdir(parents=True, exist_ok=True)
        handle = output.open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "pbxwatch", *args],
            cwd=self.workdir, env=env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the demo only; it stops the services itself
        )  # fmt: skip
        return Service(name, process, output, handle)

    async def _wait_health(self) -> None:
        relay = self.services["relay"]
        deadline = asyncio.get_running_loop().time() + SERVICE_START_TIMEOUT
        async with httpx.AsyncClient(timeout=2.0) as http:
            while asyncio.get_running_loop().time() < deadline:
                if not relay.running():
                    raise DemoError(f"the relay service exited at start; see {relay.output}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.relay_url}/health")).status_code in (200, 503):
                        return
                await asyncio.sleep(0.2)
        raise DemoError(f"the relay service did not answer within {SERVICE_START_TIMEOUT:.0f} s; see {relay.output}")

    async def stop(self) -> None:
        for name in ("monitor", "relay"):
            service = self.services.pop(name, None)
            if service is not None:
                await asyncio.to_thread(service.stop)
        if self.inbox is not None:
            self.inbox.stop()
        if self.cloud is not None:
            await self.cloud.stop()
        if self.fleet is not None:
            await self.fleet.stop()
        if self.db is not None:
            await self.db.dispose()
