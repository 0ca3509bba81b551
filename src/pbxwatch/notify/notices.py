"""A notice: one thing worth telling the operator, with the facts both languages need.

Notices are data, built without I/O; `render` turns one into a title and body from the catalog. The
outbox gives each the incident number before rendering, so a message names its incident thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pbxwatch import i18n
from pbxwatch.i18n import Language

Level = Literal["info", "warning", "critical"]
LEVELS: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}

# kind -> level. `recovered` is a warning, not info: the operator who heard "down" must hear "back".
KIND_LEVEL: dict[str, Level] = {
    "outage_confirmed": "critical",
    "cycle_started": "warning",
    "cycle_done": "info",
    "cycle_failed": "critical",
    "held": "warning",
    "gave_up": "critical",
    "recovered": "warning",
    "reminder": "warning",
    "mass_outage": "critical",
    "mass_outage_over": "warning",
    "token_expiring": "warning",
    "token_dead": "critical",
    "token_missing": "critical",
    "monitor_silent": "critical",
    "standby_took_over": "warning",
    "test": "critical",
}
KINDS = frozenset(KIND_LEVEL)
INCIDENT_KINDS = frozenset(
    {"outage_confirmed", "cycle_started", "cycle_done", "cycle_failed", "held", "gave_up", "recovered", "reminder"}
)
UNIT_LIST_MAX = 30  # a grouped message names this many units, then "… and N more"


@dataclass(frozen=True)
class Notice:
    kind: str
    key: str  # unique per event: the same event produced twice (restart, two monitors) is stored once
    at: datetime
    unit: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def level(self) -> Level:
        return KIND_LEVEL[self.kind]


def at_least(level: str, minimum: str) -> bool:
    return LEVELS[level] >= LEVELS[minimum]


def stamp(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "?"


def render(notice: Notice, language: Language, incident: int | None = None) -> tuple[str, str]:
    """(title, body) of a notice in `language`."""
    facts = {**notice.facts, "incident": incident if incident is not None else "-", "unit": notice.unit or ""}
    facts.update(_localized(notice, facts, language))
    what = i18n.text(f"what.{notice.kind}", language, **facts)
    if notice.unit is not None:
        title = i18n.text("title.unit", language, what=what, unit=notice.unit, name=facts.get("name") or "")
    else:
        title = i18n.text("title.service", language, what=what)
    body = i18n.text(f"body.{notice.kind}", language, **facts)
    if facts.get("suppressed"):
        body += "\n" + i18n.text("suppressed", language, count=facts["suppressed"])
    return " ".join(title.split()), body


def _localized(notice: Notice, facts: dict[str, Any], language: Language) -> dict[str, Any]:
    """Facts whose wording depends on the language: next steps, hold reasons, durations."""
    out: dict[str, Any] = {}
    if "next_key" in facts:
        out["next"] = i18n.text(facts["next_key"], language, **facts)
    if "hold_key" in facts:
        out["reason"] = i18n.text(facts["hold_key"], language, **facts)
    for name in ("downtime", "every", "ago"):
        seconds = facts.get(f"{name}_s")
        if isinstance(seconds, int | float):
            out[name] = i18n.duration(seconds, language)
    if notice.kind == "recovered":
        out["fixed"] = i18n.text("fixed.cycle" if facts.get("cycled") else "fixed.itself", language)
    return out


def unit_list(numbers: list[str]) -> str:
    shown = sorted(numbers)[:UNIT_LIST_MAX]
    more = len(numbers) - len(shown)
    return ", ".join(shown) + (f" … (+{more})" if more > 0 else "")
