"""Per-enterprise remediation ladders (`pbxwatch_unit_ladder`): which units skip the soft restart, or run
their own restart command, instead of the settings' `monitor.restart_command`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from pbxwatch.db.tables import enterprises, unit_ladders, unit_status_history
from pbxwatch.domain.vocabulary import ActionType

L = unit_ladders.c
COMMAND_MAX = 500


class LadderError(ValueError):
    """A ladder that cannot be set (unknown unit, bad command): one line."""


@dataclass(frozen=True)
class Ladder:
    """None for both: the settings' default."""

    power_only: bool = False
    restart_command: str | None = None

    def command(self, default: str | None) -> str | None:
        """The soft restart command of this unit (None: straight to the relay)."""
        if self.power_only:
            return None
        return self.restart_command or default

    def describe(self, default: str | None) -> str:
        if self.power_only:
            return "power-cycle only (no soft restart)"
        command = self.command(default)
        source = "this unit's own" if self.restart_command else "monitor.restart_command"
        return f"soft restart `{command}` ({source}), then power-cycle" if command else "power-cycle only"


async def ladders(conn: Any) -> dict[str, Ladder]:
    rows = await conn.execute(select(unit_ladders))
    return {r.enterprise_number: Ladder(bool(r.power_only), r.restart_command) for r in rows}


async def get_ladder(db: Any, number: str) -> Ladder:
    async with db.connect() as conn:
        await _require_unit(conn, number)
        return (await ladders(conn)).get(number, Ladder())


async def set_ladder(db: Any, number: str, ladder: Ladder | None) -> None:
    """Store a unit's ladder (None: back to the settings' default)."""
    if ladder is not None and ladder.restart_command is not None:
        command = ladder.restart_command.strip()
        if not command or len(command) > COMMAND_MAX or any(not ch.isprintable() for ch in command):
            raise LadderError(f"the restart command must be one printable line of at most {COMMAND_MAX} characters")
        ladder = Ladder(ladder.power_only, command)
    async with db.begin() as conn:
        await _require_unit(conn, number)
        await conn.execute(delete(unit_ladders).where(L.enterprise_number == number))
        if ladder is not None:
            make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            await conn.execute(
                make(unit_ladders).values(
                    enterprise_number=number, power_only=ladder.power_only, restart_command=ladder.restart_command
                )
            )


async def _require_unit(conn: Any, number: str) -> None:
    if not await conn.scalar(select(func.count()).where(enterprises.c.number == number)):
        raise LadderError(f"unit {number} does not exist")


async def soft_restarts_since(db: Any, since: dict[str, datetime]) -> dict[str, datetime]:
    """The latest `asterisk_restart` row of each unit at or after its time in `since` (its open outage):
    a restarted monitor must not restart Asterisk a second time in the same outage."""
    if not since:
        return {}
    h = unit_status_history.c
    query = (
        select(h.enterprise_number, func.max(h.change_time))
        .where(h.enterprise_number.in_(list(since)), h.action_type == ActionType.ASTERISK_RESTART.value)
        .group_by(h.enterprise_number)
    )
    async with db.connect() as conn:
        rows = list(await conn.execute(query))
    return {number: at for number, at in rows if at is not None and at >= since[number]}
