"""The `pbxwatch` command line. Each command group lives in its own module and is registered here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pbxwatch import __version__

app = typer.Typer(
    name="pbxwatch",
    help="Keeps a fleet of Asterisk PBXes alive: probes them over SSH, records status, power-cycles hung ones.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
sim_app = typer.Typer(
    help="Simulators of the eWeLink cloud and of a PBX fleet (demo, tests, benchmarks).", no_args_is_help=True
)
app.add_typer(sim_app, name="sim")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pbxwatch {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="TOML config file. Default: $PBXWATCH_CONFIG, else ./pbxwatch.toml, else /etc/pbxwatch/pbxwatch.toml.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Keeps a fleet of Asterisk PBXes alive.

    Settings come from the TOML file and PBXWATCH_* environment variables (see `pbxwatch config show`).
    """
    ctx.meta["pbxwatch.config_file"] = config


def _register() -> None:
    from pbxwatch.cli import config_cmd, db, relay, units

    app.add_typer(db.app, name="db")
    app.add_typer(units.app, name="units")
    app.add_typer(config_cmd.app, name="config")
    app.add_typer(relay.app, name="relay")
    from pbxwatch.cli import monitor as monitor_cmd  # `monitor`, `status`, `units rearm`
    monitor_cmd.register(app, units.app)
    from pbxwatch.cli import probe as probe_cmd  # `probe`
    probe_cmd.register(app)
    from pbxwatch.cli import sim_fleet  # `sim fleet`
    sim_fleet.register(sim_app)
    from pbxwatch.cli import ewelink as ewelink_cmd
    from pbxwatch.cli import sim_cloud
    app.add_typer(ewelink_cmd.app, name="ewelink")
    sim_cloud.register(sim_app)
    from pbxwatch.cli import demo as demo_cmd  # `demo`

    app.command("demo")(demo_cmd.demo)
    from pbxwatch.cli import report as report_cmd  # `report`

    app.command("report")(report_cmd.report)


_register()


def main() -> None:
    app(prog_name="pbxwatch")
