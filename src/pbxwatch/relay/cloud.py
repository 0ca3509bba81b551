"""What the relay service needs from the eWeLink cloud, as a Protocol (one adapter implements it).

The service logic (actions, cycles, reconciler) is written against `RelayCloud`, so it never sees the
vendor's wire models or exception types: the adapter translates them into `pbxwatch.relay.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pbxwatch.ewelink.models import TokenState


@dataclass(frozen=True)
class Channel:
    """One switchable outlet; `outlet` is None for a single-channel relay; `on` None when not reported."""

    outlet: int | None
    on: bool | None


@dataclass(frozen=True)
class RelayDevice:
    device_id: str
    name: str
    online: bool
    channels: tuple[Channel, ...]
    # the adapter's own record of the device (saves a read before switching); opaque here
    source: Any = field(default=None, compare=False, repr=False)

    @property
    def multi_channel(self) -> bool:
        return any(c.outlet is not None for c in self.channels)

    def channel(self, outlet: int | None) -> Channel | None:
        """The channel an action addresses; a single-channel relay answers to outlet None or 0."""
        if not self.multi_channel:
            return self.channels[0] if self.channels and outlet in (None, 0) else None
        wanted = 0 if outlet is None else outlet
        return next((c for c in self.channels if c.outlet == wanted), None)


class RelayCloud(Protocol):
    """The eWeLink operations the relay service performs. Errors are `pbxwatch.relay.errors.RelayError`."""

    async def list_devices(self) -> list[RelayDevice]:
        """Every device of the account (all homes, all pages)."""
        ...

    async def get_device(self, device_id: str) -> RelayDevice:
        """One device, read now (one call, whatever the size of the account)."""
        ...

    async def set_switch(self, device: RelayDevice, outlet: int | None, on: bool) -> None:
        """Switch one outlet; for a multi-channel relay the full `switches` array is sent."""
        ...

    async def arm_countdown(self, device: RelayDevice, outlet: int | None, seconds: float) -> None:
        """Arm the device's own countdown timer to switch `outlet` back on (cycle_mode device_timer)."""
        ...

    def token_state(self) -> TokenState:
        """The token file's state, re-read when another process rewrote it."""
        ...

    def field_failure(self) -> str | None:
        """A known field failure explained (APPID expired, logged in elsewhere, region), or None."""
        ...

    def auth_url(self) -> str:
        """A fresh authorization page URL carrying a newly issued `state`."""
        ...

    async def exchange_code(self, code: str, region: str, state: str | None) -> None:
        """Exchange an authorization code for tokens and save the token file.

        `state`, when given, must be one pbxwatch issued (any process) and not expired (`InvalidState`)."""
        ...
