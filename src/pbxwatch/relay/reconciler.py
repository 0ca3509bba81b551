"""The reconciler (SPEC §5): every relay whose "on" is overdue is turned on, with back-off.

Overdue "on"s come from a crash or restart between "off" and "on", or from an "on" that failed. While
any is overdue `/health` is degraded, `/metrics` shows the count and the log says so every minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from pbxwatch.db.engine import describe
from pbxwatch.relay.cycles import CycleRunner
from pbxwatch.relay.store import Intent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcilerPolicy:
    interval: float = 5.0  # seconds between passes
    overdue_grace: float = 30.0  # an "on" this late counts as overdue
    backoff_base: float = 5.0  # first retry delay; doubles per failed attempt
    backoff_max: float = 300.0
    loud_every: float = 60.0  # how often the overdue ERROR line repeats


class Reconciler:
    def __init__(self, runner: CycleRunner, policy: ReconcilerPolicy) -> None:
        self.runner = runner
        self.policy = policy
        self.overdue: list[Intent] = []
        self._next_try: dict[str, datetime] = {}
        self._last_loud: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until `stop` is set; a failing pass is logged and the loop goes on."""
        failing = False
        while not stop.is_set():
            try:
                await self.tick()
                failing = False
            except (SQLAlchemyError, OSError, TimeoutError) as err:  # the database is down: say it once
                if not failing:
                    log.error("reconciler: database unavailable, retrying: %s", describe(err))  # noqa: TRY400
                failing = True
            except Exception:  # a bug must not stop the reconciler; the next pass tries again
                log.exception("reconciler pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.policy.interval)

    async def refresh_overdue(self) -> list[Intent]:
        """Re-read the active intents; the overdue ones feed `/health` and `/metrics`."""
        now = self.runner.service.clock.now()
        active = await self.runner.service.store.active_intents()
        grace = timedelta(seconds=self.policy.overdue_grace)
        self.overdue = [i for i in active if i.on_due_at + grace <= now]
        self.runner.service.metrics.active_cycles.set(len(active))
        self.runner.service.metrics.overdue_on.set(len(self.overdue))
        return active

    async def tick(self) -> None:
        now = self.runner.service.clock.now()
        await self.runner.service.flush_call_counter()
        active = await self.refresh_overdue()
        self._say_loudly(now)
        for intent in active:
            if intent.on_due_at <= now and intent.id not in self.runner.in_flight and self._due(intent, now):
                await self._try_on(intent, now)

    def _due(self, intent: Intent, now: datetime) -> bool:
        return self._next_try.get(intent.id, now) <= now

    async def _try_on(self, intent: Intent, now: datetime) -> None:
        log.warning("reconciler: turning relay %s outlet %s on (cycle %s, unit %s, attempt %s)",
                    intent.device_id, intent.outlet, intent.id, intent.enterprise_number, intent.attempts + 1)
        if await self.runner.switch_on(intent.id):
            self._next_try.pop(intent.id, None)
            return
        delay = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** min(intent.attempts, 16))
        self._next_try[intent.id] = now + timedelta(seconds=delay)

    def _say_loudly(self, now: datetime) -> None:
        if not self.overdue:
            self._last_loud = None
            return
        if self._last_loud is not None and (now - self._last_loud).total_seconds() < self.policy.loud_every:
            return
        self._last_loud = now
        for intent in self.overdue:
            log.error("OVERDUE: relay %s outlet %s (unit %s) should have been on since %s; cycle %s, "
                      "%s failed attempt(s), last error: %s",
                      intent.device_id, intent.outlet, intent.enterprise_number, intent.on_due_at.isoformat(),
                      intent.id, intent.attempts, intent.last_error)
