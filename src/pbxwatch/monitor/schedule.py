"""When each unit is next checked: a timer heap, so a wake costs O(log n) per due unit, never a fleet scan.

Like the event loop's own timers: a cancelled timer stays in the heap and is dropped when it surfaces;
the heap is rebuilt when cancelled timers outnumber the live ones. Times are the event loop's clock.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Generic, TypeVar

T = TypeVar("T")


class Timer(Generic[T]):
    __slots__ = ("cancelled", "due", "item")

    def __init__(self, due: float, item: T) -> None:
        self.due, self.item, self.cancelled = due, item, False


class Schedule(Generic[T]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer[T]]] = []
        self._order = itertools.count()  # ties in `due` keep the order the timers were armed in
        self._cancelled = 0

    def arm(self, due: float, item: T) -> Timer[T]:
        timer = Timer(due, item)
        heapq.heappush(self._heap, (due, next(self._order), timer))
        return timer

    def cancel(self, timer: Timer[T] | None) -> None:
        if timer is None or timer.cancelled:
            return
        timer.cancelled = True
        self._cancelled += 1
        if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if not entry[2].cancelled]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def pop_due(self, now: float) -> list[T]:
        """The items whose timers are due at `now`, earliest first; their timers are spent."""
        due: list[T] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, timer = heapq.heappop(heap)
            if timer.cancelled:
                self._cancelled -= 1
                continue
            timer.cancelled = True  # spent: cancelling it later is a no-op
            due.append(timer.item)
        return due

    def next_due(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
            self._cancelled -= 1
        return heap[0][0] if heap else None

    def clear(self) -> None:
        self._heap, self._cancelled = [], 0

    def __len__(self) -> int:
        return len(self._heap) - self._cancelled
