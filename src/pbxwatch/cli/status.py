"""`pbxwatch status`: every unit's state, worst first, with a summary line and Nagios exit codes.

Exit codes (Nagios plugin convention, so `pbxwatch status` can itself be a check):
0 every unit online (or paused); 1 WARNING: a unit unknown, held, cycling or in boot grace;
2 CRITICAL: a unit offline, or the monitor not running. The code always covers the whole fleet, also
with `--state`. Off a terminal each unit is one line with full values (for `grep`, `awk`); on a
terminal the table fits the width and never drops the unit number or the state.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from pbxwatch.cli.common import cli_settings, console, fail, open_database, print_json, run
from pbxwatch.config import Settings
from pbxwatch.domain.unit_status import SEVERITY, State, exit_code, summary

COLORS = {
    State.ONLINE: "green",
    State.OFFLINE: "red",
    State.UNKNOWN: "yellow",
    State.HELD: "yellow",
    State.CYCLING: "cyan",
    State.BOOT_GRACE: "cyan",
    State.PAUSED: "dim",
}
COLUMNS = (
    "unit",
    "name",
    "host",
    "state",
    "reason",
    "checked",
    "fails",
    "incident",
    "cycled",
    "disk",
    "sip",
    "last action",
    "error",
)
STATE, ERROR = COLUMNS.index("state"), COLUMNS.index("error")
PRIORITY = [
    COLUMNS.index(c)
    for c in (
        "unit",
        "state",
        "reason",
        "host",
        "fails",
        "checked",
        "incident",
        "cycled",
        "name",
        "disk",
        "sip",
        "last action",
    )
]


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    state: Annotated[
        str | None,
        typer.Option(
            "--state", help="Show only these states, comma-separated (e.g. offline,unknown).", show_default=False
        ),
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Redraw every --interval seconds until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.5, help="Seconds between redraws.")] = 5.0,
) -> None:
    """Every unit: state (online, offline, unknown, held, cycling, boot grace, paused) and why, the age
    of the last check, failure counter, open incident, last action. Worst first, then a summary line.

    Exit 0 all online, 1 warning (unknown/held/cycling/boot grace), 2 critical (offline, or the monitor is
    not running): the Nagios convention.
    """
    settings = cli_settings(ctx)
    wanted = _states(state)
    if not watch:
        raise typer.Exit(_show_once(settings, as_json=as_json, wanted=wanted))
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            if not as_json:
                console.clear()
            _show_once(settings, as_json=as_json, wanted=wanted)
            time.sleep(interval)


def _states(text: str | None) -> set[State]:
    if not text:
        return set()
    names = [t.strip().replace("_", " ") for t in text.split(",") if t.strip()]
    known = {s.value: s for s in State}
    bad = [n for n in names if n not in known]
    if bad:
        fail(f"--state {', '.join(bad)}: unknown state (known: {', '.join(known)})")
    return {known[n] for n in names}


def _show_once(settings: Settings, *, as_json: bool, wanted: set[State]) -> int:
    from zoneinfo import ZoneInfo

    from pbxwatch.db.fleet_status import fleet_status
    from pbxwatch.db.maintenance import paused_units
    from pbxwatch.db.unit_states import stale_after
    from pbxwatch.domain.liveness import RUNNING
    from pbxwatch.monitor.liveness import monitor_liveness

    now = datetime.now(UTC)
    ssh = settings.ssh
    stale = stale_after(settings.monitor.poll_interval, ssh.connect_timeout + ssh.command_timeout + 5)

    async def body() -> list[Any]:
        async with open_database(settings) as db:
            paused = await paused_units(db, now, ZoneInfo(settings.monitor.time_zone))
            return await fleet_status(db, now=now, stale=stale, paused=paused)

    rows = sorted(run(body), key=lambda r: (SEVERITY[r.view.state], r.number))
    liveness, beat = monitor_liveness(settings, now)
    running = liveness.state in RUNNING
    states = [r.view.state for r in rows]
    code = exit_code(states, monitor_running=running)
    shown = [r for r in rows if not wanted or r.view.state in wanted]
    if as_json:
        print_json(
            {
                "monitor": beat,
                "monitor_state": {
                    "state": liveness.state,
                    "detail": liveness.detail,
                    "heartbeat_age_seconds": liveness.age_seconds,
                },
                "monitor_running": running,
                "summary": summary(states),
                "exit_code": code,
                "units": [r.as_json(now) for r in shown],
            }
        )
        return code
    if console.is_terminal:
        console.print(_table(shown, now))
    else:
        _plain(shown, now)
    typer.echo(f"{summary(states)}; monitor: {liveness.describe()}")
    return code


def _cells(r: Any, now: datetime) -> list[str]:
    view = r.view
    action = f"{r.last_action} {_ago(r.last_action_at, now)}" if r.last_action else ""
    return [
        r.number,
        r.name or "",
        r.host or "",
        view.state.value,
        view.reason,
        _ago(view.checked_at, now),
        str(r.failure_counter),
        _ago(view.incident_since, now),
        "yes" if r.action_done else "",
        f"{r.disk_usage_percent}%" if r.disk_usage_percent is not None else "",
        _sip(r),
        action,
        r.hold_reason or r.error or "",
    ]


def _sip(r: Any) -> str:
    if r.sip_ok is None and r.sip_total is None:
        return ""
    return f"{r.sip_ok if r.sip_ok is not None else '-'}/{r.sip_total if r.sip_total is not None else '-'}"


def _plain(rows: list[Any], now: datetime) -> None:
    """One line per unit, full values, columns aligned by padding (never cut, never wrapped)."""
    lines = [list(COLUMNS), *[[_one_line(c) or "-" for c in _cells(r, now)] for r in rows]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS) - 1)]
    for line in lines:
        typer.echo("  ".join([*(c.ljust(w) for c, w in zip(line, widths, strict=False)), line[-1]]).rstrip())


def _table(rows: list[Any], now: datetime, width: int | None = None) -> Table:
    """Columns by priority, each added only when it fits whole: the unit and its state always show;
    the error text takes what is left, cut with an ellipsis."""
    cells = [[_one_line(c) for c in _cells(r, now)] for r in rows]
    natural = [max([len(name), *(len(line[i]) for line in cells)]) for i, name in enumerate(COLUMNS)]
    room = (width or console.width) - 1
    chosen: list[int] = []
    for i in PRIORITY:
        if not chosen or i == STATE or sum(natural[j] + 3 for j in chosen) + natural[i] + 3 <= room:
            chosen.append(i)
    chosen.sort()
    left = room - sum(natural[j] + 3 for j in chosen) - 3
    table = Table(*(COLUMNS[i] for i in chosen), expand=False)
    for column in table.columns:
        column.no_wrap, column.overflow = True, "ellipsis"
    if ERROR not in chosen and left >= 8:
        table.add_column("error", no_wrap=True, overflow="ellipsis", max_width=left)
        chosen.append(ERROR)
    for r, line in zip(rows, cells, strict=True):
        line[STATE] = f"[{COLORS[r.view.state]}]{line[STATE]}[/]"
        table.add_row(*(line[i] for i in chosen))
    return table


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _ago(at: datetime | None, now: datetime) -> str:
    if at is None:
        return ""
    seconds = int((now - at).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{max(seconds, 0)}s ago"
