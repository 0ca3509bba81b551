"""Templates (Jinja2, autoescaped everywhere) and the small formatters they use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pbxwatch.i18n import CATALOG, Language, short_age
from pbxwatch.web.access import Access

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
# No inline script or style anywhere: the page runs only the vendored htmx and our own files.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def path_segment(value: object) -> str:
    """A value quoted for one path segment (a unit number may hold '/' or '?')."""
    return quote(str(value), safe="")


@dataclass(frozen=True)
class StatsTable:
    name: str
    columns: list[str]
    rows: list[list[Any]]


def split_line_stats(stats: Mapping[str, Any]) -> tuple[list[tuple[str, Any]], list[StatsTable]]:
    """`line_stats` as scalar facts plus one table per list of rows (peers, and trunks or registrations
    when a probe stores them), whatever keys the probe wrote."""
    facts, tables = [], []
    for key, value in stats.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(k for row in value for k in row))
            tables.append(StatsTable(key, columns, [[row.get(c) for c in columns] for row in value]))
        elif not (isinstance(value, list) and not value):
            facts.append((key, value))
    return facts, tables


def translator(language: Language) -> Callable[..., str]:
    """The templates' `t(key, **values)`: a `timedelta` value shows as a short age."""

    def t(key: str, **values: object) -> str:
        entry = CATALOG.get(key)
        if entry is None:
            return key  # a missing key shows itself instead of breaking the page
        shown = {k: short_age(v, language) if isinstance(v, timedelta) else v for k, v in values.items()}
        return entry[language].format(**shown)

    return t


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} %"


@dataclass
class Renderer:
    access: Access
    language: Language

    def __post_init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        language = self.language
        self.env.globals["split_line_stats"] = split_line_stats
        self.env.filters.update(age=lambda d: short_age(d, language), when=when, percent=percent, seg=path_segment)

    def page(self, request: Request, name: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        session = self.access.session(request)
        t = translator(self.language)
        html = self.env.get_template(name).render(
            t=t,
            lang=self.language,
            session=session,
            csrf=session.csrf if session else "",
            can_log_in=self.access.can_log_in,
            path=request.url.path,
            **values,
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
