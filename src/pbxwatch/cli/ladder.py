"""`pbxwatch units ladder NUMBER` — one enterprise's remediation ladder (soft restart, then power)."""

from __future__ import annotations

from typing import Annotated

import typer

from pbxwatch.cli.common import cli_settings, console, fail, open_database, run


def ladder(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The enterprise number.", show_default=False)],
    restart_command: Annotated[
        str | None, typer.Option("--restart-command", help="This unit's own soft restart command.")
    ] = None,
    power_only: Annotated[bool, typer.Option("--power-only", help="No soft restart: straight to the relay.")] = False,
    default: Annotated[bool, typer.Option("--default", help="Back to the settings (monitor.restart_command).")] = False,
) -> None:
    """Show or set how a dead Asterisk of this unit is remedied.

    With monitor.restart_command set (or --restart-command here), a unit
    whose SSH works but whose Asterisk is not running or hangs gets the
    command over SSH first, monitor.restart_grace seconds (60) to come back,
    and only then a power-cycle. Without options: show the unit's ladder.
    """
    from pbxwatch.db.ladders import Ladder, LadderError, get_ladder, set_ladder

    settings = cli_settings(ctx)
    chosen = [x for x in (restart_command is not None, power_only, default) if x]
    if len(chosen) > 1:
        fail("give one of --restart-command, --power-only or --default")
    wanted = None if default else Ladder(power_only=power_only, restart_command=restart_command)

    async def body() -> Ladder:
        async with open_database(settings) as db:
            if chosen:
                await set_ladder(db, number, wanted)
            return await get_ladder(db, number)

    try:
        found = run(body)
    except LadderError as err:
        fail(str(err))
    console.print(f"unit {number}: {found.describe(settings.monitor.restart_command)}", markup=False)
