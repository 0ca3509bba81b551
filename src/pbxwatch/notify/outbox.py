"""The durable outbox: incidents, events and their per-channel deliveries in the database.

Producing is idempotent (an event's key is unique; a delivery's key is (event, channel)), so a
restarted monitor or a second one cannot store an event twice. Sending is claimed with a conditional
UPDATE whose row count must be 1 (see `pbxwatch.notify.tables.deliveries`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from pbxwatch.db.engine import Database
from pbxwatch.i18n import Language
from pbxwatch.notify.notices import INCIDENT_KINDS, Notice, render
from pbxwatch.notify.routing import Routing
from pbxwatch.notify.tables import deliveries, incidents, outbox

D, INC, OUT = deliveries.c, incidents.c, outbox.c
# A delivery `sending` for this long belongs to a sender that died: it is never retried (at most once),
# and no longer holds back the later messages of its unit.
SENDING_STALE = timedelta(minutes=5)


@dataclass(frozen=True)
class Due:
    event_id: int
    channel: str
    attempts: int
    title: str
    body: str


@dataclass(frozen=True)
class OpenIncident:
    id: int
    unit: str
    opened_at: datetime
    reason: str | None
    reminders: int


class Outbox:
    def __init__(self, db: Database, routing: Routing, language: Language) -> None:
        self.db, self.routing, self.language = db, routing, language

    async def publish(self, notices: list[Notice]) -> int:
        """Store notices (with their incidents) and one pending delivery per routed channel; new events."""
        stored = 0
        async with self.db.begin() as conn:
            for notice in notices:
                stored += await self._publish_one(conn, notice)
        return stored

    async def _publish_one(self, conn: AsyncConnection, notice: Notice) -> int:
        incident = await _incident_for(conn, notice) if notice.kind in INCIDENT_KINDS else None
        title, body = render(notice, self.language, incident)
        row = {
            "event_key": notice.key,
            "kind": notice.kind,
            "level": notice.level,
            "enterprise_number": notice.unit,
            "incident_id": incident,
            "title": title,
            "body": body,
            "facts": _jsonable(notice.facts),
            "created_at": notice.at,
        }
        event_id = await _insert_ignore(conn, outbox, row, ["event_key"], OUT.id)
        if event_id is None:
            return 0  # produced before (restart, the other monitor)
        for channel in self.routing.channels_for(notice):
            values = {
                "event_id": event_id,
                "channel": channel.key,
                "label": channel.label,
                "state": "pending",
                "attempts": 0,
                "next_at": notice.at,
            }
            await _insert_ignore(conn, deliveries, values, ["event_id", "channel"], None)
        if incident is not None:
            await conn.execute(update(incidents).where(INC.id == incident).values(last_notice_at=notice.at))
        return 1

    async def due(self, now: datetime, limit: int = 20) -> list[Due]:
        """Pending deliveries whose time has come, one per (unit, channel): an incident's messages go out
        in order, also with several senders (the monitors and the relay service share the outbox).
        Only channels this process is configured for: another process may know URLs this one does not."""
        known = list(self.routing.by_key())
        if not known:
            return []
        earlier_d, earlier_o = deliveries.alias("earlier_d"), outbox.alias("earlier_o")
        blocked = (
            select(earlier_d.c.event_id)
            .join(earlier_o, earlier_o.c.id == earlier_d.c.event_id)
            .where(
                earlier_d.c.channel == D.channel,
                earlier_o.c.enterprise_number == OUT.enterprise_number,
                earlier_d.c.event_id < D.event_id,
                or_(
                    earlier_d.c.state == "pending",
                    and_(earlier_d.c.state == "sending", earlier_d.c.next_at > now - SENDING_STALE),
                ),
            )
        )
        query = (
            select(D.event_id, D.channel, D.attempts, OUT.title, OUT.body)
            .join(outbox, OUT.id == D.event_id)
            .where(D.state == "pending", D.next_at <= now, D.channel.in_(known), ~blocked.exists())
            .order_by(D.event_id)
            .limit(limit)
        )
        async with self.db.connect() as conn:
            return [Due(*r) for r in await conn.execute(query)]

    async def claim(self, due: Due, owner: str, now: datetime) -> bool:
        """pending → sending; True only for the one sender whose UPDATE touched the row."""
        async with self.db.begin() as conn:
            result = await conn.execute(
                update(deliveries)
                .where(
                    D.event_id == due.event_id,
                    D.channel == due.channel,
                    D.state == "pending",
                    D.attempts == due.attempts,
                )
                .values(state="sending", owner=owner, attempts=due.attempts + 1, next_at=now)
            )
            return bool(result.rowcount == 1)

    async def finish(self, due: Due, now: datetime, *, error: str | None, retry_at: datetime | None) -> None:
        """sent, or pending again at `retry_at`, or failed for good when `retry_at` is None."""
        state = "sent" if error is None else ("pending" if retry_at is not None else "failed")
        values: dict[str, Any] = {"state": state, "last_error": error}
        if error is None:
            values["sent_at"] = now
        if retry_at is not None:
            values["next_at"] = retry_at
        async with self.db.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(D.event_id == due.event_id, D.channel == due.channel, D.state == "sending")
                .values(**values)
            )

    async def reminders_due(self, now: datetime, every: timedelta) -> list[OpenIncident]:
        last = func.coalesce(INC.last_notice_at, INC.confirmed_at)
        query = select(INC.id, INC.enterprise_number, INC.opened_at, INC.reason, INC.reminders).where(
            INC.closed_at.is_(None), last <= now - every
        )
        async with self.db.connect() as conn:
            return [OpenIncident(*r) for r in await conn.execute(query)]

    async def counted_reminder(self, incident: OpenIncident) -> bool:
        async with self.db.begin() as conn:
            result = await conn.execute(
                update(incidents)
                .where(INC.id == incident.id, INC.reminders == incident.reminders)
                .values(reminders=incident.reminders + 1)
            )
            return bool(result.rowcount == 1)


async def open_incidents(conn: AsyncConnection) -> dict[str, datetime]:
    """unit → when its open incident began (for `pbxwatch status`)."""
    rows = await conn.execute(select(INC.enterprise_number, INC.opened_at).where(INC.closed_at.is_(None)))
    return {r.enterprise_number: r.opened_at for r in rows}


async def _incident_for(conn: AsyncConnection, notice: Notice) -> int | None:
    if notice.kind == "outage_confirmed" and notice.unit is not None:
        opened = notice.facts.get("since_at") or notice.at
        values = {
            "enterprise_number": notice.unit,
            "opened_at": opened,
            "confirmed_at": notice.at,
            "reason": notice.facts.get("reason"),
        }
        await _insert_ignore(conn, incidents, values, ["enterprise_number", "opened_at"], None)
    query = (
        select(INC.id)
        .where(INC.enterprise_number == notice.unit)
        .order_by(INC.closed_at.is_not(None), INC.opened_at.desc())
        .limit(1)
    )
    found = await conn.scalar(query)
    if found is not None and notice.kind == "recovered":
        await conn.execute(
            update(incidents).where(and_(INC.id == found, INC.closed_at.is_(None))).values(closed_at=notice.at)
        )
    return int(found) if found is not None else None


async def _insert_ignore(
    conn: AsyncConnection, table: Any, values: dict[str, Any], keys: list[str], returning: Any
) -> int | None:
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = make(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    if returning is None:
        await conn.execute(statement)
        return None
    found = await conn.scalar(statement.returning(returning))
    return int(found) if found is not None else None


def _jsonable(facts: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in facts.items()}
