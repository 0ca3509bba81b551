"""One simulated PBX: an asyncssh server on its own loopback address whose exec requests run through a
real `/bin/sh` with the host's fake `asterisk`, `pgrep` and `df` first on PATH.

What listens depends on the effective mode: an SSH server (healthy and the Asterisk faults), a bare TCP
listener that accepts and never sends a banner (`ssh_hung`), or nothing (`unreachable`, powered off,
booting). Leaving SSH service aborts the open SSH connections, as a crashed box would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import asyncssh

from pbxwatch.sim.fleet_scripts import RESTART_MARKER, SimPeer, Stack, asterisk_script

logger = logging.getLogger(__name__)
SHELL = "/bin/sh"
PUMP_CHUNK = 65536


class FleetError(ValueError):
    """Bad fleet parameters or an unknown host name (one-line message)."""


class Mode(StrEnum):
    HEALTHY = "healthy"
    ASTERISK_NOT_RUNNING = "asterisk_not_running"
    CLI_HUNG = "cli_hung"
    SSH_HUNG = "ssh_hung"
    UNREACHABLE = "unreachable"
    ASTERISK_MISSING = "asterisk_missing"  # the binary is not on the SSH user's PATH (exit 127)
    PERMISSION_DENIED = "permission_denied"  # the daemon runs, its control socket is not ours
    COMMAND_HUNG = "command_hung"  # SSH answers but every command hangs (a box stuck in swap or D state)


@dataclass
class Credentials:
    """Who the simulated sshd lets in."""

    username: str
    client_keys: list[Any] = field(default_factory=list)
    password: str | None = field(default=None, repr=False)


class _Server(asyncssh.SSHServer):
    def __init__(self, host: SimHost) -> None:
        self._host = host
        self._conn: Any = None

    def connection_made(self, conn: Any) -> None:
        self._conn = conn
        self._host.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self._host.connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return self._host.credentials.password is not None

    def validate_password(self, username: str, password: str) -> bool:
        creds = self._host.credentials
        return username == creds.username and password == creds.password

    def public_key_auth_supported(self) -> bool:
        return bool(self._host.credentials.client_keys)

    def validate_public_key(self, username: str, key: Any) -> bool:
        creds = self._host.credentials
        return username == creds.username and any(key == allowed for allowed in creds.client_keys)


class SimHost:
    """State and listeners of one simulated PBX. Driven by `SimFleet`; all methods run on its loop."""

    def __init__(
        self,
        name: str,
        address: str,
        port: int,
        home: Path,
        credentials: Credentials,
        *,
        stack: Stack,
        peers: list[SimPeer],
        disk_percent: int,
        uptime: float,
        shared_bin: Path,
    ) -> None:
        self.name, self.address, self.port = name, address, port
        self.home, self.credentials, self.shared_bin = home, credentials, shared_bin
        self.stack, self.peers, self.disk_percent = stack, peers, disk_percent
        self.mode = Mode.HEALTHY
        self.persistent_mode = False
        self.restart_cures = True  # `systemctl restart asterisk` brings a dead or hung Asterisk back
        self.restarts = 0  # Asterisk restarts asked for over SSH
        self.powered = True
        self.booting = False
        self.boot_at = time.monotonic() - uptime
        self.connections: set[Any] = set()
        self.execs = 0
        self._ssh: Any = None
        self._hung: asyncio.Server | None = None
        self._hung_socks: set[asyncio.StreamWriter] = set()
        self._boot_task: asyncio.Task[None] | None = None
        self._children: set[int] = set()
        (home / "bin").mkdir(parents=True, exist_ok=True)
        self.write_asterisk()

    @property
    def key_file(self) -> Path:
        return self.home / "ssh_host_ed25519_key"

    def host_key(self, *, regenerate: bool = False) -> Any:
        if regenerate or not self.key_file.exists():
            key = asyncssh.generate_private_key("ssh-ed25519")
            key.write_private_key(str(self.key_file))
            return key
        return asyncssh.read_private_key(str(self.key_file))

    def write_asterisk(self) -> None:
        path = self.home / "bin" / "asterisk"
        path.write_text(asterisk_script(self.stack, self.peers), encoding="utf-8")
        path.chmod(0o755)

    @property
    def effective_mode(self) -> Mode:
        return Mode.UNREACHABLE if not self.powered or self.booting else self.mode

    def uptime(self) -> int:
        return max(0, int(time.monotonic() - self.boot_at))

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.address,
            "port": self.port,
            "mode": self.mode.value,
            "effective_mode": self.effective_mode.value,
            "powered": self.powered,
            "booting": self.booting,
            "uptime": self.uptime() if self.effective_mode is not Mode.UNREACHABLE else None,
            "stack": self.stack,
            "peers": len(self.peers),
            "disk_percent": self.disk_percent,
            "connections": len(self.connections),
            "execs": self.execs,
            "restart_cures": self.restart_cures,
            "restarts": self.restarts,
        }

    async def apply(self) -> None:
        """Make the listeners match the effective mode."""
        mode = self.effective_mode
        if mode is not Mode.SSH_HUNG:
            await self._stop_hung()
        if mode in (Mode.SSH_HUNG, Mode.UNREACHABLE):
            await self._stop_ssh()
        if mode is Mode.SSH_HUNG and self._hung is None:
            self._hung = await asyncio.start_server(self._hold, self.address, self.port)
        elif mode not in (Mode.SSH_HUNG, Mode.UNREACHABLE) and self._ssh is None:
            await self._start_ssh()

    async def _start_ssh(self) -> None:
        self._ssh = await asyncssh.listen(
            self.address,
            self.port,
            server_host_keys=[self.host_key()],
            server_factory=lambda: _Server(self),
            process_factory=self._exec,
            encoding=None,
            allow_scp=False,
            sftp_factory=None,
            agent_forwarding=False,
            x11_forwarding=False,
            login_timeout=30,
            config=None,
        )
        self.port = self._ssh.get_port()

    async def _stop_ssh(self) -> None:
        if self._ssh is not None:
            self._ssh.close()
            await self._ssh.wait_closed()
            self._ssh = None
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()
        self._kill_children()

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._hung_socks.add(writer)  # accepted, never answered: an sshd that is hung
        with contextlib.suppress(ConnectionError):
            await reader.read()
        self._hung_socks.discard(writer)
        writer.close()

    async def _stop_hung(self) -> None:
        if self._hung is not None:
            self._hung.close()
            for writer in list(self._hung_socks):
                writer.transport.abort()
            self._hung_socks.clear()
            await self._hung.wait_closed()
            self._hung = None

    async def stop(self) -> None:
        if self._boot_task is not None:
            self._boot_task.cancel()
        await self._stop_hung()
        await self._stop_ssh()

    async def set_power(self, on: bool, boot_delay: float) -> None:
        if not on:
            if self._boot_task is not None:
                self._boot_task.cancel()
            self.powered, self.booting = False, False
        elif not self.powered:
            self.powered, self.booting = True, True
            self._boot_task = asyncio.get_running_loop().create_task(self._boot(boot_delay))
        await self.apply()

    async def wait_booted(self) -> None:
        """Return once a pending boot has finished (SSH listening again)."""
        if self._boot_task is not None and not self._boot_task.done():
            await asyncio.shield(self._boot_task)

    async def _boot(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.booting = False
        self.boot_at = time.monotonic()
        if not self.persistent_mode:
            self.mode = Mode.HEALTHY  # a power-cycle cures a hung Asterisk unless the fault is persistent
        await self.apply()
        logger.info("simulated PBX %s booted (mode %s)", self.name, self.mode.value)

    def _env(self) -> dict[str, str]:
        mode = self.effective_mode
        path = f"{self.shared_bin}:/usr/bin:/bin"
        if mode is not Mode.ASTERISK_MISSING:
            path = f"{self.home / 'bin'}:{path}"
        return {
            "PATH": path,
            "HOME": str(self.home),
            "PBXSIM_MODE": mode.value,
            "PBXSIM_UPTIME": str(self.uptime()),
            "PBXSIM_DISK": str(self.disk_percent),
            "PBXSIM_RESTART": "cures" if self.restart_cures else "fails",
        }

    async def _exec(self, process: Any) -> None:
        self.execs += 1
        command = process.command
        if command is None:
            process.stderr.write(b"simulated PBX: interactive shells are not supported\n")
            process.exit(1)
            return
        if self.effective_mode is Mode.COMMAND_HUNG:
            await process.channel.wait_closed()  # a box stuck in swap or D state: nothing it runs ever returns
            return
        proc = await asyncio.create_subprocess_exec(
            SHELL,
            "-c",
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._env(),
            start_new_session=True,
        )
        self._children.add(proc.pid)
        closed = asyncio.ensure_future(process.channel.wait_closed())
        work = asyncio.ensure_future(self._relay(proc, process))
        try:
            await asyncio.wait({closed, work}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            _kill_group(proc.pid)  # the client went away (or we are done): no orphan `sleep` on the host
            self._children.discard(proc.pid)
            closed.cancel()
            work.cancel()
            await asyncio.gather(work, closed, return_exceptions=True)
            self._apply_restart()

    def _apply_restart(self) -> None:
        """The fake `systemctl restart asterisk` left its marker: Asterisk starts afresh."""
        marker = self.home / RESTART_MARKER
        if not marker.exists():
            return
        marker.unlink(missing_ok=True)
        self.restarts += 1
        if self.mode in (Mode.ASTERISK_NOT_RUNNING, Mode.CLI_HUNG):
            self.mode = Mode.HEALTHY
        self.boot_at = time.monotonic()  # `core show uptime` is Asterisk's own uptime
        logger.info("simulated PBX %s: Asterisk restarted (mode %s)", self.name, self.mode.value)

    @staticmethod
    async def _relay(proc: asyncio.subprocess.Process, process: Any) -> None:
        with contextlib.suppress(asyncssh.Error, ConnectionError):
            await asyncio.gather(_pump(proc.stdout, process.stdout), _pump(proc.stderr, process.stderr))
            status = await proc.wait()
            process.exit(status if status >= 0 else 128 - status)

    def _kill_children(self) -> None:
        for pid in list(self._children):
            _kill_group(pid)


async def _pump(source: asyncio.StreamReader | None, sink: Any) -> None:
    if source is None:
        return
    while chunk := await source.read(PUMP_CHUNK):
        sink.write(chunk)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
