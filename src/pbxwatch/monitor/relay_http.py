"""The monitor's adapter for the relay service (docs/design.md §6), over `pbxwatch.relay.client.RelayServiceClient`.

Unanswered calls are retried a few times with a short back-off; retrying `POST /power-cycle` is safe
because every request carries the outage's idempotency key. Errors are translated once, here, into
the monitor's own tree (`pbxwatch.monitor.ports`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from pbxwatch.monitor.ports import RelayBusy, RelayRefused, RelayUnreachable, RelayWentOffline
from pbxwatch.relay.client import (
    CycleRunningConflict,
    RelayOfflineConflict,
    RelayServiceClient,
    RelayServiceError,
    RelayServiceUnreachable,
)

T = TypeVar("T")
ATTEMPTS = 3
BACKOFF_S = 0.5
# The client's typed answers the monitor acts on; any other error answer is a plain refusal.
PORT_ERRORS: dict[type[RelayServiceError], type[RelayRefused]] = {
    CycleRunningConflict: RelayBusy,
    RelayOfflineConflict: RelayWentOffline,
}


class HttpRelayPort:
    def __init__(
        self,
        base_url: str,
        *,
        api_token: str | None = None,
        timeout: float = 10.0,
        http: httpx.AsyncClient | None = None,
        backoff: float = BACKOFF_S,
    ) -> None:
        self._client = RelayServiceClient(base_url, api_token, http=http, timeout=timeout)
        self._backoff = backoff

    async def device_online(self, device_id: str) -> bool:
        device = await self._call(lambda: self._client.get_device(device_id, fresh=True))
        return device.online

    async def power_cycle(
        self, *, enterprise_number: str, device_id: str, outlet: int | None, idempotency_key: str
    ) -> str:
        accepted = await self._call(
            lambda: self._client.power_cycle(
                enterprise_number=enterprise_number,
                device_id=device_id,
                outlet=outlet,
                idempotency_key=idempotency_key,
                initiator="auto",
            )
        )
        return accepted.cycle_id

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T:
        last: RelayServiceUnreachable | None = None
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(self._backoff * attempt)
            try:
                return await request()
            except RelayServiceUnreachable as err:
                last = err
            except RelayServiceError as err:
                raise _refused(err) from err
            except (KeyError, ValueError, TypeError) as err:
                raise RelayRefused(0, "bad_reply", f"unexpected reply from the relay service: {err}") from err
        raise RelayUnreachable(last.message if last else "relay service unreachable") from last


def _refused(err: RelayServiceError) -> RelayRefused:
    kind = PORT_ERRORS.get(type(err), RelayRefused)
    return kind(err.status or 0, err.code or "http_error", err.message)
