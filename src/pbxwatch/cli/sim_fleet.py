"""`pbxwatch sim fleet` — a simulated PBX fleet behind real SSH servers on loopback, until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from pbxwatch.cli.common import fail

Hosts = Annotated[int, typer.Option("--hosts", "-n", min=1, max=65000, help="How many PBXes.")]
Base = Annotated[str, typer.Option("--base-address", help="Address of the first host; the next get +1.")]
Port = Annotated[int, typer.Option("--port", min=0, max=65535, help="SSH port on every address (0: any free).")]
ControlPort = Annotated[int, typer.Option("--control-port", min=0, max=65535, help="HTTP control port (0: any).")]
StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", help="Host keys, client key, known_hosts (default: a new temporary directory)."),
]
Username = Annotated[str, typer.Option("--username", help="The SSH user the hosts accept (with the client key).")]
StackOpt = Annotated[str, typer.Option("--stack", help="sip or pjsip.")]
Prefix = Annotated[str, typer.Option("--name-prefix", help="Host names are <prefix>001, <prefix>002, ...")]
BootDelay = Annotated[float, typer.Option("--boot-delay", min=0, help="Seconds from power-on to SSH up.")]
Peers = Annotated[int, typer.Option("--peers", min=0, max=5000, help="SIP peers per host (the last one offline).")]
SshHung = Annotated[int, typer.Option("--ssh-hung", min=0, help="Start this many hosts (spread evenly) ssh_hung.")]


def fleet(
    hosts: Hosts = 3,
    base_address: Base = "127.0.1.1",
    port: Port = 2222,
    control_port: ControlPort = 0,
    state_dir: StateDir = None,
    username: Username = "pbxwatch",
    stack: StackOpt = "sip",
    name_prefix: Prefix = "pbx",
    boot_delay: BootDelay = 5.0,
    ssh_hung: SshHung = 0,
    peers: Peers = 4,
) -> None:
    """Serve N simulated PBXes; print `name host port` per host on stdout, then serve until Ctrl-C.

    The control URL, the client key and the known_hosts file are printed on stderr. Control API:
    GET /hosts, POST /hosts/{name}/mode {"mode": ...}, POST /hosts/{name}/power {"on": bool},
    POST /hosts/{name}/restart {"new_host_key": bool}, GET /known_hosts.
    """
    from pbxwatch.sim.fleet import FleetError

    if stack not in ("sip", "pjsip"):
        fail(f"--stack must be sip or pjsip, not {stack!r}")
    directory = state_dir or Path(tempfile.mkdtemp(prefix="pbxwatch-fleet-"))
    try:
        asyncio.run(
            _serve(
                hosts,
                base_address,
                port,
                control_port,
                directory,
                username,
                stack,
                name_prefix,
                boot_delay,
                ssh_hung,
                peers,
            )
        )
    except FleetError as err:
        fail(str(err))
    except OSError as err:
        fail(f"cannot start the fleet: {err.strerror or err} (is the port already in use?)")


async def _serve(
    count: int,
    base: str,
    port: int,
    control_port: int,
    directory: Path,
    username: str,
    stack: str,
    prefix: str,
    boot_delay: float,
    ssh_hung: int,
    peers: int,
) -> None:
    from pbxwatch.sim.fleet import Mode, SimFleet
    from pbxwatch.sim.fleet_scripts import default_peers

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if sys.version_info < (3, 12):  # 3.11 reaps each child with a new thread; pidfd is what 3.12 uses
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(loop)
        asyncio.set_child_watcher(watcher)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with SimFleet(
        count,
        state_dir=directory,
        base_address=base,
        port=port,
        username=username,
        stack="pjsip" if stack == "pjsip" else "sip",
        name_prefix=prefix,
        boot_delay=boot_delay,
        peers=default_peers(peers),
    ) as sim:
        names = list(sim.hosts)
        hung = min(ssh_hung, len(names))
        for i in range(hung):  # spread evenly through the fleet
            await sim.set_mode(names[(2 * i + 1) * len(names) // (2 * hung)], Mode.SSH_HUNG)
        control = await sim.serve_control("127.0.0.1", control_port)
        for host in sim.hosts.values():
            sys.stdout.write(f"{host.name} {host.address} {host.port}\n")
        sys.stdout.flush()
        sys.stderr.write(
            f"control http://127.0.0.1:{control}\nclient_key {sim.client_key_file}\n"
            f"known_hosts {sim.known_hosts_file}\nusername {username}\nready\n"
        )
        sys.stderr.flush()
        with contextlib.suppress(asyncio.CancelledError):
            await stop.wait()
