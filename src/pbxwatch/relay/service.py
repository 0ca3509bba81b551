"""Relay actions: the token guard, per-device serialization, toggles, and the cloud-call bookkeeping.

Every action from any initiator ends in an audit row, success or failure (docs/design.md §2, §6).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from pbxwatch.db.history import Initiator
from pbxwatch.ewelink import (
    MSG_NO_ACCESS_TOKEN,
    MSG_TOKENS_EXPIRED,
    CallPriority,
    call_budget,
    call_priority,
)
from pbxwatch.relay.audit import Auditor, Outcome, Target
from pbxwatch.relay.clock import Clock
from pbxwatch.relay.cloud import Channel, Device, RelayCloud, TokenState
from pbxwatch.relay.devices import DeviceCache
from pbxwatch.relay.errors import (
    BudgetExceeded,
    CloudTimeout,
    CloudUnavailable,
    InvalidRequest,
    NotFound,
    NoToken,
    QuotaExceeded,
    RelayError,
    RelayOffline,
    TokensExpired,
)
from pbxwatch.relay.metrics import RelayMetrics
from pbxwatch.relay.store import RelayStore

log = logging.getLogger(__name__)
T = TypeVar("T")

MONTHLY_CALL_QUOTA = 50_000  # free APPID: 50,000 calls per month per region (API-NOTES §7)
QUOTA_WARNING_SHARE = 0.8
CALLER_WAIT_S = 5.0  # `relay.caller_wait`
CLOUD_FAILURES = (CloudUnavailable, CloudTimeout, QuotaExceeded)


@dataclass
class ActionCalls:
    """Cloud calls made on behalf of one action (a toggle, a power-cycle), for the calls-per-action metric."""

    calls: int = 0


# a context variable: calls made by one action's task (and the tasks it starts) count for that action
_ACTION: ContextVar[ActionCalls | None] = ContextVar("relay_action_calls", default=None)


class CallTally:
    """Cloud HTTP requests not yet added to the monthly counter (the cloud adapter calls `note`)."""

    def __init__(self) -> None:
        self.pending = 0
        self.total = 0

    def note(self, *_: object) -> None:
        self.pending += 1
        self.total += 1
        action = _ACTION.get()
        if action is not None:
            action.calls += 1

    def take(self) -> int:
        taken, self.pending = self.pending, 0
        return taken

    @staticmethod
    @contextlib.contextmanager
    def counting() -> Iterator[ActionCalls]:
        """Count the cloud calls made inside (tasks started inside count for the same action)."""
        action = ActionCalls()
        token = _ACTION.set(action)
        try:
            yield action
        finally:
            _ACTION.reset(token)

    @staticmethod
    def current() -> ActionCalls | None:
        return _ACTION.get()


@dataclass(frozen=True)
class CloudOutcome:
    at: datetime
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class SwitchResult:
    target: Target
    requested: bool | None
    state_after: bool | None


class RelayService:
    def __init__(
        self, cloud: RelayCloud, store: RelayStore, clock: Clock, metrics: RelayMetrics, tally: CallTally,
        *, caller_wait: float = CALLER_WAIT_S,
    ) -> None:
        self.caller_wait = caller_wait
        self.cloud = cloud
        self.tally = tally
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.audit = Auditor(store)
        self.devices = DeviceCache(self._list_devices, self._get_device, clock.now)
        self.last_cloud: CloudOutcome | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._warned_month: str | None = None

    # ---- guards and bookkeeping ---------------------------------------------------------------

    def lock(self, device_id: str) -> asyncio.Lock:
        """Writes to one device are serialized (docs/design.md §5)."""
        return self._locks.setdefault(device_id, asyncio.Lock())

    @contextlib.asynccontextmanager
    async def caller_lock(self, device_id: str) -> AsyncIterator[None]:
        """The device lock for an API caller, who waits at most `caller_wait` for it (a power-cycle's "on"
        may hold it while the call budget makes it wait)."""
        lock = self.lock(device_id)
        try:
            async with asyncio.timeout(self.caller_wait):
                await lock.acquire()
        except TimeoutError:
            self.metrics.budget_refusals.inc()
            retry = max(1, math.ceil(self.caller_wait))
            raise BudgetExceeded(f"relay {device_id} is busy with a queued cloud call; retry in {retry} s",
                                 retry_after=retry) from None
        try:
            yield
        finally:
            lock.release()

    def token_state(self) -> TokenState:
        state = self.cloud.token_state()
        self.metrics.token_valid.set(1 if state in (TokenState.VALID, TokenState.EXPIRING) else 0)
        return state

    def require_token(self) -> None:
        """Raise `NoToken` / `TokensExpired` (with the seed's log line) before any relay action."""
        state = self.token_state()
        if state is TokenState.MISSING:
            log.error(MSG_NO_ACCESS_TOKEN)
            raise NoToken(
                "eWeLink is not authorized yet (no token file); open GET /ewelink-auth-url and finish the callback"
            )
        if state is TokenState.EXPIRED:
            log.error(MSG_TOKENS_EXPIRED)
            raise TokensExpired("eWeLink tokens expired: authorize again via GET /ewelink-auth-url")

    def caller_budget(self, priority: CallPriority) -> contextlib.AbstractContextManager[None]:
        """Cloud calls made inside on behalf of an API caller: at `priority`, waiting `caller_wait` at most
        in all (`BudgetExceeded` -> 429 after that)."""
        return call_budget(priority, self.caller_wait)

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one cloud operation, remembering its outcome for `/health`."""
        try:
            result = await operation()
        except BudgetExceeded:
            self.metrics.budget_refusals.inc()  # nothing was sent: says nothing about the cloud
            raise
        except RelayError as err:
            if isinstance(err, CLOUD_FAILURES):
                self.last_cloud = CloudOutcome(self.clock.now(), False, f"{err.code}: {err.message}")
            raise
        self.last_cloud = CloudOutcome(self.clock.now(), True)
        return result

    async def flush_call_counter(self) -> None:
        """Add the calls made since the last flush to this month's counter; warn once at 80 % of the quota."""
        calls = self.tally.take()
        month = self.clock.now().strftime("%Y-%m")
        try:
            total = await self.store.add_cloud_calls(month, calls) if calls else await self.store.cloud_calls(month)
        except BaseException:
            self.tally.pending += calls  # counted at the next flush
            raise
        self.metrics.cloud_calls.inc(calls)
        self.metrics.cloud_calls_month.set(total)
        self.metrics.cloud_quota_ratio.set(total / MONTHLY_CALL_QUOTA)
        if total >= QUOTA_WARNING_SHARE * MONTHLY_CALL_QUOTA and self._warned_month != month:
            self._warned_month = month
            log.warning(
                "eWeLink cloud calls this month: %s of %s (%.0f%% of the quota)",
                total, MONTHLY_CALL_QUOTA, 100 * total / MONTHLY_CALL_QUOTA,
            )

    async def _list_devices(self) -> list[Device]:
        return await self.call(self.cloud.list_devices)

    async def _get_device(self, device_id: str) -> Device:
        return await self.call(lambda: self.cloud.get_device(device_id))

    # ---- targets ------------------------------------------------------------------------------

    async def target(
        self, device_id: str, outlet: int | None, enterprise_number: str | None
    ) -> tuple[Target, NotFound | None]:
        """The audit target: the enterprise named, else the one fed by the relay. An unknown unit gives a
        target without enterprise (a history row cannot reference it) and the `NotFound` to raise."""
        if enterprise_number is not None:
            if await self.store.unit(enterprise_number) is None:
                return Target(device_id, outlet, None), NotFound(f"unit {enterprise_number} does not exist")
            return Target(device_id, outlet, enterprise_number), None
        unit = await self.store.unit_for_device(device_id, outlet)
        return Target(device_id, outlet, unit.number if unit else None), None

    async def online_device(self, target: Target) -> tuple[Device, Channel]:
        """The relay, read fresh from the cloud, and the addressed outlet.

        `RelayOffline` fails fast (docs/design.md §5)."""
        device, _ = await self.devices.device(target.device_id, fresh=True)
        channel = device.channel(target.outlet)
        if channel is None:
            raise InvalidRequest(f"outlet: device {device.device_id} has no outlet {target.outlet}")
        if not device.online:
            raise RelayOffline(f"relay {device.device_id} is offline in the eWeLink cloud")
        return device, channel

    # ---- switching ----------------------------------------------------------------------------

    async def switch(self, device: Device, outlet: int | None, on: bool, *, read_back: bool = True) -> bool | None:
        """Set one outlet; the cached device takes the state the cloud accepted. `read_back` reads it
        again (one more call): the state read back, else the state accepted."""
        try:
            await self.call(lambda: self.cloud.set_switch(device, outlet, on))
        except RelayError:
            self.devices.invalidate()  # the command may have reached the relay
            raise
        self.devices.switched(device, outlet, on)
        if not read_back:
            return on
        after, _ = await self.devices.device(device.device_id, fresh=True)
        channel = after.channel(outlet)
        return channel.on if channel else None

    async def toggle(
        self,
        device_id: str,
        *,
        state: bool | None,
        outlet: int | None,
        enterprise_number: str | None,
        initiator: Initiator,
        cancel: Callable[[Target], Awaitable[None]],
    ) -> SwitchResult:
        """`POST /toggle`: switch (or flip) one outlet; cancels a pending power-cycle of that relay."""
        target, unknown_unit = await self.target(device_id, outlet, enterprise_number)
        try:
            self.require_token()
            if unknown_unit is not None:
                raise unknown_unit
            wanted, after = await self._toggle(target, state, cancel)
        except RelayError as err:
            await self.audit_switch(target, state, initiator, failure=err)
            raise
        log.info("relay %s outlet %s switched %s by %s (unit %s, state accepted %s)",
                 device_id, outlet, "on" if wanted else "off", initiator.value, target.enterprise_number, after)
        await self.audit_switch(target, state, initiator, state_after=after)
        return SwitchResult(target, state, after)

    async def _toggle(
        self, target: Target, state: bool | None, cancel: Callable[[Target], Awaitable[None]]
    ) -> tuple[bool, bool | None]:
        """Two cloud calls: a fresh read (online? which state?) and the switch, whose error 0 says the cloud
        took it (a power-cycle, not a toggle, reads the relay back). The caller waits `caller_wait` at most."""
        with self.tally.counting() as spent, self.caller_budget(CallPriority.READ):
            try:
                async with self.caller_lock(target.device_id):
                    device, channel = await self.online_device(target)
                    wanted = state if state is not None else channel.on is False  # unknown state: on is safe
                    with call_priority(CallPriority.SWITCH):
                        after = await self.switch(device, target.outlet, wanted, read_back=False)
                    # only a toggle that happened overrides a pending cycle: after a failed one (relay
                    # offline, cloud down) the reconciler must still switch the relay back on
                    await cancel(target)
            finally:
                self.metrics.calls_per_action.labels("toggle").observe(spent.calls)
        return wanted, after

    async def audit_switch(
        self,
        target: Target,
        requested: bool | None,
        initiator: Initiator,
        *,
        failure: RelayError | None = None,
        state_after: bool | None = None,
        cycle_id: str | None = None,
    ) -> None:
        outcome = outcome_of(failure, state_after=state_after, cycle_id=cycle_id)
        action = {True: "on", False: "off", None: "toggle"}[requested]
        self.metrics.actions.labels(action, "success" if outcome.ok else "fail").inc()
        if failure is not None:
            log.error("relay %s outlet %s: %s failed (unit %s): %s",
                      target.device_id, target.outlet, action, target.enterprise_number, failure.message)
        await self.audit.switched(
            target, at=self.clock.now(), requested=requested, initiator=initiator, outcome=outcome
        )


def outcome_of(
    failure: RelayError | None, *, state_after: bool | None = None, cycle_id: str | None = None, **more: object
) -> Outcome:
    extra: dict[str, object] = {k: v for k, v in more.items() if v is not None}
    if cycle_id is not None:
        extra["cycle_id"] = cycle_id
    if failure is None:
        if state_after is not None:
            extra["state_after"] = state_after
        return Outcome(True, None, extra)
    extra["reason"] = failure.code
    if failure.cloud_code is not None:
        extra["cloud_error"] = failure.cloud_code
    return Outcome(False, failure.message, extra)

