"""Two processes writing to the SQLite default at once never fail with "database is locked"."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sqlalchemy import func, select

from pbxwatch.db.engine import Database
from pbxwatch.db.tables import enterprises, unit_status_history

WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from datetime import UTC, datetime
    from sqlalchemy import select, update
    from pbxwatch.db.engine import Database
    from pbxwatch.db.history import HistoryEntry, write_history
    from pbxwatch.db.tables import enterprises
    from pbxwatch.domain.units import Unit
    from pbxwatch.db.units import add_unit

    async def main(url, tag, rounds):
        db = Database.from_url(url)
        await db.prepare()
        go = Path(sys.argv[4])
        while not go.exists():  # both writers start together
            time.sleep(0.01)
        for i in range(rounds):
            # read-then-write in one transaction: the pattern that fails under deferred transactions
            async with db.begin() as conn:
                await conn.execute(select(enterprises.c.number))
                await add_unit(conn, Unit(number=f"{tag}-{i}", host="127.0.0.1"))
                await write_history(conn, [HistoryEntry.recovered(f"{tag}-{i}", at=datetime.now(UTC))])
        await db.dispose()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)
ROUNDS = 300


def test_two_processes_write_the_sqlite_default_at_once(sqlite_url: str, tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), sqlite_url, tag, str(ROUNDS), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    time.sleep(2)  # let both import and connect, so the writes overlap
    go.touch()
    outputs = [p.communicate(timeout=240) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "database is locked" not in err

    async def count() -> tuple[int, int]:
        db = Database.from_url(sqlite_url)
        try:
            async with db.connect() as conn:
                units = await conn.scalar(select(func.count()).select_from(enterprises))
                rows = await conn.scalar(select(func.count()).select_from(unit_status_history))
                return int(units or 0), int(rows or 0)
        finally:
            await db.dispose()

    assert asyncio.run(count()) == (2 * ROUNDS, 2 * ROUNDS)
