"""`pbxwatch report` — per unit uptime, incidents, downtime, recovery time and automatic cycles."""

from __future__ import annotations

import csv
import re
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from pbxwatch.cli.common import cli_settings, console, fail, open_database, print_json, run
from pbxwatch.domain.uptime import UnitReport

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
FIELDS = (
    "number",
    "uptime_percent",
    "incidents",
    "downtime_seconds",
    "mttr_seconds",
    "auto_cycles",
    "auto_cycles_fixed",
)


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def parse_span(text: str) -> timedelta:
    """'30d', '12h', '90m', '2w' or '3600s' (a bare number is days)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not found or float(found.group(1)) <= 0:
        raise ValueError(f"--since {text!r}: give a length such as 30d, 12h, 90m or 2w")
    return timedelta(seconds=float(found.group(1)) * UNITS[found.group(2) or "d"])


def as_row(r: UnitReport) -> dict[str, Any]:
    return {
        "number": r.number,
        "uptime_percent": round(r.uptime_percent, 4),
        "incidents": r.incidents,
        "downtime_seconds": round(r.downtime.total_seconds(), 3),
        "mttr_seconds": round(r.mttr.total_seconds(), 3) if r.mttr is not None else None,
        "auto_cycles": r.auto_cycles,
        "auto_cycles_fixed": r.auto_cycles_fixed,
    }


def report(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="How far back: 30d, 7d, 24h, 90m, 2w.")] = "30d",
    output: Annotated[Format, typer.Option("--format", help="table, csv or json.")] = Format.TABLE,
    unit: Annotated[list[str] | None, typer.Option("--unit", help="Only this enterprise (repeatable).")] = None,
) -> None:
    """Per unit: uptime %, incidents, total downtime, mean time to recovery, automatic power-cycles and
    how many of them fixed the outage, computed from unit_status_history (the dashboard shows the same)."""
    from pbxwatch.db.report import unit_reports

    try:
        span = parse_span(since)
    except ValueError as err:
        fail(str(err))
    settings = cli_settings(ctx)
    until = datetime.now(UTC)

    async def body() -> list[UnitReport]:
        async with open_database(settings) as db, db.connect() as conn:
            return await unit_reports(conn, until - span, until, unit)

    rows = [as_row(r) for r in run(body)]
    if output is Format.JSON:
        print_json({"since": (until - span).isoformat(), "until": until.isoformat(), "units": rows})
    elif output is Format.CSV:
        writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        console.print(_table(rows, since))


def _table(rows: list[dict[str, Any]], since: str) -> Table:
    table = Table(title=f"uptime over the last {since}")
    for name in ("unit", "uptime", "incidents", "downtime", "MTTR", "auto cycles", "fixed"):
        table.add_column(name, justify="left" if name == "unit" else "right")
    for r in rows:
        mttr = r["mttr_seconds"]
        table.add_row(
            r["number"],
            f"{r['uptime_percent']:.2f} %",
            str(r["incidents"]),
            _span(r["downtime_seconds"]),
            _span(mttr) if mttr is not None else "—",
            str(r["auto_cycles"]),
            str(r["auto_cycles_fixed"]),
        )
    return table


def _span(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
