"""`pbxwatch monitor` (the watchdog daemon) and `pbxwatch units rearm` (`pbxwatch status` is cli/status.py)."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from datetime import UTC, datetime
from typing import Annotated

import typer

from pbxwatch.cli.common import cli_settings, console, fail, fast_loop, loaded_settings, open_database, run
from pbxwatch.config import ConfigError

log = logging.getLogger("pbxwatch.monitor")

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def monitor(ctx: typer.Context) -> None:
    """Run the watchdog: probe every active unit, record status and history, power-cycle dead PBXes.

    Logs to reboot_service.log in log_dir. SIGTERM/SIGINT finish the current writes and exit.

    Before any power-cycle (monitor.* settings, defaults in parentheses):
    - maintenance windows (pbxwatch maintenance): units are only checked;
    - flap hold: flap_max_outages (3) outages or flap_max_cycles (2) cycles
      in flap_window (21600 s), or over flap_failed_percent (30) % failed of
      the last flap_sample (20) checks: held ("unstable, needs a human")
      until stable for flap_stable_for (3600 s) or `pbxwatch units rearm`;
    - soft restart: with restart_command (none) (per unit: pbxwatch units
      ladder), a dead or hung Asterisk on a reachable host is restarted over
      SSH first, power-cycled only if still down after restart_grace (60 s).
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
        run(body, loop_factory=fast_loop(settings.monitor.event_loop))
        # Stopped and flushed: what is left in memory (a kept SSH connection per unit) goes back to the OS at
        # exit; letting the collector walk it first took 4 of the 8 s from SIGTERM to exit at 20,000 units.
        gc.freeze()
    except ProbeConfigError as err:
        log.error("cannot start the prober: %s", err)  # noqa: TRY400 -- a config problem: one line
        fail(str(err), 2)


def rearm(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The enterprise number.", show_default=False)],
    by: Annotated[str | None, typer.Option("--by", help="Who rearms it (default: the login name).")] = None,
) -> None:
    """Allow automatic action again: after a power-cycle that did not help (clears ewelink_action_done),
    and after a flap hold ("unstable, needs a human": writes a `rearmed` row, counting starts afresh)."""
    from pbxwatch.cli.maintenance import who
    from pbxwatch.db.flap import rearm_flap
    from pbxwatch.db.fleet_status import RearmError
    from pbxwatch.db.fleet_status import rearm as clear_flag
    from pbxwatch.logs import setup_logging

    settings = cli_settings(ctx)
    setup_logging(settings, "monitor", owner=False, stderr=False)

    async def body() -> tuple[bool, bool]:
        async with open_database(settings) as db:
            cleared = await clear_flag(db, number)
            return cleared, await rearm_flap(db, number, by=who(by), now=datetime.now(UTC))

    try:
        cleared, unheld = run(body)
    except RearmError as err:
        fail(str(err))
    if cleared:
        log.info("unit %s rearmed by an operator (ewelink_action_done cleared)", number)
        console.print(f"unit {number} rearmed: the monitor may power-cycle it again if it is still down")
    if unheld:
        log.info("unit %s: flap hold ended by an operator", number)
        console.print(f"unit {number}: flap hold ended; automatic action is allowed again (picked up within 30 s)")
    if not cleared and not unheld:
        console.print(f"unit {number} was not armed off (ewelink_action_done is already false): nothing to do")
