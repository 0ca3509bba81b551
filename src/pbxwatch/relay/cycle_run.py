"""One power-cycle, run from memory: off → wait `off_seconds` → on (fast retries) → verification window.

Nothing here waits for the database: every step is journalled through the recorder, which writes the
rows when it can. A cycle is `done` only once its relay was read back on and stayed on through the
verification window (longer than the cloud client's timeout), so an "off" the cloud answered too late
but still applied is seen and answered with another "on" (audited like any other).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pbxwatch.ewelink import CallPriority, call_budget
from pbxwatch.relay.audit import Target
from pbxwatch.relay.devices import DeviceCache
from pbxwatch.relay.errors import CloudRejected, CloudTimeout, CloudUnavailable, RelayError
from pbxwatch.relay.gateway import RelayGateway
from pbxwatch.relay.journal import Entry
from pbxwatch.relay.recorder import CycleRecorder
from pbxwatch.relay.service import RelayService
from pbxwatch.relay.store import Intent

log = logging.getLogger(__name__)

# After these errors the "off" may still have reached the relay: treat it as off so "on" is ensured.
MAYBE_SWITCHED = (CloudTimeout, CloudUnavailable)
INTENT_FIELDS = ("id", "device_id", "outlet", "enterprise_number", "initiator", "mode", "off_seconds")


@dataclass(frozen=True)
class CyclePolicy:
    verify_seconds: float = 30.0  # the relay must stay on this long after it was read back on
    verify_poll: float = 2.0  # read-back interval inside the window
    on_retry: float = 1.0  # first retry of a failed "on"; doubles up to `on_retry_max`
    on_retry_max: float = 5.0  # a relay that is off is worth a call every few seconds
    slow_after: float = 600.0  # failing this long, the "on" is retried every `slow_retry` only
    slow_retry: float = 30.0
    restart_grace: float = 120.0  # a cycle found at start before its "off" is run only this young


def on_retry_delay(policy: CyclePolicy, failures: int, failing_for: float) -> float:
    """Seconds before the next "on" after `failures` failed ones: a relay that is off costs a PBX its
    calls, so retries stay a few seconds apart (the client's rate limiter still spaces the calls)."""
    if failing_for >= policy.slow_after:
        return policy.slow_retry
    return float(min(policy.on_retry_max, policy.on_retry * 2 ** min(failures - 1, 16)))


@dataclass
class Cycle:
    """The running state of one cycle (the journal replays into it after a restart)."""

    id: str
    device_id: str
    outlet: int | None
    enterprise_number: str | None
    initiator: str
    mode: str
    off_seconds: float
    created_at: datetime
    state: str
    on_due_at: datetime
    dangling: bool | None = None  # the switch journalled as intended whose outcome is unknown
    confirmed_at: datetime | None = None
    cancelled: bool = False

    @property
    def target(self) -> Target:
        return Target(self.device_id, self.outlet, self.enterprise_number)

    @property
    def active(self) -> bool:
        return self.state in ("pending", "off", "verifying") and not self.cancelled

    def meta(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in INTENT_FIELDS} | {"state": self.state}

    @classmethod
    def from_intent(cls, intent: Intent) -> Cycle:
        fields = {k: getattr(intent, k) for k in INTENT_FIELDS}
        return cls(**fields, created_at=intent.created_at, state=intent.state, on_due_at=intent.on_due_at)

    @classmethod
    def from_journal(cls, entries: list[Entry]) -> Cycle:
        meta = next(e for e in entries if e["kind"] == "created")
        cycle = cls(
            **{k: meta[k] for k in INTENT_FIELDS},
            created_at=datetime.fromisoformat(meta["at"]),
            state=meta["state"],
            on_due_at=datetime.fromisoformat(meta["on_due_at"]),
        )
        for entry in entries:
            cycle.replay(entry)
        return cycle

    def replay(self, entry: Entry) -> None:
        if entry["kind"] == "intent":
            self.dangling = bool(entry["on"])
        elif entry["kind"] == "switched":
            self.dangling = None
        if entry.get("on_due_at"):
            self.on_due_at = datetime.fromisoformat(entry["on_due_at"])
        if entry["kind"] != "created" and entry.get("state"):
            self.state = entry["state"]
            self.cancelled = self.state == "cancelled"
        if entry.get("state") == "verifying":
            self.confirmed_at = datetime.fromisoformat(entry["at"])


class CycleDriver:
    """Runs cycles; `stopping` (shutdown) makes waiting cycles switch on now and ends windows early."""

    def __init__(
        self,
        gateway: RelayGateway,
        switching: RelayService,
        devices: DeviceCache,
        recorder: CycleRecorder,
        policy: CyclePolicy,
    ) -> None:
        self.gateway = gateway
        self.switching = switching
        self.devices = devices
        self.recorder = recorder
        self.policy = policy
        self.stopping = asyncio.Event()

    def begin(self, cycle: Cycle, *, after_seq: int = 0) -> None:
        """Open the cycle's journal (`after_seq`: entries the database already has, for a cycle whose
        journal was lost)."""
        meta = cycle.meta() | {"on_due_at": cycle.on_due_at.isoformat()}
        self.recorder.start(cycle.id, cycle.created_at, meta, after_seq=after_seq)

    def _record(self, cycle: Cycle, kind: str, **data: Any) -> None:
        self.recorder.record(cycle.id, kind, self.gateway.clock.now(), **data)
        if data.get("state"):
            cycle.state = data["state"]

    def cancel(self, cycle: Cycle) -> None:
        """An explicit toggle overrides the cycle (the caller holds the device lock)."""
        self._record(cycle, "state", state="cancelled")
        cycle.cancelled = True

    async def drive(self, cycle: Cycle) -> None:
        if cycle.dangling is not None:
            await self._settle(cycle)
        if cycle.state == "pending" and cycle.active:
            await self._switch_off(cycle)
        if cycle.state == "off" and cycle.active:
            await self._wait_until(cycle.on_due_at)
            await self._switch_on(cycle)
        if cycle.state == "verifying" and cycle.active:
            await self._verify(cycle)

    # ---- off ------------------------------------------------------------------------------------

    async def _switch_off(self, cycle: Cycle) -> None:
        """Switch off (arming the device's countdown first in device_timer mode) and set the "on" time."""
        async with self.gateway.lock(cycle.device_id):
            if not cycle.active:
                return
            self._record(cycle, "intent", on=False)
            with call_budget(CallPriority.SWITCH):
                await self._off(cycle)

    async def _off(self, cycle: Cycle) -> None:
        try:
            device, _ = await self.switching.online_device(cycle.target)
            if cycle.mode == "device_timer":
                await self.gateway.arm_countdown(device, cycle.outlet, cycle.off_seconds)
            await self.switching.switch(device, cycle.outlet, False, read_back=False)
        except RelayError as err:
            self._off_failed(cycle, err)
            return
        now = self.gateway.clock.now()
        due = now + timedelta(seconds=cycle.off_seconds)
        log.info(
            "power-cycle %s: relay %s outlet %s off, on due at %s",
            cycle.id,
            cycle.device_id,
            cycle.outlet,
            due.isoformat(),
        )
        self.gateway.metrics.actions.labels("off", "success").inc()
        cycle.on_due_at = due
        self._record(
            cycle, "switched", on=False, ok=True, state="off", off_at=now.isoformat(), on_due_at=due.isoformat()
        )

    def _off_failed(self, cycle: Cycle, err: RelayError) -> None:
        maybe_off = isinstance(err, MAYBE_SWITCHED) and not isinstance(err, CloudRejected)
        cycle.on_due_at = self.gateway.clock.now() + timedelta(seconds=cycle.off_seconds)
        log.error(
            "relay %s outlet %s: off failed (unit %s, cycle %s): %s",
            cycle.device_id,
            cycle.outlet,
            cycle.enterprise_number,
            cycle.id,
            err.message,
        )
        self.gateway.metrics.actions.labels("off", "fail").inc()
        self._record(
            cycle,
            "switched",
            on=False,
            ok=False,
            **_failure(err),
            state="off" if maybe_off else "failed",
            on_due_at=cycle.on_due_at.isoformat(),
            last_error=err.message,
        )

    # ---- on -------------------------------------------------------------------------------------

    async def _switch_on(self, cycle: Cycle) -> None:
        """Retry every few seconds until the relay is read back on (slower after `slow_after`)."""
        failures, started = 0, self.gateway.clock.now()
        while cycle.active and not await self._try_on(cycle):
            if self.stopping.is_set():
                return  # the next start's reconciler goes on trying
            failures += 1
            failing = (self.gateway.clock.now() - started).total_seconds()
            await self._pause(on_retry_delay(self.policy, failures, failing))

    async def _try_on(self, cycle: Cycle) -> bool:
        async with self.gateway.lock(cycle.device_id):
            if not cycle.active:
                return True
            self._record(cycle, "intent", on=True)
            try:
                with call_budget(CallPriority.CYCLE_ON):  # ahead of every other call, never refused
                    device, _ = await self.switching.online_device(cycle.target)
                    after = await self.switching.switch(device, cycle.outlet, True)
            except RelayError as err:
                log.error(  # noqa: TRY400 - one line
                    "relay %s outlet %s: on failed (unit %s, cycle %s): %s",
                    cycle.device_id,
                    cycle.outlet,
                    cycle.enterprise_number,
                    cycle.id,
                    err.message,
                )
                self.gateway.metrics.actions.labels("on", "fail").inc()
                self._record(cycle, "switched", on=True, ok=False, **_failure(err), last_error=err.message)
                return False
            self._confirmed(cycle, after)
            return after is not False

    def _confirmed(self, cycle: Cycle, after: bool | None) -> None:
        now = self.gateway.clock.now()
        log.info(
            "power-cycle %s: relay %s outlet %s on again (read back %s)", cycle.id, cycle.device_id, cycle.outlet, after
        )
        self.gateway.metrics.actions.labels("on", "success").inc()
        if after is False:  # accepted but not applied (yet): keep trying
            self._record(cycle, "switched", on=True, ok=True, state_after=False)
            return
        self.gateway.metrics.on_confirm_seconds.observe(max(0.0, (now - cycle.on_due_at).total_seconds()))
        cycle.confirmed_at = now
        self._record(cycle, "switched", on=True, ok=True, state_after=after, state="verifying", on_at=now.isoformat())

    # ---- verification window ----------------------------------------------------------------------

    async def _verify(self, cycle: Cycle) -> None:
        """Read the relay back until it stayed on `verify_seconds`; a late "off" is answered with "on"."""
        window = timedelta(seconds=self.policy.verify_seconds)
        cycle.confirmed_at = cycle.confirmed_at or self.gateway.clock.now()
        while cycle.active and self.gateway.clock.now() < cycle.confirmed_at + window:
            await self._pause(self.policy.verify_poll)
            if self.stopping.is_set():
                return  # stays `verifying`: the next start's reconciler watches the rest of the window
            if await self._read_off(cycle):
                log.warning(
                    "power-cycle %s: relay %s outlet %s read back OFF inside the verification window "
                    '(a late "off"?): switching it on again',
                    cycle.id,
                    cycle.device_id,
                    cycle.outlet,
                )
                self._record(cycle, "state", state="off", last_error="read back off during verification")
                await self._switch_on(cycle)
                if cycle.state != "verifying":
                    return
        if cycle.active:
            self._record(cycle, "state", state="done")
            log.info(
                "power-cycle %s: relay %s outlet %s stayed on %ss: done",
                cycle.id,
                cycle.device_id,
                cycle.outlet,
                self.policy.verify_seconds,
            )

    async def _read_off(self, cycle: Cycle) -> bool:
        """True when the relay is read back off (an unreadable relay is not judged)."""
        async with self.gateway.lock(cycle.device_id):
            try:
                with call_budget(CallPriority.VERIFY):
                    device, _ = await self.devices.device(cycle.device_id, fresh=True)
            except RelayError:
                return False
            channel = device.channel(cycle.outlet)
            return cycle.active and channel is not None and channel.on is False

    # ---- after a restart ------------------------------------------------------------------------------

    async def _settle(self, cycle: Cycle) -> None:
        """A switch journalled as intended, outcome unknown (a crash): read the relay back to settle it."""
        on = await self._read_until_known(cycle)
        if on is None:
            return
        wanted = cycle.dangling
        cycle.dangling = None
        if on == wanted:
            log.warning(
                "power-cycle %s: the %s sent before a restart reached relay %s (read back)",
                cycle.id,
                "on" if wanted else "off",
                cycle.device_id,
            )
            if wanted:
                self._confirmed(cycle, True)
            else:
                self._record(
                    cycle,
                    "switched",
                    on=False,
                    ok=True,
                    state_after=False,
                    reason="settled_by_read_back",
                    state="off",
                    on_due_at=cycle.on_due_at.isoformat(),
                )
        elif not wanted:
            self._off_not_applied(cycle)
        # an "on" not applied is simply sent again (that attempt's row is its row)

    def _off_not_applied(self, cycle: Cycle) -> None:
        age = (self.gateway.clock.now() - cycle.created_at).total_seconds()
        if age <= self.policy.restart_grace:
            cycle.state = "pending"  # the "off" never landed: the cycle runs from the start
            return
        log.warning(
            "power-cycle %s: the relay stayed on across a restart %.0f s after the request: not cycling this late",
            cycle.id,
            age,
        )
        self._record(cycle, "state", state="failed", last_error="service restarted before the off; not retried")

    async def _read_until_known(self, cycle: Cycle) -> bool | None:
        delay = self.policy.on_retry
        while not self.stopping.is_set():
            try:
                with call_budget(CallPriority.VERIFY):
                    device, _ = await self.devices.device(cycle.device_id, fresh=True)
            except RelayError as err:
                log.warning(
                    "power-cycle %s: relay %s unreadable (%s); retrying", cycle.id, cycle.device_id, err.message
                )
            else:
                channel = device.channel(cycle.outlet)
                return channel.on if channel is not None and channel.on is not None else False
            await self._pause(delay)
            delay = min(self.policy.on_retry_max, delay * 2)
        return None

    # ---- waiting ------------------------------------------------------------------------------------

    async def _wait_until(self, due: datetime) -> None:
        await self._pause((due - self.gateway.clock.now()).total_seconds())

    async def _pause(self, seconds: float) -> None:
        """Sleep on the service clock, or until shutdown asks every pending "on" to happen now."""
        sleeper = asyncio.create_task(self.gateway.clock.sleep(seconds))
        stopper = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def _failure(err: RelayError) -> dict[str, Any]:
    info: dict[str, Any] = {"error": err.message, "reason": err.code}
    if err.cloud_code is not None:
        info["cloud_error"] = err.cloud_code
    return info
