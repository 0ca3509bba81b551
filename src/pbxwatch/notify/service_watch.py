"""Service events, watched from the relay service: eWeLink tokens expiring or dead, the monitor's
heartbeat gone silent (then nobody checks the PBXes, so the monitor cannot say it itself), and relay
cycles finishing (the relay read back ON, or the cycle failed) for the incident's thread.

Each event's key makes it once per occurrence: a token problem once per state and day, a silence
once per last heartbeat, a cycle once per cycle id — also across restarts of the relay service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pbxwatch.config import Settings
from pbxwatch.db.engine import DB_ERRORS, Database, describe
from pbxwatch.db.tables import enterprises, power_cycles
from pbxwatch.notify.notices import Notice, stamp
from pbxwatch.notify.outbox import Outbox
from pbxwatch.notify.wiring import notify_parts

log = logging.getLogger("pbxwatch.notify")
HEARTBEAT_SILENT = timedelta(seconds=120)  # the monitor rewrites its heartbeat at least every 30 s
Clock = Callable[[], datetime]


@dataclass
class WatchOptions:
    interval: float = 30.0
    heartbeat_file: Path | None = None
    auth_link: str = "http://localhost:8010/ewelink-auth-url"
    retry_s: int = 300  # monitor.relay_recheck_interval: when the monitor tries a failed cycle again


class ServiceWatch:
    def __init__(self, box: Outbox, token_state: Callable[[], str], options: WatchOptions, clock: Clock) -> None:
        self.box, self.token_state, self.options, self.clock = box, token_state, options, clock
        self.started = clock()
        self._token_said: str | None = None

    async def check(self) -> int:
        """One look at everything; the number of new events stored."""
        now = self.clock()
        notices = [*self._token(now), *self._heartbeat(now)]
        try:
            notices += await self._cycles()
            return await self.box.publish(notices) if notices else 0
        except DB_ERRORS as err:
            log.debug("service events wait for the database: %s", describe(err))
            return 0

    def _token(self, now: datetime) -> list[Notice]:
        state = str(self.token_state())
        if state == self._token_said:
            return []
        self._token_said = state
        link = self.options.auth_link
        if state == "expiring":
            return [Notice("token_expiring", f"token_expiring:{now.date()}", now, None, {"link": link})]
        if state == "expired":
            return [Notice("token_dead", f"token_dead:{now.date()}", now, None, {"state": state, "link": link})]
        if state == "missing":
            return [Notice("token_missing", f"token_missing:{now.date()}", now, None, {"link": link})]
        return []

    def _heartbeat(self, now: datetime) -> list[Notice]:
        path = self.options.heartbeat_file
        try:
            beat = json.loads(path.read_text(encoding="utf-8")) if path else None
            at = datetime.fromisoformat(str(beat["at"])) if isinstance(beat, dict) else None
        except (OSError, ValueError, KeyError):
            return []
        if not isinstance(beat, dict) or at is None or at.tzinfo is None:
            return []
        if beat.get("role") == "stopped" or now - at <= HEARTBEAT_SILENT:
            return []  # a clean stop is the operator's own doing
        facts = {"at": stamp(at), "ago_s": (now - at).total_seconds()}
        return [Notice("monitor_silent", f"monitor_silent:{at.isoformat()}", now, None, facts)]

    async def _cycles(self) -> list[Notice]:
        """Automatic cycles of a unit that ended since this service started."""
        c, e = power_cycles.c, enterprises.c
        query = (
            select(
                c.id,
                c.state,
                c.device_id,
                c.enterprise_number,
                c.on_at,
                c.last_error,
                c.created_at,
                e.name,
                e.host,
                e.ssh_port,
            )
            .join(enterprises, e.number == c.enterprise_number)
            .where(c.state.in_(("done", "failed")), c.created_at >= self.started - timedelta(minutes=10))
        )
        async with self.box.db.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [self._cycle_notice(r) for r in rows]

    def _cycle_notice(self, r: Any) -> Notice:
        facts: dict[str, Any] = {
            "device": r.device_id,
            "cycle": r.id,
            "name": r.name or "",
            "host": f"{r.host}:{r.ssh_port or 22}",
        }
        if r.state == "done":
            return Notice("cycle_done", f"cycle_done:{r.id}", self.clock(), r.enterprise_number, facts)
        facts.update(reason=r.last_error or "?", retry=self.options.retry_s)
        return Notice("cycle_failed", f"cycle_failed:{r.id}", self.clock(), r.enterprise_number, facts)


async def run_service_events(
    settings: Settings,
    db: Database,
    token_state: Callable[[], str],
    stop: asyncio.Event,
    clock: Clock,
    *,
    interval: float = 30.0,
) -> None:
    """The relay service's notification tasks: the watch and a sender, until `stop`."""
    box, sender = notify_parts(settings, db, clock)
    options = WatchOptions(
        interval=interval,
        heartbeat_file=settings.run_dir / "monitor.heartbeat",
        auth_link=f"{settings.monitor.relay_url}/ewelink-auth-url",
        retry_s=int(settings.monitor.relay_recheck_interval),
    )
    watch = ServiceWatch(box, token_state, options, clock)
    send = asyncio.create_task(sender.run(stop))
    try:
        while not stop.is_set():
            if await watch.check():
                sender.wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    finally:
        await send
