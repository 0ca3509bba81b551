"""What the demo shows: the story's checklist, a live table of every unit, the newest history rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from pbxwatch.demo.story import Story, history_kind

_STEP_MARK = {"waiting": "[dim]·[/]", "running": "[yellow]…[/]", "passed": "[green]✔[/]", "failed": "[red]✘[/]"}


def checklist(story: Story, elapsed: float) -> Table:
    table = Table(title=f"pbxwatch demo — {elapsed:5.0f} s", title_justify="left", show_header=False, box=None)
    for step in story.steps.values():
        table.add_row(_STEP_MARK[step.status], step.title, Text(step.detail, style="dim"))
    return table


def units_table(units: list[dict[str, Any]]) -> Table:
    table = Table("unit", "name", "status", "fails", "disk", "SIP ok/total", "auto", "relay", "cycled", "last error")
    for u in units:
        status = u.get("last_status") or "—"
        style = {"online": "green", "offline": "red"}.get(status, "dim")
        stats = u.get("line_stats") or {}
        sip = f"{stats.get('ok', '?')}/{stats.get('total', '?')}" if stats else "—"
        table.add_row(
            u["number"],
            u["name"] or "",
            Text(status, style=style),
            str(u.get("failure_counter") or 0),
            f"{u['disk_usage_percent']}%" if u.get("disk_usage_percent") is not None else "—",
            sip,
            "yes" if u["parameter_option_2"] else "no",
            u["ewelink_device_id"] or "—",
            "yes" if u.get("ewelink_action_done") else "",
            (u.get("last_error_message") or "")[:40],
        )
    return table


def history_table(rows: list[dict[str, Any]], *, title: str = "newest history rows") -> Table:
    table = Table("id", "time", "unit", "event", "by", "error / info", title=title, title_justify="left")
    for r in rows:
        when = r["change_time"]
        table.add_row(
            str(r["id"]),
            when.strftime("%H:%M:%S") if isinstance(when, datetime) else str(when),
            r["enterprise_number"] or "—",
            history_kind(r),
            r["user_initiator"] or "",
            (r["error_message"] or _info(r.get("extra_info")))[:60],
        )
    return table


def _info(extra: Any) -> str:
    if not isinstance(extra, dict):
        return ""
    return " ".join(f"{k}={v}" for k, v in extra.items() if k in ("device_id", "state", "state_after", "cycle_id"))


def screen(story: Story, elapsed: float, units: list[dict[str, Any]], history: list[dict[str, Any]]) -> RenderableType:
    return Group(checklist(story, elapsed), units_table(units), history_table(history[-8:]))
