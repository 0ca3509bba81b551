"""`pbxwatch units …` — manage the enterprises (units) pbxwatch watches.

Flags are the column names of `enterprises` in kebab case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pbxwatch.cli.common import cli_settings, console, fail, open_database, print_json, run
from pbxwatch.cli.ladder import ladder
from pbxwatch.cli.monitor import rearm
from pbxwatch.db import units as repo
from pbxwatch.domain.unit_import import read_units_csv
from pbxwatch.domain.units import UNIT_FIELDS, Unit, UnitValueError, validate_changes

app = typer.Typer(help="Manage units (enterprises): one PBX and the relay that feeds it.", no_args_is_help=True)

Number = Annotated[str, typer.Argument(help="The enterprise number (enterprises.number).", show_default=False)]
Name = Annotated[str | None, typer.Option("--name", help="Display name of the enterprise.")]
Host = Annotated[str | None, typer.Option("--host", help="IP address or DNS name of the PBX.")]
SshPort = Annotated[int | None, typer.Option("--ssh-port", help="SSH port of the PBX [default: 22].")]
AutoCycle = Annotated[
    bool | None,
    typer.Option(
        "--parameter-option-2/--no-parameter-option-2",
        help="Allow automatic power-cycles of this PBX [default: no].",
        show_default=False,
    ),
]
DeviceId = Annotated[str | None, typer.Option("--ewelink-device-id", help="eWeLink device id of the relay.")]
Outlet = Annotated[
    int | None, typer.Option("--ewelink-outlet", help="0-based channel of a multi-channel relay (omit: single).")
]
Active = Annotated[
    bool | None,
    typer.Option(
        "--active/--inactive", help="Whether the monitor watches this unit [default: active].", show_default=False
    ),
]
CycleMode = Annotated[
    str | None,
    typer.Option("--cycle-mode", help="'cloud' (default) or 'device_timer' (arms the relay's own countdown)."),
]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _changes(**values: Any) -> dict[str, Any]:
    changes = {key: value for key, value in values.items() if value is not None}
    try:
        return validate_changes(changes)
    except UnitValueError as err:
        fail(str(err))


def _unit_table(units: list[Unit]) -> Table:
    table = Table("number", "name", "host", "port", "auto-cycle", "relay", "outlet", "active", "mode")
    for u in units:
        table.add_row(
            u.number,
            u.name or "",
            u.host or "",
            str(u.ssh_port),
            "yes" if u.parameter_option_2 else "no",
            u.ewelink_device_id or "—",
            "" if u.ewelink_outlet is None else str(u.ewelink_outlet),
            "yes" if u.active else "no",
            u.cycle_mode,
        )
    return table


@app.command("add")
def add(
    ctx: typer.Context,
    number: Number,
    host: Host = None,
    name: Name = None,
    ssh_port: SshPort = None,
    parameter_option_2: AutoCycle = None,
    ewelink_device_id: DeviceId = None,
    ewelink_outlet: Outlet = None,
    active: Active = None,
    cycle_mode: CycleMode = None,
) -> None:
    """Add a unit. `--host` is required; everything else has a default."""
    if host is None:
        fail("--host is required (the PBX's IP address or DNS name)")
    changes = _changes(
        number=number,
        host=host,
        name=name,
        ssh_port=ssh_port,
        parameter_option_2=parameter_option_2,
        ewelink_device_id=ewelink_device_id,
        ewelink_outlet=ewelink_outlet,
        active=active,
        cycle_mode=cycle_mode,
    )
    unit = Unit(**changes)
    settings = cli_settings(ctx)

    async def body() -> None:
        async with open_database(settings) as db, db.begin() as conn:
            await repo.add_unit(conn, unit)

    _run_repo(body)
    console.print(f"added unit {number}")


@app.command("set")
def set_(
    ctx: typer.Context,
    number: Number,
    host: Host = None,
    name: Name = None,
    ssh_port: SshPort = None,
    parameter_option_2: AutoCycle = None,
    ewelink_device_id: DeviceId = None,
    ewelink_outlet: Outlet = None,
    active: Active = None,
    cycle_mode: CycleMode = None,
    clear: Annotated[
        list[str] | None,
        typer.Option("--clear", help="Empty a nullable column (name, ewelink-device-id, ewelink-outlet); repeatable."),
    ] = None,
) -> None:
    """Change some columns of a unit; the others keep their values."""
    changes = _changes(
        host=host,
        name=name,
        ssh_port=ssh_port,
        parameter_option_2=parameter_option_2,
        ewelink_device_id=ewelink_device_id,
        ewelink_outlet=ewelink_outlet,
        active=active,
        cycle_mode=cycle_mode,
    )
    for flag in clear or []:
        column = flag.replace("-", "_")
        if column not in ("name", "ewelink_device_id", "ewelink_outlet"):
            fail(f"--clear {flag}: only name, ewelink-device-id and ewelink-outlet can be emptied")
        changes[column] = None
    if not changes:
        fail("nothing to change: give at least one option (see `pbxwatch units set --help`)")
    settings = cli_settings(ctx)

    async def body() -> Unit:
        async with open_database(settings) as db, db.begin() as conn:
            return await repo.update_unit(conn, number, changes)

    unit = _run_repo(body)
    console.print(f"updated unit {unit.number}: " + ", ".join(f"{k}={getattr(unit, k)}" for k in changes))


@app.command("list")
def list_(
    ctx: typer.Context,
    show_all: Annotated[bool, typer.Option("--all", help="Include inactive units.")] = False,
    as_json: Json = False,
) -> None:
    """List units (active ones unless --all)."""
    settings = cli_settings(ctx)

    async def body() -> list[Unit]:
        async with open_database(settings) as db, db.connect() as conn:
            return await repo.list_units(conn, active_only=not show_all)

    units = run(body)
    if as_json:
        print_json([u.as_dict() for u in units])
    elif not units:
        console.print("no units yet — add one with `pbxwatch units add NUMBER --host HOST` or `units import FILE.csv`")
    else:
        console.print(_unit_table(units))


@app.command("show")
def show(ctx: typer.Context, number: Number, as_json: Json = False) -> None:
    """Show one unit."""
    settings = cli_settings(ctx)

    async def body() -> Unit:
        async with open_database(settings) as db, db.connect() as conn:
            return await repo.get_unit(conn, number)

    unit = _run_repo(body)
    if as_json:
        print_json(unit.as_dict())
    else:
        for key in UNIT_FIELDS:
            value = getattr(unit, key)
            console.print(f"{key:20} {'' if value is None else value}", highlight=False)


@app.command("remove")
def remove(
    ctx: typer.Context,
    number: Number,
    purge: Annotated[
        bool, typer.Option("--purge", help="Delete the row instead (refused while history rows exist).")
    ] = False,
) -> None:
    """Stop watching a unit (sets active=false). With --purge, delete it."""
    settings = cli_settings(ctx)

    async def body() -> None:
        async with open_database(settings) as db, db.begin() as conn:
            if purge:
                await repo.purge(conn, number)
            else:
                await repo.deactivate(conn, number)

    _run_repo(body)
    console.print(f"{'deleted' if purge else 'deactivated'} unit {number}")


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV file whose header names columns of enterprises.")],
) -> None:
    """Import units from CSV: every row is checked first; if any is bad nothing is imported.

    The header must include `number`; other columns: name, host, ssh_port, parameter_option_2,
    ewelink_device_id, ewelink_outlet, active, cycle_mode. Existing units (same number) are updated.
    """
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        fail(f"cannot read {file}: {getattr(err, 'strerror', None) or err}")
    report = read_units_csv(text)
    if not report.ok:
        fail("\n".join([f"{file}: {e}" for e in report.errors] + [f"{file}: nothing was imported"]))
    settings = cli_settings(ctx)

    async def body() -> tuple[int, int]:
        async with open_database(settings) as db, db.begin() as conn:
            return await repo.upsert_units(conn, report.rows)

    added, updated = run(body)
    console.print(f"imported {len(report.rows)} unit(s) from {file}: {added} added, {updated} updated")


def _run_repo(body: Any) -> Any:
    try:
        return run(body)
    except (repo.UnitNotFound, repo.UnitExists, repo.UnitHasHistory) as err:
        fail(str(err))


# The watchdog's once-per-outage flag is cleared per unit, so operators look for it among the unit commands.
app.command("rearm")(rearm)
app.command("ladder")(ladder)
