"""Client-side call budget honouring the published per-IP limits (docs/design.md §7): >=500 ms between calls
and <=300 calls per 5 minutes, shared by every call of one client and served by priority.

A caller says how urgent its calls are and how long it may wait with :func:`call_budget` (a context
variable, so the priority reaches the wire through every layer of the client untouched). Waiters are
served most urgent first, first come first served within a priority. A waiter with a deadline that the
budget cannot meet is refused with :class:`CallBudgetExceeded` (its ``retry_after``) as soon as that is
known, so an HTTP caller gets an answer instead of a queue. Limits, clock and sleep are injectable."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum

from pbxwatch.ewelink.errors import CallBudgetExceeded

MIN_INTERVAL_S = 0.5
WINDOW_S = 300.0
WINDOW_MAX_CALLS = 300


class CallPriority(IntEnum):
    """Most urgent first: a relay left off costs a PBX its calls; a list only costs a dashboard a refresh."""

    CYCLE_ON = 0  # the "on" of a running power-cycle: never refused
    SWITCH = 1  # an "off", or any other switching command
    VERIFY = 2  # reading a relay back after a switch
    READ = 3  # a fresh read of one device
    LIST = 4  # the device list


@dataclass
class WaitAccount:
    """What one caller may still wait, over all the calls it makes (a toggle reads, then switches), and how
    many calls it still needs: a call is only granted when the ones after it can still fit in the bound."""

    left: float
    calls: int = 1


@dataclass(frozen=True)
class Budget:
    priority: CallPriority = CallPriority.READ
    account: WaitAccount | None = None  # None: wait as long as the limits need


_UNSCOPED = Budget()
_BUDGET: ContextVar[Budget] = ContextVar("ewelink_call_budget", default=_UNSCOPED)


@contextlib.contextmanager
def call_budget(priority: CallPriority, max_wait: float | None = None, *, calls: int = 1) -> Iterator[None]:
    """Calls made inside run at ``priority`` and wait at most ``max_wait`` seconds in all for their turns
    (None: as long as the limits need). ``calls``: how many the caller will make, so that a first call is
    refused rather than granted when the last could not be served in time (nothing spent for nothing)."""
    token = _BUDGET.set(Budget(priority, None if max_wait is None else WaitAccount(max_wait, calls)))
    try:
        yield
    finally:
        _BUDGET.reset(token)


@contextlib.contextmanager
def call_priority(priority: CallPriority) -> Iterator[None]:
    """Calls made inside run at ``priority``, drawing on the wait bound of the enclosing :func:`call_budget`."""
    token = _BUDGET.set(Budget(priority, _BUDGET.get().account))
    try:
        yield
    finally:
        _BUDGET.reset(token)


def wait_left() -> float | None:
    """Seconds the enclosing :func:`call_budget` may still wait (None: unbounded), for a caller that also
    waits for something else (a lock) on the same bound."""
    account = _BUDGET.get().account
    return None if account is None else account.left


def spend_wait(seconds: float) -> None:
    """Count ``seconds`` waited for something else against the enclosing :func:`call_budget`'s bound."""
    account = _BUDGET.get().account
    if account is not None:
        account.left = max(0.0, account.left - seconds)


def _spent_one(account: WaitAccount | None) -> None:
    if account is not None:
        account.calls = max(1, account.calls - 1)


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    deadline: float | None = field(compare=False)
    granted: asyncio.Future[None] = field(compare=False)


class RateLimiter:
    """``await limiter.acquire()`` before each call; waits (or refuses) as the limits and priorities say."""

    def __init__(
        self,
        *,
        min_interval: float = MIN_INTERVAL_S,
        window: float = WINDOW_S,
        max_calls: int = WINDOW_MAX_CALLS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if min_interval < 0 or window <= 0 or max_calls < 1:
            raise ValueError("rate limits must be min_interval >= 0, window > 0, max_calls >= 1")
        self._min_interval = min_interval
        self._window = window
        self._max_calls = max_calls
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._waiting: list[_Waiter] = []
        self._seq = itertools.count()
        self._pump: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Calls waiting for their turn now."""
        return len(self._waiting)

    def delay_needed(self, now: float) -> float:
        """Seconds to wait at ``now`` before the next call may start."""
        return max(self._slots(now, 1)[0] - now, 0.0)

    def _slots(self, now: float, count: int) -> list[float]:
        """Start times of the next ``count`` calls if they were sent as early as the limits allow."""
        while self._sent and self._sent[0] <= now - self._window:
            self._sent.popleft()
        times = list(self._sent)
        slots = []
        for _ in range(count):
            start = now
            if times:
                start = max(start, times[-1] + self._min_interval)
            if len(times) >= self._max_calls:
                start = max(start, times[-self._max_calls] + self._window)
            times.append(start)
            slots.append(start)
        return slots

    async def acquire(self) -> None:
        """Wait for this call's turn (the priority and wait bound of the current :func:`call_budget`) and
        record it; :class:`CallBudgetExceeded` when the bound cannot be met."""
        budget = _BUDGET.get()
        now = self._clock()
        if not self._waiting and self.delay_needed(now) == 0:
            self._sent.append(now)
            _spent_one(budget.account)
            return
        account = budget.account
        deadline = None
        if account is not None:  # room left for the calls still to come after this one, at the least spacing
            deadline = now + account.left - max(0, account.calls - 1) * self._min_interval
        waiter = _Waiter(int(budget.priority), next(self._seq), deadline, asyncio.get_running_loop().create_future())
        heapq.heappush(self._waiting, waiter)
        self._refuse_late(now)
        pump = self._pump
        if pump is None or pump.done() or pump.get_loop() is not asyncio.get_running_loop():
            self._pump = asyncio.create_task(self._serve())
        try:
            await waiter.granted
        finally:
            if waiter in self._waiting:  # the caller went away (cancelled): its place goes to others
                self._waiting.remove(waiter)
                heapq.heapify(self._waiting)
            if account is not None:
                account.left = max(0.0, account.left - (self._clock() - now))
        _spent_one(account)

    def _refuse_late(self, now: float) -> None:
        """Refuse every waiter whose turn would come after its deadline; those after it move up."""
        candidates = sorted(w for w in self._waiting if not w.granted.done())
        slots = self._slots(now, len(candidates))  # a refused waiter leaves its slot to the next one
        kept: list[_Waiter] = []
        for waiter in candidates:
            start = slots[len(kept)]
            if waiter.deadline is not None and start > waiter.deadline:
                retry_after = max(1, math.ceil(start - now))
                waiter.granted.set_exception(
                    CallBudgetExceeded(
                        f"eWeLink call budget spent: {len(self._sent)} calls in the last {self._window:g} s, "
                        f"{len(kept)} more urgent waiting; retry in {retry_after} s",
                        retry_after=retry_after,
                    )
                )
            else:
                kept.append(waiter)
        self._waiting = kept  # sorted, hence a heap

    async def _serve(self) -> None:
        while self._waiting:
            now = self._clock()
            self._refuse_late(now)
            if not self._waiting:
                return
            delay = self.delay_needed(now)
            if delay > 0:
                await self._sleep(delay)
                continue
            waiter = heapq.heappop(self._waiting)
            if not waiter.granted.done():  # not cancelled meanwhile
                self._sent.append(now)
                waiter.granted.set_result(None)
