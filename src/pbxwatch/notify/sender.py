"""Deliver the outbox through apprise: claim, send in a worker thread, retry with back-off.

A task of its own: a slow or failing channel never delays a check or a power-cycle. A failing channel
is logged once per failure streak (and once when it works again), not once per attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pbxwatch.db.engine import DB_ERRORS, describe
from pbxwatch.notify.outbox import Due, Outbox

log = logging.getLogger("pbxwatch.notify")
MAX_BACKOFF = timedelta(minutes=15)
Clock = Callable[[], datetime]


class Deliver(Protocol):
    def __call__(self, url: str, title: str, body: str, timeout: float) -> str | None:
        """Send one message; None when delivered, else why not (one line, no secret)."""
        ...


def apprise_deliver(url: str, title: str, body: str, timeout: float) -> str | None:
    """Blocking: run it in a thread."""
    import apprise

    sender = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
    if not sender.add(url):
        return "not a valid apprise URL (unknown scheme or missing parts)"
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:  # type: ignore[no-untyped-call]
        ok = sender.notify(title=title, body=body)
    if ok:
        return None
    said = [line.strip() for line in captured.getvalue().splitlines() if line.strip()]
    return (said[-1] if said else "the channel did not accept the message")[:300]


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SenderStats:
    """Outcomes for metrics: sent / retry / failed / lost (claimed by nobody after a crash)."""

    outcomes: dict[str, int] = field(default_factory=dict)

    def note(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


class Sender:
    def __init__(
        self,
        box: Outbox,
        *,
        attempts: int,
        backoff: float,
        timeout: float,
        poll: float,
        deliver: Deliver = apprise_deliver,
        clock: Clock = utc_now,
        owner: str | None = None,
    ) -> None:
        self.box, self.attempts, self.backoff, self.timeout, self.poll = box, attempts, backoff, timeout, poll
        self.deliver, self.clock, self.owner = deliver, clock, owner or owner_name()
        self.stats = SenderStats()
        self.wake = asyncio.Event()
        self._failing: dict[str, str] = {}  # channel -> first error of the current streak
        self._db_said = False

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.send_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stop, self.wake), self.poll)
            self.wake.clear()

    async def send_due(self) -> int:
        """Send what is due now; the number of messages delivered."""
        try:
            due = await self.box.due(self.clock())
        except DB_ERRORS as err:
            if not self._db_said:
                log.warning("notifications wait: the database is unavailable (%s)", describe(err))
                self._db_said = True
            return 0
        self._db_said = False
        sent = 0
        for item in due:
            with contextlib.suppress(*DB_ERRORS):
                sent += await self._send_one(item)
        return sent

    async def _send_one(self, item: Due) -> int:
        channel = self.box.routing.by_key().get(item.channel)
        if channel is None or not await self.box.claim(item, self.owner, self.clock()):
            return 0  # not a channel of this process, or another sender has it
        error = await self._deliver(channel.url, item)
        now = self.clock()
        retry_at = None
        if error is not None and item.attempts + 1 < self.attempts:
            retry_at = now + min(timedelta(seconds=self.backoff * 2**item.attempts), MAX_BACKOFF)
        await self.box.finish(item, now, error=error, retry_at=retry_at)
        self._streak(channel.label, item.channel, error)
        self.stats.note("sent" if error is None else ("retry" if retry_at else "failed"))
        return 1 if error is None else 0

    async def _deliver(self, url: str, item: Due) -> str | None:
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self.deliver, url, item.title, item.body, self.timeout), self.timeout + 5
            )
        except TimeoutError:
            return f"no answer in {self.timeout + 5:g} s"
        except Exception as err:  # noqa: BLE001 -- a channel plugin's bug is a failed delivery, not a dead sender
            return f"{type(err).__name__}: {err}"[:300]

    def _streak(self, label: str, key: str, error: str | None) -> None:
        if error is not None and key not in self._failing:
            self._failing[key] = error
            log.warning("notification channel %s failing: %s (retrying with back-off)", label, error)
        elif error is None and key in self._failing:
            del self._failing[key]
            log.info("notification channel %s works again", label)


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
