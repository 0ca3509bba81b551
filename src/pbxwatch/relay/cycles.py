"""Power-cycles (SPEC §5): a durable intent first, then off → wait `off_seconds` → on → read back.

The intent row (`pbxwatch_power_cycles`) is written before the relay is touched, so a crash at any
point leaves a row the reconciler can finish. States: pending → off → done | failed | cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from pbxwatch.db.engine import describe
from pbxwatch.db.history import Initiator
from pbxwatch.relay.audit import Target
from pbxwatch.relay.errors import (
    CloudRejected,
    CloudTimeout,
    CloudUnavailable,
    CycleRunning,
    InvalidRequest,
    NotAuthorized,
    NotFound,
    RelayError,
)
from pbxwatch.relay.service import RelayService, outcome_of
from pbxwatch.relay.store import ACTIVE_STATES, Intent

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 60.0
# After these errors the "off" may still have reached the relay: treat it as off so "on" is ensured.
MAYBE_SWITCHED = (CloudTimeout, CloudUnavailable)


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
    def __init__(self, service: RelayService, *, default_off_seconds: float) -> None:
        self.service = service
        self.default_off_seconds = default_off_seconds
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()

    # ---- request -----------------------------------------------------------------------------

    async def request(self, req: CycleRequest) -> CycleTicket:
        """Store the intent and start the cycle in the background; the same key returns the same cycle."""
        try:
            self.service.require_token()
        except NotAuthorized as err:
            await self._audit_refused(await self._target_or_none(req), req.initiator, err)
            raise
        if req.idempotency_key and (found := await self.service.store.intent_by_key(req.idempotency_key)):
            return CycleTicket(found.id, found.on_due_at)
        target, mode = await self._resolve(req)
        try:
            intent, created = await self._store_intent(req, target, mode)
        except RelayError as err:
            await self._audit_refused(target, req.initiator, err)
            raise
        if not created:  # the same idempotency key won a concurrent race
            return CycleTicket(intent.id, intent.on_due_at)
        log.info("power-cycle %s of relay %s outlet %s (unit %s) requested by %s, off %ss, mode %s",
                 intent.id, target.device_id, target.outlet, target.enterprise_number,
                 req.initiator.value, intent.off_seconds, mode)
        await self.service.audit.power_cycle(
            target, at=intent.created_at, initiator=req.initiator, outcome=outcome_of(None, cycle_id=intent.id)
        )
        self.service.metrics.actions.labels("power_cycle", "success").inc()
        self.in_flight[intent.id] = asyncio.create_task(self._run(intent))
        return CycleTicket(intent.id, intent.on_due_at)

    async def _resolve(self, req: CycleRequest) -> tuple[Target, str]:
        """The relay outlet to cycle, the unit it feeds (for the audit) and that unit's `cycle_mode`."""
        if req.enterprise_number is None:
            assert req.device_id is not None  # the schema requires one of the two
            unit = await self.service.store.unit_for_device(req.device_id, req.outlet)
            if unit is None:
                return Target(req.device_id, req.outlet, None), "cloud"
            outlet = req.outlet if req.outlet is not None else unit.ewelink_outlet
            return Target(req.device_id, outlet, unit.number), unit.cycle_mode
        unit = await self.service.store.unit(req.enterprise_number)
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
        async with self.service.lock(target.device_id):
            active = await self.service.store.active_intent(target.device_id, target.outlet)
            if active is not None:
                raise CycleRunning(f"relay {target.device_id} is already power-cycling (cycle {active.id})")
            await self.service.online_device(target)
            intent = self._new_intent(req, target, mode)
            if await self.service.store.insert_intent(intent):
                return intent, True
        if req.idempotency_key and (found := await self.service.store.intent_by_key(req.idempotency_key)):
            return found, False
        raise CycleRunning(f"relay {target.device_id} is already power-cycling")

    def _new_intent(self, req: CycleRequest, target: Target, mode: str) -> Intent:
        now = self.service.clock.now()
        off_seconds = req.off_seconds if req.off_seconds is not None else self.default_off_seconds
        return Intent(
            id=uuid.uuid4().hex, device_id=target.device_id, outlet=target.outlet,
            enterprise_number=target.enterprise_number, initiator=req.initiator.value,
            idempotency_key=req.idempotency_key, mode=mode, state="pending", off_seconds=off_seconds,
            created_at=now, on_due_at=now + timedelta(seconds=off_seconds), attempts=0, last_error=None,
        )

    async def _audit_refused(self, target: Target | None, initiator: Initiator, err: RelayError) -> None:
        self.service.metrics.actions.labels("power_cycle", "fail").inc()
        log.error("power-cycle of relay %s (unit %s) refused: %s",
                  target.device_id if target else "?", target.enterprise_number if target else "?", err.message)
        if target is not None:
            await self.service.audit.power_cycle(
                target, at=self.service.clock.now(), initiator=initiator, outcome=outcome_of(err)
            )

    # ---- the cycle ---------------------------------------------------------------------------

    async def _run(self, intent: Intent) -> None:
        try:
            due = await self._switch_off(intent)
            if due is not None:
                await self._wait_until(due)
                await self.switch_on(intent.id)
        except Exception:  # a bug must not kill the service; the reconciler finishes the intent
            log.exception("power-cycle %s of relay %s crashed", intent.id, intent.device_id)
        finally:
            self.in_flight.pop(intent.id, None)

    async def _switch_off(self, intent: Intent) -> datetime | None:
        """Switch off (arming the device's countdown first in device_timer mode); the time "on" is due."""
        target, service = target_of(intent), self.service
        initiator = Initiator(intent.initiator)
        async with service.lock(intent.device_id):
            current = await service.store.intent(intent.id)
            if current is None or current.state != "pending":
                return None
            try:
                device, _ = await service.online_device(target)
                if intent.mode == "device_timer":
                    await service.call(lambda: service.cloud.arm_countdown(device, intent.outlet, intent.off_seconds))
                await service.switch(device, intent.outlet, False, read_back=False)
            except RelayError as err:
                return await self._off_failed(intent, err)
            now = service.clock.now()
            due = now + timedelta(seconds=intent.off_seconds)
            log.info("power-cycle %s: relay %s outlet %s off, on due at %s",
                     intent.id, intent.device_id, intent.outlet, due.isoformat())
            await service.audit_switch(target, False, initiator, cycle_id=intent.id)
            await service.store.transition(intent.id, ["pending"], state="off", off_at=now, on_due_at=due)
            return due

    async def _off_failed(self, intent: Intent, err: RelayError) -> datetime | None:
        maybe_off = isinstance(err, MAYBE_SWITCHED) and not isinstance(err, CloudRejected)
        state = "off" if maybe_off else "failed"
        due = self.service.clock.now() + timedelta(seconds=intent.off_seconds)
        await self.service.audit_switch(target_of(intent), False, Initiator(intent.initiator), failure=err,
                                        cycle_id=intent.id)
        await self.service.store.transition(intent.id, ["pending"], state=state, on_due_at=due, last_error=err.message)
        return due if maybe_off else None

    async def _wait_until(self, due: datetime) -> None:
        """Sleep until `due`, or until shutdown asks every pending "on" to happen now."""
        seconds = (due - self.service.clock.now()).total_seconds()
        sleeper = asyncio.create_task(self.service.clock.sleep(seconds))
        stopper = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def switch_on(self, cycle_id: str) -> bool:
        """Turn the relay of an active intent on and finish it; False (attempt recorded) on failure."""
        service = self.service
        intent = await service.store.intent(cycle_id)
        if intent is None or intent.state not in ACTIVE_STATES:
            return True
        target, initiator = target_of(intent), Initiator(intent.initiator)
        async with service.lock(intent.device_id):
            try:
                device, _ = await service.online_device(target)
                after = await service.switch(device, intent.outlet, True)
            except RelayError as err:
                await service.store.record_attempt(cycle_id, err.message)
                await service.audit_switch(target, True, initiator, failure=err, cycle_id=cycle_id)
                return False
            log.info("power-cycle %s: relay %s outlet %s on again (read back %s)",
                     cycle_id, intent.device_id, intent.outlet, after)
            # audited before the intent is closed: whoever sees "done" sees the row too
            await service.audit_switch(target, True, initiator, state_after=after, cycle_id=cycle_id)
            await service.store.transition(cycle_id, ACTIVE_STATES, state="done", on_at=service.clock.now())
            return True

    async def cancel_for(self, target: Target) -> None:
        """An explicit toggle cancels the relay's pending intent (the caller holds the device lock)."""
        active = await self.service.store.active_intent(target.device_id, target.outlet)
        if active and await self.service.store.transition(active.id, ACTIVE_STATES, state="cancelled"):
            log.warning("power-cycle %s of relay %s cancelled by an explicit toggle", active.id, target.device_id)

    async def shutdown(self) -> None:
        """On SIGTERM: wake every waiting cycle so its "on" happens now, then wait for them; relays whose
        "on" already failed get one more attempt (what still fails is the next start's reconciler's)."""
        self._stopping.set()
        tasks = list(self.in_flight.values())
        if tasks:
            log.info("finishing %s pending power-cycle(s) before exit", len(tasks))
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
        try:
            for intent in await self.service.store.active_intents():
                if intent.id not in self.in_flight:
                    await self.switch_on(intent.id)
        except (SQLAlchemyError, OSError, TimeoutError) as err:
            log.error("database unavailable at shutdown; the next start finishes pending power-cycles: %s",  # noqa: TRY400 - one line
                      describe(err))
