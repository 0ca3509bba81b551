"""A simulated fleet of Asterisk PBXes behind real SSH servers on loopback (docs/design.md §10).

    async with SimFleet(3, state_dir=tmp) as fleet:      # pbx001.. on 127.0.1.1, 127.0.1.2, ...
        fleet.client_key_file, fleet.known_hosts_file    # credentials for the prober
        await fleet.set_mode("pbx002", Mode.CLI_HUNG)
        await fleet.set_power("pbx003", False)           # off -> unreachable; on -> boots after boot_delay

Each host is an asyncssh server on its own 127.x address (port 0 = any free port) with its own host key
(persisted in `state_dir/<name>/`, so `restart()` keeps it unless asked to change it), accepting
`username` with the fleet's client key (and `password` when set). Every exec runs the client's command
through a real `/bin/sh` with fake `asterisk`, `pgrep` and `df` first on PATH printing real Asterisk
formats (chan_sip or PJSIP, configurable peers). Modes (`Mode`): healthy, asterisk_not_running,
cli_hung, ssh_hung (TCP accepted, no banner), unreachable (nothing listening), plus asterisk_missing,
permission_denied and command_hung (SSH answers, every command hangs). A power-cycle boots the host
with uptime 0 in mode healthy (unless the mode was set persistent). Fake `sudo` and `systemctl` are on
PATH too: `sudo -n systemctl restart asterisk` brings a dead or hung Asterisk back (uptime 0), unless
the mode was set with `restart_cures` false, when it fails with systemd's message and exit status 1.

HTTP control surface (`create_control_app(fleet)`, served by `serve_control()` or `pbxwatch sim fleet`):
    GET  /hosts                       -> [{"name", "host", "port", "mode", "effective_mode", "powered",
                                           "booting", "uptime", "stack", "peers", "disk_percent", ...}]
    GET  /hosts/{name}                -> one host (404 if unknown)
    POST /hosts/{name}/mode           {"mode": "cli_hung", "persistent": false, "restart_cures": true}
    POST /hosts/{name}/power          {"on": false}          (the eWeLink simulator's on_switch hook)
    POST /hosts/{name}/restart        {"new_host_key": false}
    GET  /known_hosts                 -> text/plain known_hosts lines for every host
Bad input gives 4xx with {"error": "..."}.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import logging
import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import asyncssh

from pbxwatch.sim.fleet_host import Credentials, FleetError, Mode, SimHost
from pbxwatch.sim.fleet_scripts import (
    DF_SCRIPT,
    PGREP_SCRIPT,
    SUDO_SCRIPT,
    SYSTEMCTL_SCRIPT,
    SimPeer,
    Stack,
    default_peers,
)

if TYPE_CHECKING:
    from pbxwatch.sim.fleet_control import ControlServer

logger = logging.getLogger(__name__)
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
START_BATCH = 100  # listeners started at once (host keys are generated on first start)

__all__ = ["FleetError", "Mode", "SimFleet", "SimPeer"]


class SimFleet:
    """N simulated PBXes. Use as `async with SimFleet(...) as fleet:`; see the module docstring."""

    def __init__(
        self,
        hosts: int = 3,
        *,
        state_dir: Path,
        base_address: str = "127.0.1.1",
        port: int = 0,
        username: str = "pbxwatch",
        password: str | None = None,
        stack: Stack = "sip",
        peers: list[SimPeer] | None = None,
        boot_delay: float = 2.0,
        name_prefix: str = "pbx",
        disk_percent: int = 42,
        uptime: float = 86400.0,
    ) -> None:
        self.addresses = _addresses(base_address, hosts)
        self.state_dir, self.port, self.boot_delay = state_dir, port, boot_delay
        self.username, self.password = username, password
        self._stack, self._peers = stack, list(peers) if peers is not None else default_peers()
        self._prefix, self._disk, self._uptime = name_prefix, disk_percent, uptime
        self.hosts: dict[str, SimHost] = {}
        self._control: ControlServer | None = None

    @property
    def client_key_file(self) -> Path:
        return self.state_dir / "client_key"

    @property
    def known_hosts_file(self) -> Path:
        return self.state_dir / "known_hosts"

    async def __aenter__(self) -> SimFleet:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        credentials = Credentials(self.username, [self._client_key().convert_to_public()], self.password)
        shared_bin = self._shared_bin()
        width = max(3, len(str(len(self.addresses))))
        for index, address in enumerate(self.addresses, start=1):
            name = f"{self._prefix}{index:0{width}d}"
            self.hosts[name] = SimHost(
                name,
                address,
                self.port,
                self.state_dir / name,
                credentials,
                stack=self._stack,
                peers=self._peers,
                disk_percent=self._disk,
                uptime=self._uptime,
                shared_bin=shared_bin,
            )
        hosts = list(self.hosts.values())
        for first in range(0, len(hosts), START_BATCH):
            await asyncio.gather(*(host.apply() for host in hosts[first : first + START_BATCH]))
        self.write_known_hosts()

    async def stop(self) -> None:
        if self._control is not None:
            await self._control.stop()
            self._control = None
        await asyncio.gather(*(host.stop() for host in self.hosts.values()), return_exceptions=True)

    def _client_key(self) -> Any:
        if self.client_key_file.exists():
            return asyncssh.read_private_key(str(self.client_key_file))
        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(str(self.client_key_file))
        self.client_key_file.chmod(0o600)
        return key

    def _shared_bin(self) -> Path:
        shared = self.state_dir / "bin"
        shared.mkdir(exist_ok=True)
        scripts = (("pgrep", PGREP_SCRIPT), ("df", DF_SCRIPT), ("sudo", SUDO_SCRIPT), ("systemctl", SYSTEMCTL_SCRIPT))
        for name, text in scripts:
            (shared / name).write_text(text, encoding="utf-8")
            (shared / name).chmod(0o755)
        return shared

    def host(self, name: str) -> SimHost:
        try:
            return self.hosts[name]
        except KeyError:
            raise FleetError(f"no simulated host named {name!r}") from None

    def targets(self) -> list[tuple[str, int]]:
        return [(host.address, host.port) for host in self.hosts.values()]

    def known_hosts_lines(self, *, hashed: bool = False) -> list[str]:
        """One line per host; `hashed`: as `ssh-keyscan -H` (or `HashKnownHosts yes`) writes them."""
        lines = []
        for host in self.hosts.values():
            public = host.host_key().export_public_key("openssh").decode().split()[:2]
            pattern = f"[{host.address}]:{host.port}"
            lines.append(f"{hash_known_host(pattern) if hashed else pattern} {' '.join(public)}")
        return lines

    def write_known_hosts(self, path: Path | None = None) -> Path:
        """What an operator's known_hosts would say about the fleet right now."""
        target = path or self.known_hosts_file
        target.write_text("\n".join(self.known_hosts_lines()) + "\n", encoding="utf-8")
        return target

    async def set_mode(
        self, name: str, mode: Mode | str, *, persistent: bool = False, restart_cures: bool = True
    ) -> None:
        """`restart_cures` False: `sudo -n systemctl restart asterisk` fails on this host (exit 1)."""
        host = self.host(name)
        try:
            host.mode = Mode(mode)
        except ValueError:
            raise FleetError(f"unknown mode {mode!r} (one of {', '.join(m.value for m in Mode)})") from None
        host.persistent_mode = persistent
        host.restart_cures = restart_cures
        await host.apply()
        logger.info("simulated PBX %s: mode %s", name, host.mode.value)

    async def set_power(self, name: str, on: bool) -> None:
        """Power input: off -> unreachable at once; on -> reachable after `boot_delay`, uptime from 0."""
        await self.host(name).set_power(on, self.boot_delay)
        logger.info("simulated PBX %s: power %s", name, "on" if on else "off")

    async def wait_booted(self, name: str) -> None:
        """Wait until a host that was powered on has finished booting."""
        await self.host(name).wait_booted()

    async def restart(self, name: str, *, new_host_key: bool = False) -> None:
        """Restart the host's sshd (its connections drop); optionally with a new host key."""
        host = self.host(name)
        await host.stop()
        if new_host_key:
            host.host_key(regenerate=True)
        await host.apply()

    def set_peers(self, name: str, peers: list[SimPeer], stack: Stack | None = None) -> None:
        host = self.host(name)
        host.peers = list(peers)
        host.stack = stack or host.stack
        host.write_asterisk()

    async def serve_control(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve the HTTP control surface on loopback in this loop; returns the port."""
        # Imported here so a fleet without a control surface (tests, benchmarks) never loads FastAPI/uvicorn.
        from pbxwatch.sim.fleet_control import ControlServer

        if ipaddress.ip_address(host) not in LOOPBACK:
            raise FleetError(f"the control surface listens on loopback only, not {host}")
        self._control = ControlServer(self)
        return await self._control.start(host, port)


def _addresses(base: str, count: int) -> list[str]:
    if not 1 <= count <= 65_000:
        raise FleetError(f"--hosts must be between 1 and 65000, not {count}")
    try:
        first = ipaddress.IPv4Address(base)
    except ValueError:
        raise FleetError(f"base address {base!r} is not an IPv4 address") from None
    last = int(first) + count - 1
    if first not in LOOPBACK or last > int(LOOPBACK.broadcast_address) - 1:
        raise FleetError(f"the fleet lives on loopback only: {base} + {count} hosts must stay inside 127.0.0.0/8")
    return [str(ipaddress.IPv4Address(int(first) + i)) for i in range(count)]


def hash_known_host(pattern: str) -> str:
    """OpenSSH's hashed spelling of a known_hosts host pattern: `|1|salt|HMAC-SHA1(salt, pattern)`, base64."""
    salt = os.urandom(20)
    digest = hmac.new(salt, pattern.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
