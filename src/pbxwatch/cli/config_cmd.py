"""`pbxwatch config show` — the effective configuration and where each value came from."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pbxwatch.cli.common import console, loaded_settings, print_json

app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print every setting (secrets masked) with its source: default, file or environment variable."""
    loaded = loaded_settings(ctx)
    items = list(loaded.flat_items())
    if as_json:
        print_json(
            {
                "config_file": str(loaded.config_file) if loaded.config_file else None,
                "settings": {key: {"value": value, "source": source} for key, value, source in items},
            }
        )
        return
    console.print(f"config file: {loaded.config_file or '(none: defaults and environment only)'}")
    table = Table("setting", "value", "source")
    for key, value, source in items:
        table.add_row(key, value, source)
    console.print(table)
