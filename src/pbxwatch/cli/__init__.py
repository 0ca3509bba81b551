"""The `pbxwatch` command line. Each command group lives in its own module and is registered here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pbxwatch",
    help="Keeps a fleet of Asterisk PBXes alive: probes them over SSH, records status, power-cycles hung ones.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
sim_app = typer.Typer(help="Simulators of the eWeLink cloud and of a PBX fleet (demo, tests, benchmarks).",
                      no_args_is_help=True)
app.add_typer(sim_app, name="sim")


def main() -> None:
    app()
