"""`RelayCloud` on the eWeLink client: wire devices become relay devices, vendor errors become API errors.

This is the one seam where `pbxwatch.ewelink` errors are translated (STYLE: translate once per boundary).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pbxwatch import ewelink
from pbxwatch.relay.cloud import Channel, RelayDevice
from pbxwatch.relay.errors import (
    BudgetExceeded,
    CloudRejected,
    CloudTimeout,
    CloudUnavailable,
    InvalidCode,
    InvalidRequest,
    InvalidState,
    NotConfigured,
    NotFound,
    NoToken,
    QuotaExceeded,
    RelayError,
    RelayOffline,
    TokensExpired,
)

T = TypeVar("T")

# Most specific first: the first matching class decides.
_TRANSLATION: tuple[tuple[type[ewelink.EWeLinkError], type[RelayError]], ...] = (
    (ewelink.TokensExpiredError, TokensExpired),
    (ewelink.InvalidCodeError, InvalidCode),
    (ewelink.ReauthorizationRequired, NoToken),
    (ewelink.InvalidStateError, InvalidState),
    (ewelink.RelayOfflineError, RelayOffline),
    (ewelink.QuotaExceededError, QuotaExceeded),
    (ewelink.CloudRateLimitedError, QuotaExceeded),
    (ewelink.CloudTimeoutError, CloudTimeout),
    (ewelink.CloudTransientError, CloudUnavailable),
    (ewelink.DeviceNotFoundError, NotFound),
    (ewelink.DeviceControlError, InvalidRequest),
    (ewelink.EWeLinkError, CloudRejected),
)


def translate(err: ewelink.EWeLinkError) -> RelayError:
    if isinstance(err, ewelink.CallBudgetExceeded):
        return BudgetExceeded(err.message, retry_after=err.retry_after)
    if isinstance(err, ewelink.CredentialsError) and err.code is None and err.http_status is None:
        return NotConfigured(err.message)  # raised before any request: our settings, not the cloud
    kind = next(relay for vendor, relay in _TRANSLATION if isinstance(err, vendor))
    return kind(err.message, cloud_code=err.code)


def relay_device(device: ewelink.Device) -> RelayDevice:
    if device.multi_channel:
        channels = tuple(Channel(o.outlet, o.on) for o in device.outlets)
    else:
        channels = (Channel(None, device.state()),)
    return RelayDevice(device.id, device.name, device.online, channels, source=device)


class EWeLinkCloud:
    """The production `RelayCloud`."""

    def __init__(self, client: ewelink.EWeLinkClient) -> None:
        self.client = client

    async def _guard(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            return await operation()
        except ewelink.EWeLinkError as err:
            raise translate(err) from err

    async def list_devices(self) -> list[RelayDevice]:
        return [relay_device(d) for d in await self._guard(self.client.list_devices)]

    async def get_device(self, device_id: str) -> RelayDevice:
        return relay_device(await self._guard(lambda: self.client.get_device(device_id)))

    async def set_switch(self, device: RelayDevice, outlet: int | None, on: bool) -> None:
        await self._guard(lambda: self.client.set_switch(device.device_id, on, outlet, device=device.source))

    async def arm_countdown(self, device: RelayDevice, outlet: int | None, seconds: float) -> None:
        await self._guard(
            lambda: self.client.arm_countdown(device.device_id, seconds=seconds, outlet=outlet, device=device.source)
        )

    def token_state(self) -> ewelink.TokenState:
        return self.client.token_status().state

    def field_failure(self) -> str | None:
        failure = self.client.field_failure()
        return failure.message if failure else None

    def auth_url(self) -> str:
        try:
            return self.client.auth_url()
        except ewelink.EWeLinkError as err:
            raise translate(err) from err

    async def exchange_code(self, code: str, region: str, state: str | None) -> None:
        await self._guard(lambda: self.client.exchange_code(code, region=region, state=state))
