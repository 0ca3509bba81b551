"""Fixtures for tests that probe simulated PBXes over real SSH on loopback.

``fleet``: an in-process `SimFleet` of 3 hosts (function scope, ~0.1 s to start); ``prober``: an
`SshProber` with the fleet's client key and known_hosts and short timeouts; ``probe_options(fleet, ...)``
builds options; ``fleet_process``: `pbxwatch sim fleet` started as a separate process (for CLI tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pbxwatch.config import SYSTEM_CONFIG_ENV
from pbxwatch.probe import ProbeOptions, SshProber
from pbxwatch.sim.fleet import SimFleet
from tests.loopback import address

# Short but not tight: the suite runs on 2 busy cores.
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 3.0
BOOT_DELAY = 0.3
PBXWATCH = Path(sys.executable).with_name("pbxwatch")


def probe_options(fleet: SimFleet, **overrides: Any) -> ProbeOptions:
    values: dict[str, Any] = {
        "username": fleet.username,
        "key_file": fleet.client_key_file,
        "known_hosts": fleet.known_hosts_file,
        "connect_timeout": CONNECT_TIMEOUT,
        "command_timeout": COMMAND_TIMEOUT,
        "concurrency": 50,
    }
    values.update(overrides)
    return ProbeOptions(**values)


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[SimFleet]:
    async with SimFleet(3, state_dir=tmp_path / "fleet", base_address=address(), boot_delay=BOOT_DELAY) as sim:
        yield sim


@pytest.fixture
async def prober(fleet: SimFleet) -> AsyncIterator[SshProber]:
    async with SshProber(probe_options(fleet)) as probe:
        yield probe


@dataclass
class FleetProcess:
    hosts: list[tuple[str, str, int]]  # name, address, port
    control: str
    state_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PBXWATCH_") or k == SYSTEM_CONFIG_ENV}
        env.update(
            PBXWATCH_SSH_USERNAME="pbxwatch",
            PBXWATCH_SSH_KEY_FILE=str(self.state_dir / "client_key"),
            PBXWATCH_SSH_KNOWN_HOSTS=str(self.state_dir / "known_hosts"),
            PBXWATCH_SSH_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
            PBXWATCH_SSH_COMMAND_TIMEOUT=str(COMMAND_TIMEOUT),
            PBXWATCH_LOG_DIR=str(self.state_dir / "logs"),
        )
        env.update(extra)
        return env


@pytest.fixture
def fleet_process(tmp_path: Path) -> Iterator[FleetProcess]:
    state = tmp_path / "fleet-process"
    proc = subprocess.Popen(
        [
            str(PBXWATCH),
            "sim",
            "fleet",
            "--hosts",
            "2",
            "--port",
            "0",
            "--state-dir",
            str(state),
            "--base-address",
            address(),
            "--boot-delay",
            str(BOOT_DELAY),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        hosts = [_host_line(proc) for _ in range(2)]
        control = _control_line(proc)
        yield FleetProcess(hosts, control, state)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _host_line(proc: subprocess.Popen[str]) -> tuple[str, str, int]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"pbxwatch sim fleet exited early: {proc.stderr.read() if proc.stderr else ''}"
    name, address, port = line.split()
    return name, address, int(port)


def _control_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.startswith("control "):
            return line.split()[1]
        assert line, "pbxwatch sim fleet exited before printing its control URL"
    raise AssertionError("no control URL from pbxwatch sim fleet")
