"""`pbxwatch db upgrade|check` — create or adopt the schema, and compare it with the contract."""

from __future__ import annotations

import typer

from pbxwatch.cli.common import cli_settings, console, fail, open_database, run
from pbxwatch.db.migrate import MigrationError, check, upgrade

app = typer.Typer(help="Create, adopt and check the database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(ctx: typer.Context) -> None:
    """Create the schema on an empty database, or adopt an existing one; say which it did.

    Existing tables keep every row and every column of their own; only missing columns, keys and
    indexes are added. If a constraint cannot be added (duplicate or orphan rows) nothing is changed
    and the reason is printed.
    """
    settings = cli_settings(ctx)

    async def body() -> None:
        async with open_database(settings) as db:
            console.print(f"database: {db.display_url}")
            try:
                report = await upgrade(db)
            except MigrationError as err:
                fail(f"upgrade refused, nothing was changed: {err}")
        console.print(report.describe(), highlight=False)

    run(body)


@app.command("check")
def check_cmd(ctx: typer.Context) -> None:
    """Report where the schema deviates from the contract; exit 1 on a mismatch (warnings exit 0)."""
    settings = cli_settings(ctx)

    async def body() -> bool:
        async with open_database(settings) as db:
            console.print(f"database: {db.display_url}")
            findings = await check(db)
        styles = {"ok": "green", "warning": "yellow", "error": "red"}
        for finding in findings:
            console.print(f"[{styles[finding.level]}]{finding.level}[/]: {finding.message}", highlight=False)
        return any(f.level == "error" for f in findings)

    if run(body):
        raise typer.Exit(1)
