"""Fault modes of the simulated cloud that still apply the request (the dangerous ones for a relay):

- ``late_apply``: the reply comes after ``delay`` seconds (past the client's timeout) and the command is
  applied only then, even if the client gave up long ago: the "off" that lands after the "on";
- ``apply_drop``: the command is applied, then the connection is dropped mid-reply: the client cannot
  tell whether it happened.

Kept apart from the device model (``cloud_api``); `Fault.applied` counts the commands applied so far.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from pbxwatch.sim.cloud_state import Fault

APPLYING_FAULTS = ("late_apply", "apply_drop")
Answer = Callable[[], Awaitable[Response]]
_LATE: set[asyncio.Task[Response]] = set()  # strong references: a late command outlives its request


async def _late(fault: Fault, answer: Answer) -> Response:
    await asyncio.sleep(fault.delay)
    response = await answer()
    fault.applied += 1
    return response


async def apply_with_fault(fault: Fault, answer: Answer, dropped: Callable[[], Response]) -> Response:
    """Run the real handler (`answer`) the way `fault` says; `dropped` builds the torn reply."""
    if fault.kind == "apply_drop":
        await answer()
        fault.applied += 1
        return dropped()
    task = asyncio.create_task(_late(fault, answer))
    _LATE.add(task)
    task.add_done_callback(_LATE.discard)
    return await asyncio.shield(task)  # the client hanging up does not cancel the command
