"""The reconciler: every active power-cycle no task runs is resumed, so every relay ends on.

Such cycles come from a crash or restart (between "off" and "on", or inside the verification window),
or from a bug that ended a cycle's task. While an "on" is overdue `/health` is degraded, `/metrics`
shows the count and the log says so every minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from pbxwatch.db.engine import DB_ERRORS
from pbxwatch.relay.cycles import CycleRunner
from pbxwatch.relay.gateway import RelayGateway
from pbxwatch.relay.recorder import DatabaseWatch
from pbxwatch.relay.store import Intent, RelayStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcilerPolicy:
    interval: float = 5.0  # seconds between passes
    overdue_grace: float = 30.0  # an "on" this late counts as overdue
    loud_every: float = 60.0  # how often the overdue ERROR line repeats


class Reconciler:
    """Resumes every active cycle no task runs (after a restart: from the journal first, then from the
    database), including those in their verification window, and keeps `/health` and `/metrics` told.
    The fast "on" retries are the cycle's own (`cycle_run.py`)."""

    def __init__(
        self,
        runner: CycleRunner,
        gateway: RelayGateway,
        store: RelayStore,
        policy: ReconcilerPolicy,
        watch: DatabaseWatch | None = None,
    ) -> None:
        self.runner = runner
        self.gateway = gateway
        self.store = store
        self.policy = policy
        self.watch = watch or DatabaseWatch()
        self.overdue: list[Intent] = []
        self._last_loud: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until `stop` is set; a failing pass is logged and the loop goes on."""
        self.runner.resume_journals()  # no database needed: a cycle in progress goes on at once
        while not stop.is_set():
            try:
                await self.tick()
            except DB_ERRORS as err:  # the database is down: said once (shared with the recorder)
                self.watch.failed(err, "cycles in progress go on from their local journal")
            except Exception:  # a bug must not stop the reconciler; the next pass tries again
                log.exception("reconciler pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.policy.interval)

    async def refresh_overdue(self) -> list[Intent]:
        """Re-read the active intents; those whose relay is not back on (what this process knows first,
        then the database) more than `overdue_grace` after the "on" was due feed `/health` and `/metrics`."""
        now = self.gateway.clock.now()
        active = await self.store.active_intents()
        grace = timedelta(seconds=self.policy.overdue_grace)
        self.overdue = [i for i in active if self._waiting_for_on(i) and i.on_due_at + grace <= now]
        self.gateway.metrics.active_cycles.set(len(active))
        self.gateway.metrics.overdue_on.set(len(self.overdue))
        return active

    def _waiting_for_on(self, intent: Intent) -> bool:
        cycle = self.runner.cycles.get(intent.id)
        if cycle is not None:
            return cycle.active and cycle.state in ("pending", "off")
        return intent.state in ("pending", "off")

    async def tick(self) -> None:
        now = self.gateway.clock.now()
        active = await self.refresh_overdue()
        self.watch.ok()
        self._say_loudly(now)
        for intent in active:
            self.runner.resume_intent(intent)
        await self.gateway.flush_call_counter()

    def _say_loudly(self, now: datetime) -> None:
        if not self.overdue:
            self._last_loud = None
            return
        if self._last_loud is not None and (now - self._last_loud).total_seconds() < self.policy.loud_every:
            return
        self._last_loud = now
        for intent in self.overdue:
            log.error(
                "OVERDUE: relay %s outlet %s (unit %s) should have been on since %s; cycle %s, "
                "%s failed attempt(s), last error: %s",
                intent.device_id,
                intent.outlet,
                intent.enterprise_number,
                intent.on_due_at.isoformat(),
                intent.id,
                intent.attempts,
                intent.last_error,
            )
