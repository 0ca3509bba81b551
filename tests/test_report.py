"""`pbxwatch report` and the unit page's uptime figures, against a history written with known outages.

The outages lie wholly inside the windows, so the figures are exact whatever the clock says when the
report runs; the clipping at a window's edge is checked on the pure function with a fixed clock.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from pbxwatch.db.engine import Database
from pbxwatch.db.history import HistoryEntry, write_history
from pbxwatch.db.tables import enterprises
from pbxwatch.domain.uptime import EndedBy, Mark, MarkKind, summarize
from pbxwatch.domain.vocabulary import Initiator
from tests.cli_helpers import pbxwatch
from tests.relay_fixtures import RelayEnv

H = timedelta(hours=1)


def cycle(number: str, at: datetime, initiator: Initiator) -> HistoryEntry:
    return HistoryEntry.power_cycle(
        number,
        at=at,
        pbx_status="off",
        ok=True,
        initiator=initiator,
        extra_info={"device_id": "dev", "outlet": None, "cycle_id": "c"},
    )


def known_history(now: datetime) -> list[HistoryEntry]:
    """A: 12 h 10 days ago (fixed by an automatic cycle) + 16.8 h 4 days ago (by itself) = 4 % of 30 days,
    10 % of 7 days. B: down since before the window, still down. D: 7.2 h 3 days ago, an automatic cycle that
    did not help and a manual one that did = 1 % of 30 days. C: nothing."""
    a1, a2, d1 = now - timedelta(days=10), now - timedelta(days=4), now - timedelta(days=3)
    return [
        HistoryEntry.outage_confirmed("A", at=a1, failure_counter=3, error_message="down"),
        cycle("A", a1 + timedelta(minutes=1), Initiator.AUTO),
        HistoryEntry.recovered("A", at=a1 + 12 * H),
        HistoryEntry.outage_confirmed("A", at=a2, failure_counter=3, error_message="down"),
        HistoryEntry.recovered("A", at=a2 + 16.8 * H),
        HistoryEntry.outage_confirmed("B", at=now - timedelta(days=40), failure_counter=3, error_message="down"),
        HistoryEntry.outage_confirmed("D", at=d1, failure_counter=3, error_message="down"),
        cycle("D", d1 + timedelta(minutes=1), Initiator.AUTO),
        cycle("D", d1 + 2 * H, Initiator.USER),
        HistoryEntry.recovered("D", at=d1 + 7.2 * H),
    ]


async def write_known(db: Database, now: datetime) -> None:
    async with db.begin() as conn:
        for number in ("A", "B", "C", "D"):
            await conn.execute(insert(enterprises).values(number=number, name=f"Unit {number}"))
        await write_history(conn, known_history(now))


EXPECTED = {
    "A": {
        "uptime_percent": 96.0,
        "incidents": 2,
        "downtime_seconds": 28.8 * 3600,
        "mttr_seconds": 14.4 * 3600,
        "auto_cycles": 1,
        "auto_cycles_fixed": 1,
    },
    "B": {
        "uptime_percent": 0.0,
        "incidents": 1,
        "downtime_seconds": 30 * 86400,
        "mttr_seconds": None,
        "auto_cycles": 0,
        "auto_cycles_fixed": 0,
    },
    "C": {
        "uptime_percent": 100.0,
        "incidents": 0,
        "downtime_seconds": 0.0,
        "mttr_seconds": None,
        "auto_cycles": 0,
        "auto_cycles_fixed": 0,
    },
    "D": {
        "uptime_percent": 99.0,
        "incidents": 1,
        "downtime_seconds": 7.2 * 3600,
        "mttr_seconds": 7.2 * 3600,
        "auto_cycles": 1,
        "auto_cycles_fixed": 0,
    },
}


async def test_report_json_csv_and_table(db: Database, pg_url: str, tmp_path: Path) -> None:
    await write_known(db, datetime.now(UTC))
    env = {"PBXWATCH_DATABASE_URL": pg_url}
    done = await asyncio.to_thread(pbxwatch, "report", "--since", "30d", "--format", "json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    rows = {r.pop("number"): r for r in json.loads(done.stdout)["units"]}
    assert rows == EXPECTED

    done = await asyncio.to_thread(pbxwatch, "report", "--format", "csv", "--unit", "A", cwd=tmp_path, env=env)
    [a] = list(csv.DictReader(io.StringIO(done.stdout)))
    assert (a["number"], a["uptime_percent"], a["incidents"], a["auto_cycles_fixed"]) == ("A", "96.0", "2", "1")

    done = await asyncio.to_thread(pbxwatch, "report", "--since", "7d", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert re.search(r"A\s.*90\.00 %", done.stdout), done.stdout  # 16.8 h of 7 days
    assert re.search(r"D\s.*95\.71 %", done.stdout), done.stdout  # 7.2 h of 168 h

    bad = await asyncio.to_thread(pbxwatch, "report", "--since", "soon", cwd=tmp_path, env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("error: --since 'soon'") and "Traceback" not in bad.stderr


def test_the_unit_page_shows_the_same_figures(relay_env: RelayEnv) -> None:
    async def write() -> None:
        db = Database.from_url(relay_env.pg_url)
        try:
            await write_known(db, datetime.now(UTC))
        finally:
            await db.dispose()

    asyncio.run(write())
    relay_env.start()
    page = relay_env.http.get(f"{relay_env.url}/unit/A").text
    cells = dict(re.findall(r'data-window="(\w+)"><th>\w+</th><td class="uptime">([\d.]+) %', page))
    assert cells == {"24h": "100.00", "7d": "90.00", "30d": "96.00"}
    assert page.count("автоперезагрузка") >= 1 and "восстановился сам" in page  # what ended each incident
    fleet = relay_env.http.get(f"{relay_env.url}/").text
    assert re.search(r'id="summary-uptime">73\.75 %', fleet), fleet  # the mean of 96, 0, 100, 99


T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_an_outage_across_the_window_start_counts_only_inside() -> None:
    since, until = T0, T0 + timedelta(days=10)
    marks = [
        Mark(T0 + 6 * H, MarkKind.UP),
        Mark(T0 + 2 * 24 * H, MarkKind.DOWN),
        Mark(T0 + 2 * 24 * H + H, MarkKind.CYCLE, automatic=True),
        Mark(T0 + 2 * 24 * H + 6 * H, MarkKind.UP),
        Mark(until - 12 * H, MarkKind.DOWN),
    ]
    r = summarize("X", marks, T0 - 18 * H, since, until)
    assert r.downtime == 24 * H  # 6 h at the start, 6 h in the middle, 12 h still open at the end
    assert r.uptime_percent == 90.0
    assert r.incidents == 3 and (r.auto_cycles, r.auto_cycles_fixed) == (1, 1)
    assert r.mttr == (24 * H + 6 * H) / 2  # the first incident lasted 24 h in all
    assert [i.ended_by for i in r.incident_list] == [EndedBy.ITSELF, EndedBy.AUTO_CYCLE, EndedBy.OPEN]


@pytest.mark.parametrize(("duplicate", "down", "uptime"), [(MarkKind.DOWN, 2 * H, 80.0), (MarkKind.UP, H, 90.0)])
def test_a_repeated_status_row_does_not_double_an_incident(duplicate: MarkKind, down: timedelta, uptime: float) -> None:
    marks = [
        Mark(T0 + H, MarkKind.DOWN),
        Mark(T0 + 2 * H, duplicate),
        Mark(T0 + 3 * H, MarkKind.UP),
        Mark(T0 + 4 * H, MarkKind.UP),
    ]
    r = summarize("X", marks, None, T0, T0 + 10 * H)
    assert (r.incidents, r.downtime, r.uptime_percent) == (1, down, uptime)
