"""The relay service's one door to the eWeLink cloud: the token guard, per-device locks, the call budget's
bound for API callers, the outcome of the last call (`/health`) and the cloud-call bookkeeping."""

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

from pbxwatch.ewelink import (
    MSG_NO_ACCESS_TOKEN,
    MSG_TOKENS_EXPIRED,
    CallPriority,
    call_budget,
    spend_wait,
    wait_left,
)
from pbxwatch.ewelink.models import TokenState
from pbxwatch.relay.clock import Clock
from pbxwatch.relay.cloud import RelayCloud, RelayDevice
from pbxwatch.relay.errors import (
    BudgetExceeded,
    CloudTimeout,
    CloudUnavailable,
    NoToken,
    QuotaExceeded,
    RelayError,
    TokensExpired,
)
from pbxwatch.relay.metrics import RelayMetrics
from pbxwatch.relay.store import RelayStore

log = logging.getLogger(__name__)
T = TypeVar("T")

MONTHLY_CALL_QUOTA = 50_000  # free APPID: 50,000 calls per month per region (docs/design.md §7)
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


class RelayGateway:
    """Every cloud operation of the service goes through here (`call`), under the token guard."""

    def __init__(
        self,
        cloud: RelayCloud,
        store: RelayStore,
        clock: Clock,
        metrics: RelayMetrics,
        tally: CallTally,
        *,
        caller_wait: float = CALLER_WAIT_S,
    ) -> None:
        self.cloud = cloud
        self.store = store  # the monthly call counter
        self.clock = clock
        self.metrics = metrics
        self.tally = tally
        self.caller_wait = caller_wait
        self.last_cloud: CloudOutcome | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._warned_month: str | None = None

    def lock(self, device_id: str) -> asyncio.Lock:
        """Writes to one device are serialized (docs/design.md §5)."""
        return self._locks.setdefault(device_id, asyncio.Lock())

    @contextlib.asynccontextmanager
    async def caller_lock(self, device_id: str) -> AsyncIterator[None]:
        """The device lock for an API caller: its wait counts against the caller's `caller_budget` (a
        power-cycle's "on" may hold the lock while the call budget makes it wait)."""
        lock, left = self.lock(device_id), wait_left()
        started = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(left):
                await lock.acquire()
        except TimeoutError:
            self.metrics.budget_refusals.inc()
            retry = max(1, math.ceil(self.caller_wait))
            raise BudgetExceeded(
                f"relay {device_id} is busy with a queued cloud call; retry in {retry} s", retry_after=retry
            ) from None
        spend_wait(asyncio.get_running_loop().time() - started)
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

    def caller_budget(self, priority: CallPriority, *, calls: int = 1) -> contextlib.AbstractContextManager[None]:
        """The `calls` cloud calls made inside on behalf of an API caller: at `priority`, waiting
        `caller_wait` at most in all (`BudgetExceeded` -> 429, before the first call when the last would
        not fit)."""
        return call_budget(priority, self.caller_wait, calls=calls)

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
                total,
                MONTHLY_CALL_QUOTA,
                100 * total / MONTHLY_CALL_QUOTA,
            )

    async def list_devices(self) -> list[RelayDevice]:
        """Every device of the account (one cloud operation, its outcome remembered)."""
        return await self.call(self.cloud.list_devices)

    async def get_device(self, device_id: str) -> RelayDevice:
        """One device read now."""
        return await self.call(lambda: self.cloud.get_device(device_id))

    async def set_switch(self, device: RelayDevice, outlet: int | None, on: bool) -> None:
        await self.call(lambda: self.cloud.set_switch(device, outlet, on))

    async def arm_countdown(self, device: RelayDevice, outlet: int | None, seconds: float) -> None:
        await self.call(lambda: self.cloud.arm_countdown(device, outlet, seconds))
