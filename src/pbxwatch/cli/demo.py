"""`pbxwatch demo` — see pbxwatch work in two minutes, with no eWeLink account and no real PBX."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from pbxwatch.cli.common import console, fail
from pbxwatch.demo.plan import MAX_HOSTS, MIN_HOSTS


def demo(
    hosts: Annotated[
        int, typer.Option("--hosts", min=MIN_HOSTS, max=MAX_HOSTS, help="Simulated PBXes (one unit each).")
    ] = 12,
    duration: Annotated[
        float, typer.Option("--duration", min=30, help="Give up if the story has not finished after this many seconds.")
    ] = 240.0,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave everything running after the story and print the URLs; Ctrl-C stops.")
    ] = False,
    workdir: Annotated[
        Path | None,
        typer.Option("--workdir", help="Where the database, logs and config go [default: a new temporary directory]."),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="Log level of the services.")] = "INFO",
) -> None:
    """Run the whole system on simulators and play a story you can watch.

    It starts a simulated eWeLink cloud, a simulated fleet of PBXes behind real SSH servers on loopback,
    the relay service and the monitor (real processes, short timings), authorizes with the simulated
    cloud, then: a PBX whose Asterisk hangs and will not restart is detected, power-cycled and comes back;
    a PBX whose Asterisk dies is restarted over SSH instead of power-cycled; a site whose relay
    is offline is left alone and reported; an enterprise without auto-reboot is only reported; a manual
    POST /toggle is audited. Exit code 0 only when every step happened as expected.
    """
    from pbxwatch.demo.runner import DemoOptions, run_demo

    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        fail(f"--log-level {log_level}: use DEBUG, INFO, WARNING or ERROR")
    target = workdir or Path(tempfile.mkdtemp(prefix="pbxwatch-demo-"))
    if workdir is not None and workdir.exists() and any(workdir.iterdir()):
        fail(f"--workdir {workdir} is not empty; give a new or empty directory")
    options = DemoOptions(
        workdir=target.resolve(), hosts=hosts, duration=duration, keep=keep, log_level=log_level.upper()
    )
    ok = asyncio.run(run_demo(options, console))
    console.print("[green]demo finished: every step happened as expected[/]" if ok else "[red]demo failed[/]")
    raise typer.Exit(0 if ok else 1)
