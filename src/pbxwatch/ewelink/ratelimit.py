"""Client-side throttle honouring the published per-IP limits (docs/design.md §7): >=500 ms between calls and
<=300 calls per 5 minutes. Both are configurable so tests run fast; clock and sleep are injectable."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

MIN_INTERVAL_S = 0.5
WINDOW_S = 300.0
WINDOW_MAX_CALLS = 300


class RateLimiter:
    """Async limiter: ``await limiter.acquire()`` before each call; waits as long as the limits need."""

    def __init__(self, *, min_interval: float = MIN_INTERVAL_S, window: float = WINDOW_S,
                 max_calls: int = WINDOW_MAX_CALLS, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if min_interval < 0 or window <= 0 or max_calls < 1:
            raise ValueError("rate limits must be min_interval >= 0, window > 0, max_calls >= 1")
        self._min_interval = min_interval
        self._window = window
        self._max_calls = max_calls
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    def delay_needed(self, now: float) -> float:
        """Seconds to wait at ``now`` before the next call may start."""
        while self._sent and self._sent[0] <= now - self._window:
            self._sent.popleft()
        wait = 0.0
        if self._sent:
            wait = self._sent[-1] + self._min_interval - now
        if len(self._sent) >= self._max_calls:
            wait = max(wait, self._sent[0] + self._window - now)
        return max(wait, 0.0)

    async def acquire(self) -> None:
        """Wait until a call is allowed and record it."""
        async with self._lock:
            delay = self.delay_needed(self._clock())
            while delay > 0:
                await self._sleep(delay)
                delay = self.delay_needed(self._clock())
            self._sent.append(self._clock())
