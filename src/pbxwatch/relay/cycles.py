"""Power-cycle requests: a durable intent first, then the cycle runs in the background (`cycle_run.py`).

The intent row (`pbxwatch_power_cycles`) is written before the relay is touched, and every step after
it goes to the cycle's local journal first, so a crash at any point leaves what the reconciler needs to
finish it. States: pending → off → verifying → done | failed | cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pbxwatch.domain.vocabulary import Initiator
from pbxwatch.ewelink import CallPriority
from pbxwatch.relay.audit import Target
from pbxwatch.relay.cycle_run import Cycle, CycleDriver, CyclePolicy
from pbxwatch.relay.errors import (
    CycleRunning,
    InvalidRequest,
    NotAuthorized,
    NotFound,
    RelayError,
)
from pbxwatch.relay.gateway import RelayGateway
from pbxwatch.relay.recorder import CycleRecorder
from pbxwatch.relay.service import RelayService, outcome_of
from pbxwatch.relay.store import ACTIVE_STATES, Intent, RelayStore

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class CycleRequest:
    device_id: str | None
    enterprise_number: str | None
    outlet: int | None
    off_seconds: float | None
    idempotency_key: str | None
    initiator: Initiator


@dataclass(frozen=True)
class CycleTicket:
    cycle_id: str
    on_due_at: datetime


def target_of(intent: Intent) -> Target:
    return Target(intent.device_id, intent.outlet, intent.enterprise_number)


class CycleRunner:
    def __init__(
        self,
        gateway: RelayGateway,
        switching: RelayService,
        store: RelayStore,
        recorder: CycleRecorder,
        *,
        default_off_seconds: float,
        policy: CyclePolicy | None = None,
    ) -> None:
        self.gateway = gateway
        self.switching = switching
        self.store = store
        self.recorder = recorder
        self.default_off_seconds = default_off_seconds
        self.driver = CycleDriver(gateway, switching, switching.devices, recorder, policy or CyclePolicy())
        self.cycles: dict[str, Cycle] = {}  # active cycles of this process (the truth while they run)
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        self.known: set[str] = set()  # every cycle this process created or resumed (never resumed twice)

    # ---- request -----------------------------------------------------------------------------

    async def request(self, req: CycleRequest) -> CycleTicket:
        """Store the intent and start the cycle in the background; the same key returns the same cycle.
        The cloud calls made here (the relay's fresh read) count for the cycle started."""
        with self.gateway.tally.counting():
            return await self._request(req)

    async def _request(self, req: CycleRequest) -> CycleTicket:
        try:
            self.gateway.require_token()
        except NotAuthorized as err:
            await self._audit_refused(await self._target_or_none(req), req.initiator, err)
            raise
        if req.idempotency_key and (found := await self.store.intent_by_key(req.idempotency_key)):
            return CycleTicket(found.id, found.on_due_at)
        target, mode = await self._resolve(req)
        try:
            intent, created = await self._store_intent(req, target, mode)
        except RelayError as err:
            await self._audit_refused(target, req.initiator, err)
            raise
        if not created:  # the same idempotency key won a concurrent race
            return CycleTicket(intent.id, intent.on_due_at)
        log.info(
            "power-cycle %s of relay %s outlet %s (unit %s) requested by %s, off %ss, mode %s",
            intent.id,
            target.device_id,
            target.outlet,
            target.enterprise_number,
            req.initiator.value,
            intent.off_seconds,
            mode,
        )
        await self.switching.audit.power_cycle(
            target, at=intent.created_at, initiator=req.initiator, outcome=outcome_of(None, cycle_id=intent.id)
        )
        self.gateway.metrics.actions.labels("power_cycle", "success").inc()
        cycle = Cycle.from_intent(intent)
        self.driver.begin(cycle)
        self.start(cycle)
        return CycleTicket(intent.id, intent.on_due_at)

    async def _resolve(self, req: CycleRequest) -> tuple[Target, str]:
        """The relay outlet to cycle, the unit it feeds (for the audit) and that unit's `cycle_mode`."""
        if req.enterprise_number is None:
            assert req.device_id is not None  # the schema requires one of the two
            unit = await self.store.unit_for_device(req.device_id, req.outlet)
            if unit is None:
                return Target(req.device_id, req.outlet, None), "cloud"
            outlet = req.outlet if req.outlet is not None else unit.ewelink_outlet
            return Target(req.device_id, outlet, unit.number), unit.cycle_mode
        unit = await self.store.unit(req.enterprise_number)
        if unit is None:
            raise NotFound(f"unit {req.enterprise_number} does not exist")
        device_id = req.device_id or unit.ewelink_device_id
        if device_id is None:
            raise InvalidRequest(f"enterprise_number: unit {unit.number} has no eWeLink relay configured")
        outlet = req.outlet if req.outlet is not None else unit.ewelink_outlet
        return Target(device_id, outlet, unit.number), unit.cycle_mode

    async def _target_or_none(self, req: CycleRequest) -> Target | None:
        try:
            return (await self._resolve(req))[0]
        except RelayError:
            return None

    async def _store_intent(self, req: CycleRequest, target: Target, mode: str) -> tuple[Intent, bool]:
        # it starts an "off": ahead of plain reads; the lock and the read share the caller's wait bound
        with self.gateway.caller_budget(CallPriority.SWITCH):
            async with self.gateway.caller_lock(target.device_id):
                await self.switching.online_device(target)
                intent = self._new_intent(req, target, mode)
                self.known.add(intent.id)  # the reconciler must not resume it before its task starts
                # the one check: an active intent of this relay in the database (any process) refuses it
                if await self.store.insert_intent(intent):
                    return intent, True
        if req.idempotency_key and (found := await self.store.intent_by_key(req.idempotency_key)):
            return found, False
        running = self.running(target.device_id, target.outlet)
        raise CycleRunning(
            f"relay {target.device_id} is already power-cycling" + (f" (cycle {running.id})" if running else "")
        )

    def _new_intent(self, req: CycleRequest, target: Target, mode: str) -> Intent:
        now = self.gateway.clock.now()
        off_seconds = req.off_seconds if req.off_seconds is not None else self.default_off_seconds
        return Intent(
            id=uuid.uuid4().hex,
            device_id=target.device_id,
            outlet=target.outlet,
            enterprise_number=target.enterprise_number,
            initiator=req.initiator.value,
            idempotency_key=req.idempotency_key,
            mode=mode,
            state="pending",
            off_seconds=off_seconds,
            created_at=now,
            on_due_at=now + timedelta(seconds=off_seconds),
            attempts=0,
            last_error=None,
        )

    async def _audit_refused(self, target: Target | None, initiator: Initiator, err: RelayError) -> None:
        self.gateway.metrics.actions.labels("power_cycle", "fail").inc()
        log.error(
            "power-cycle of relay %s (unit %s) refused: %s",
            target.device_id if target else "?",
            target.enterprise_number if target else "?",
            err.message,
        )
        if target is not None:
            await self.switching.audit.power_cycle(
                target, at=self.gateway.clock.now(), initiator=initiator, outcome=outcome_of(err)
            )

    # ---- running cycles ------------------------------------------------------------------------

    def start(self, cycle: Cycle) -> None:
        """Run a cycle in the background (the reconciler restarts it if a bug ends its task)."""
        self.cycles[cycle.id] = cycle
        self.in_flight[cycle.id] = asyncio.create_task(self._run(cycle))

    async def _run(self, cycle: Cycle) -> None:
        """Drive the cycle; the calls it cost (with its request's, counted in the task that started it)
        are observed once it ended."""
        with contextlib.ExitStack() as scope:
            spent = self.gateway.tally.current() or scope.enter_context(self.gateway.tally.counting())
            try:
                await self.driver.drive(cycle)
            except Exception:  # a bug must not kill the service; the reconciler resumes the cycle
                log.exception("power-cycle %s of relay %s crashed", cycle.id, cycle.device_id)
            finally:
                self.in_flight.pop(cycle.id, None)
                if not cycle.active:
                    self.cycles.pop(cycle.id, None)
                    self.gateway.metrics.calls_per_action.labels("power_cycle", cycle.state).observe(spent.calls)

    def resume_journals(self) -> int:
        """At start: every cycle left in the local journal is replayed and, if unfinished, run again."""
        resumed = 0
        for cycle_id, entries in self.recorder.journal.load():
            self.known.add(cycle_id)
            self.recorder.adopt(cycle_id, entries)
            if not any(e["kind"] == "created" for e in entries):
                continue
            cycle = Cycle.from_journal(entries)
            if cycle.active and cycle.id not in self.in_flight:
                log.warning(
                    "power-cycle %s of relay %s resumed from its journal (state %s)",
                    cycle.id,
                    cycle.device_id,
                    cycle.state,
                )
                self.start(cycle)
                resumed += 1
        return resumed

    def resume_intent(self, intent: Intent) -> None:
        """An active intent of the database: run again if no task runs it. One this process never knew
        (its journal lost) runs from what the database says; a `pending` one may have sent its "off"
        before the crash, so the relay is read back first."""
        if intent.id in self.known:
            cycle = self.cycles.get(intent.id)
            if cycle is not None and cycle.active and intent.id not in self.in_flight:
                self.start(cycle)  # its task ended by a bug: run it again from memory
            return
        self.known.add(intent.id)
        cycle = Cycle.from_intent(intent)
        cycle.dangling = False if intent.state == "pending" else None
        log.warning(
            "power-cycle %s of relay %s resumed from the database (state %s)", intent.id, intent.device_id, intent.state
        )
        self.driver.begin(cycle, after_seq=intent.journal_seq)
        self.start(cycle)

    def running(self, device_id: str, outlet: int | None) -> Cycle | None:
        return next(
            (c for c in self.cycles.values() if c.active and c.device_id == device_id and c.outlet == outlet), None
        )

    async def cancel_for(self, target: Target) -> None:
        """An explicit toggle cancels the relay's active cycle (the caller holds the device lock)."""
        cycle = self.running(target.device_id, target.outlet)
        if cycle is not None:
            self.driver.cancel(cycle)
            log.warning("power-cycle %s of relay %s cancelled by an explicit toggle", cycle.id, target.device_id)
            await self.recorder.flush()  # whoever got the toggle's answer sees the cycle cancelled
            return
        active = await self.store.active_intent(target.device_id, target.outlet)
        if active and await self.store.transition(active.id, ACTIVE_STATES, state="cancelled"):
            log.warning("power-cycle %s of relay %s cancelled by an explicit toggle", active.id, target.device_id)

    async def shutdown(self) -> None:
        """On SIGTERM: wake every waiting cycle so its "on" happens now (one attempt each), end the
        verification windows early (the next start watches them again), and wait for them."""
        self.driver.stopping.set()
        tasks = list(self.in_flight.values())
        if tasks:
            log.info("finishing %s power-cycle(s) before exit", len(tasks))
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
