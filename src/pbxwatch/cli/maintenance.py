"""`pbxwatch maintenance add|list|end` — planned work that must never be "fixed" by a power-cut."""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from pbxwatch.cli.common import cli_settings, console, fail, open_database, print_json, run
from pbxwatch.config import Settings

HELP = "\n\n".join(
    (
        'Maintenance windows: planned work on a PBX that the watchdog must not "fix".',
        "During a window the unit is still checked and its live status recorded, but no outage is confirmed into "
        "an automatic action: no soft restart, no power-cycle, no outage notification. The start and the end are "
        "rows in unit_status_history (action_type maintenance_start / maintenance_end, user_initiator = who set it).",
        "A unit still down when its window ends is a new outage from then on: failure_threshold more failed checks "
        "before anything is done.",
        "Windows are per unit, for several units or fleet-wide (--all); one-off (--for 2h, --until TIME) or weekly "
        '(--weekly "sun 02:00-04:00"), read in monitor.time_zone (default UTC). The monitor picks up new and ended '
        "windows within one reload (at most 30 s). The relay service offers the same at GET/POST /maintenance.",
    )
)

app = typer.Typer(help=HELP, no_args_is_help=True)

Units = Annotated[list[str] | None, typer.Argument(help="Enterprise numbers (omit with --all).", show_default=False)]
AllUnits = Annotated[bool, typer.Option("--all", help="Every unit (one fleet-wide window).")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
For = Annotated[str | None, typer.Option("--for", help="How long from now: 2h, 90m, 1d, 1h30m.")]
Until = Annotated[
    str | None, typer.Option("--until", help='Until a local time: "2026-12-02 18:00" or "18:00" (next one).')
]
Weekly = Annotated[str | None, typer.Option("--weekly", help='Every week: "sun 02:00-04:00" (monitor.time_zone).')]


def who(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return os.environ.get("USER") or "user"


def _zone(settings: Settings) -> tzinfo:
    return ZoneInfo(settings.monitor.time_zone)


@app.command("add")
def add(
    ctx: typer.Context,
    units: Units = None,
    all_units: AllUnits = False,
    for_: For = None,
    until: Until = None,
    weekly: Weekly = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (shown in history, status and events).")] = "",
    by: Annotated[str | None, typer.Option("--by", help="Who sets it (default: the login name).")] = None,
    as_json: Json = False,
) -> None:
    """Put units (or --all) in maintenance: --for 2h, --until TIME or --weekly "sun 02:00-04:00"."""
    from pbxwatch.db.maintenance import UnknownUnits, add_windows
    from pbxwatch.domain.maintenance import WindowError
    from pbxwatch.domain.maintenance_request import WindowRequest

    settings, numbers = cli_settings(ctx), _targets(units, all_units)
    if not reason.strip():
        fail("--reason is required: say why (e.g. --reason 'disk replacement')")
    now = datetime.now(UTC)
    try:
        request = WindowRequest.parse(for_=for_, until=until, weekly=weekly, now=now, zone=_zone(settings))
    except WindowError as err:
        fail(str(err))

    async def body() -> list[Any]:
        async with open_database(settings) as db:
            return await add_windows(
                db,
                numbers,
                now=now,
                reason=reason,
                set_by=who(by),
                duration=request.duration,
                until=request.until,
                weekly=request.weekly,
            )

    try:
        windows = run(body)
    except (WindowError, UnknownUnits) as err:
        fail(str(err))
    if as_json:
        print_json([_window_json(w, now, _zone(settings)) for w in windows])
        return
    for window in windows:
        console.print(f"maintenance window {window.id}: {window.describe()}", markup=False)


@app.command("list")
def list_windows(
    ctx: typer.Context,
    past: Annotated[bool, typer.Option("--past", help="Also windows that are over.")] = False,
    as_json: Json = False,
) -> None:
    """Windows not over yet (with --past, every window), and whether each is running now."""
    from pbxwatch.db.maintenance import load_windows

    settings, now = cli_settings(ctx), datetime.now(UTC)

    async def body() -> list[Any]:
        async with open_database(settings) as db:
            return await load_windows(db, now, include_past=past)

    windows = run(body)
    if as_json:
        print_json([_window_json(w, now, _zone(settings)) for w in windows])
        return
    table = Table("id", "units", "when", "now", "reason", "set by")
    for w in windows:
        running = w.occurrence(now, _zone(settings)) is not None
        when = f"weekly {w.weekly}" if w.weekly else f"{_local(w.starts_at, settings)} .. {_local(w.ends_at, settings)}"
        state = "running" if running else ("over" if w.is_over(now) else "waiting")
        table.add_row(str(w.id), w.scope, when, state, w.reason, w.set_by)
    console.print(table)
    if not windows:
        console.print("no maintenance windows")


@app.command("end")
def end(
    ctx: typer.Context,
    units: Units = None,
    all_units: Annotated[bool, typer.Option("--all", help="The fleet-wide windows.")] = False,
    window_id: Annotated[list[int] | None, typer.Option("--id", help="A window by its id (repeatable).")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who ends it (default: the login name).")] = None,
) -> None:
    """End the windows of these units (or --all fleet-wide ones, or --id N) now."""
    from pbxwatch.db.maintenance import end_windows
    from pbxwatch.domain.maintenance import WindowError

    settings = cli_settings(ctx)
    if not units and not all_units and not window_id:
        fail("name the units, --all or --id N")

    async def body() -> list[Any]:
        async with open_database(settings) as db:
            return await end_windows(
                db, now=datetime.now(UTC), by=who(by), numbers=units or [], ids=window_id or [], fleet=all_units
            )

    try:
        ended = run(body)
    except WindowError as err:
        fail(str(err))
    if not ended:
        console.print("no running or future window matched: nothing to end")
    for window in ended:
        console.print(f"maintenance window {window.id} ended: {window.describe()}", markup=False)


def _targets(units: list[str] | None, all_units: bool) -> list[str]:
    if all_units and units:
        fail("give unit numbers or --all, not both")
    if not all_units and not units:
        fail("name the units (e.g. maintenance add 0201 0202 ...) or --all")
    return [] if all_units else list(units or [])


def _local(at: datetime | None, settings: Settings) -> str:
    return at.astimezone(_zone(settings)).strftime("%Y-%m-%d %H:%M") if at else "?"


def _window_json(w: Any, now: datetime, zone: tzinfo) -> dict[str, Any]:
    return {
        "id": w.id,
        "unit": w.unit_number,
        "reason": w.reason,
        "set_by": w.set_by,
        "starts_at": w.starts_at.isoformat() if w.starts_at else None,
        "ends_at": w.ends_at.isoformat() if w.ends_at else None,
        "weekly": str(w.weekly) if w.weekly else None,
        "ended_at": w.ended_at.isoformat() if w.ended_at else None,
        "running": w.occurrence(now, zone) is not None,
    }
