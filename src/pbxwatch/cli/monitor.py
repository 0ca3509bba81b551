"""`pbxwatch monitor` (the watchdog daemon) and `pbxwatch units rearm` (`pbxwatch status` is cli/status.py)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer

from pbxwatch.cli.common import cli_settings, console, fail, loaded_settings, open_database, run
from pbxwatch.config import ConfigError

log = logging.getLogger("pbxwatch.monitor")

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def monitor(ctx: typer.Context) -> None:
    """Run the watchdog: probe every active unit, record status and history, power-cycle dead PBXes.

    Logs to reboot_service.log in log_dir. SIGTERM/SIGINT finish the current writes and exit.
    """
    from pbxwatch.logs import setup_logging
    from pbxwatch.monitor.service import run_monitor
    from pbxwatch.probe.ssh import ProbeConfigError

    loaded = loaded_settings(ctx)
    settings = loaded.settings
    try:
        settings.require_ssh_credentials()
    except ConfigError as err:
        fail(str(err), 2)
    setup_logging(settings, "monitor", owner=True)

    async def body() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_monitor(settings, stop, config_file=loaded.config_file)

    try:
        run(body)
    except ProbeConfigError as err:
        log.error("cannot start the prober: %s", err)  # noqa: TRY400 -- a config problem: one line
        fail(str(err), 2)


def rearm(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The enterprise number.", show_default=False)],
) -> None:
    """Allow another automatic power-cycle in the current outage (after a cycle that did not help)."""
    from pbxwatch.logs import setup_logging
    from pbxwatch.monitor.levers import RearmError
    from pbxwatch.monitor.levers import rearm as clear_flag

    settings = cli_settings(ctx)
    setup_logging(settings, "monitor", owner=False, stderr=False)

    async def body() -> bool:
        async with open_database(settings) as db:
            return await clear_flag(db, number)

    try:
        cleared = run(body)
    except RearmError as err:
        fail(str(err))
    if cleared:
        log.info("unit %s rearmed by an operator (ewelink_action_done cleared)", number)
        console.print(f"unit {number} rearmed: the monitor may power-cycle it again if it is still down")
    else:
        console.print(f"unit {number} was not armed off (ewelink_action_done is already false): nothing to do")
