"""The eWeLink call budget: one limiter, served by priority, refusing what it cannot serve in time.

Time is a manual clock: a sleep ends only when the test advances the clock past it, so the order in
which calls are served is asserted, never how long anything took."""

from __future__ import annotations

import asyncio

import pytest

from pbxwatch.ewelink import CallBudgetExceeded, CallPriority, RateLimiter, call_budget, call_priority


class ManualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        await future

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for until, future in list(self._sleepers):
            if until <= self.now + 1e-9:
                self._sleepers.remove((until, future))
                future.set_result(None)
        await settle()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class Calls:
    """Callers of one limiter; `served` lists their names in the order the budget let them call."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.served: list[str] = []
        self.refused: dict[str, int] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, priority: CallPriority, max_wait: float | None = None) -> asyncio.Task[None]:
        async def call() -> None:
            with call_budget(priority, max_wait):
                try:
                    await self.limiter.acquire()
                except CallBudgetExceeded as err:
                    self.refused[name] = err.retry_after
                    return
            self.served.append(name)

        task = asyncio.create_task(call())
        self.tasks.append(task)
        return task


@pytest.fixture
def t() -> ManualTime:
    return ManualTime()


async def test_waiting_calls_are_served_most_urgent_first_then_in_arrival_order(t: ManualTime) -> None:
    calls = Calls(RateLimiter(min_interval=0.5, window=300, max_calls=300, clock=t.clock, sleep=t.sleep))
    calls.start("first", CallPriority.READ)
    await settle()
    for name, priority in [
        ("list", CallPriority.LIST),
        ("read-1", CallPriority.READ),
        ("verify", CallPriority.VERIFY),
        ("off", CallPriority.SWITCH),
        ("read-2", CallPriority.READ),
        ("cycle-on", CallPriority.CYCLE_ON),
    ]:
        calls.start(name, priority)
    await settle()
    assert calls.served == ["first"]  # the others wait for the 0.5 s spacing
    for _ in range(6):
        await t.advance(0.5)
    assert calls.served == ["first", "cycle-on", "off", "verify", "read-1", "read-2", "list"]


async def test_a_caller_the_budget_cannot_serve_in_time_is_refused_at_once_with_retry_after(t: ManualTime) -> None:
    limiter = RateLimiter(min_interval=0.5, window=60, max_calls=4, clock=t.clock, sleep=t.sleep)
    calls = Calls(limiter)
    for i in range(4):
        calls.start(f"call-{i}", CallPriority.READ)
        await settle()
        await t.advance(0.5)
    assert calls.served == ["call-0", "call-1", "call-2", "call-3"]
    # the window is full until t=60 (the first call was at t=0), 58 s from now: far beyond 5 s
    calls.start("toggle", CallPriority.SWITCH, max_wait=5)
    await settle()
    assert calls.refused == {"toggle": 58}
    assert limiter.waiting == 0  # nothing left queued for a caller that got its answer


async def test_a_more_urgent_call_pushes_a_bounded_caller_past_its_bound_and_it_is_refused(t: ManualTime) -> None:
    calls = Calls(RateLimiter(min_interval=2.0, window=300, max_calls=300, clock=t.clock, sleep=t.sleep))
    calls.start("first", CallPriority.READ)
    await settle()
    calls.start("read", CallPriority.READ, max_wait=3)  # its turn: t=2, within 3 s
    await settle()
    assert calls.refused == {}
    calls.start("on", CallPriority.CYCLE_ON)  # ahead of it now: its turn would be t=4
    await settle()
    assert calls.refused == {"read": 4}
    await t.advance(2)
    assert calls.served == ["first", "on"]


async def test_the_on_of_a_cycle_waits_out_a_spent_window_and_is_never_refused(t: ManualTime) -> None:
    calls = Calls(RateLimiter(min_interval=0, window=60, max_calls=2, clock=t.clock, sleep=t.sleep))
    calls.start("a", CallPriority.LIST)
    calls.start("b", CallPriority.LIST)
    await settle()
    on = calls.start("cycle-on", CallPriority.CYCLE_ON)
    await t.advance(59)
    assert calls.served == ["a", "b"] and not on.done()
    await t.advance(1)
    assert calls.served == ["a", "b", "cycle-on"] and calls.refused == {}


async def test_a_cancelled_waiter_gives_its_turn_to_the_next(t: ManualTime) -> None:
    limiter = RateLimiter(min_interval=1.0, window=300, max_calls=300, clock=t.clock, sleep=t.sleep)
    calls = Calls(limiter)
    calls.start("first", CallPriority.READ)
    await settle()
    gone = calls.start("gone", CallPriority.SWITCH)
    calls.start("next", CallPriority.READ)
    await settle()
    gone.cancel()
    await settle()
    assert limiter.waiting == 1
    await t.advance(1)
    assert calls.served == ["first", "next"]


async def test_calls_outside_any_budget_scope_wait_as_long_as_the_limits_need(t: ManualTime) -> None:
    limiter = RateLimiter(min_interval=0, window=100, max_calls=1, clock=t.clock, sleep=t.sleep)
    await limiter.acquire()
    later = asyncio.create_task(limiter.acquire())
    await t.advance(99)
    assert not later.done()
    await t.advance(1)
    assert later.done() and later.exception() is None


async def test_one_caller_s_bound_covers_all_its_calls(t: ManualTime) -> None:
    """A toggle reads, then switches: the two waits together stay within the caller's bound."""
    limiter = RateLimiter(min_interval=3.0, window=300, max_calls=300, clock=t.clock, sleep=t.sleep)
    await limiter.acquire()
    outcome: list[str] = []

    async def toggle() -> None:
        with call_budget(CallPriority.READ, max_wait=5):
            await limiter.acquire()  # waits 3 s of its 5
            outcome.append("read")
            with call_priority(CallPriority.SWITCH):
                try:
                    await limiter.acquire()  # would wait 3 s more: over the 2 s left
                except CallBudgetExceeded as err:
                    outcome.append(f"refused, retry after {err.retry_after}")

    task = asyncio.create_task(toggle())
    await settle()
    await t.advance(3)
    await task
    assert outcome == ["read", "refused, retry after 3"]


async def test_a_caller_needing_two_calls_is_refused_before_the_first_when_the_second_would_not_fit(
    t: ManualTime,
) -> None:
    limiter = RateLimiter(min_interval=2.0, window=300, max_calls=300, clock=t.clock, sleep=t.sleep)
    calls = Calls(limiter)
    calls.start("first", CallPriority.READ)
    await settle()
    calls.start("one call", CallPriority.READ, max_wait=3)  # its turn at t=2: within 3 s
    await settle()

    async def toggle() -> None:
        with call_budget(CallPriority.READ, max_wait=5, calls=2):
            try:
                await limiter.acquire()  # its turn at t=4, the second call's at t=6: over 5 s
            except CallBudgetExceeded as err:
                calls.refused["toggle"] = err.retry_after

    await asyncio.create_task(toggle())
    assert calls.refused == {"toggle": 4}  # refused with nothing sent, not after spending its read
    await t.advance(2)
    assert calls.served == ["first", "one call"]
