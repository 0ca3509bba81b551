"""The cached device list (docs/design.md §6: `GET /devices` is served from a list at most 60 s old)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

from pbxwatch.relay.cloud import RelayDevice
from pbxwatch.relay.errors import NotFound
from pbxwatch.relay.gateway import RelayGateway

DEVICE_LIST_TTL_SECONDS = 60.0
# An unknown id re-reads the list, but not more often than this (a typo must not burn the call quota).
UNKNOWN_ID_REFRESH_SECONDS = 10.0


class DeviceCache:
    """One cloud call (through the gateway) refreshes the whole list; concurrent readers share that call."""

    def __init__(self, gateway: RelayGateway, *, ttl_seconds: float = DEVICE_LIST_TTL_SECONDS) -> None:
        self._gateway = gateway
        self._now = gateway.clock.now
        self._ttl = timedelta(seconds=ttl_seconds)
        self._lock = asyncio.Lock()
        self._devices: dict[str, RelayDevice] = {}
        self._checked_at: datetime | None = None

    def invalidate(self) -> None:
        self._checked_at = None

    def switched(self, device: RelayDevice, outlet: int | None, on: bool) -> None:
        """The cloud took a switch command: the cached device shows the new state (without the adapter's
        record of it, which is no longer current)."""
        channels = tuple(replace(c, on=on) if c == device.channel(outlet) else c for c in device.channels)
        self._devices[device.device_id] = replace(device, channels=channels, source=None)

    def known_online(self) -> dict[str, bool]:
        """Each device's online flag as last read; never calls the cloud (the dashboard polls often)."""
        return {d.device_id: d.online for d in self._devices.values()}

    async def devices(self, *, fresh: bool = False) -> tuple[list[RelayDevice], datetime]:
        async with self._lock:
            if fresh or self._checked_at is None or self._now() - self._checked_at > self._ttl:
                listed = await self._gateway.list_devices()
                self._devices = {d.device_id: d for d in listed}
                self._checked_at = self._now()
            return list(self._devices.values()), self._checked_at

    async def device(self, device_id: str, *, fresh: bool = False) -> tuple[RelayDevice, datetime]:
        """The device or `NotFound`. `fresh` reads that one device now (before an action); otherwise the
        cached list answers, re-read once before giving up on an unknown id."""
        if fresh:
            device = await self._gateway.get_device(device_id)
            self._devices[device_id] = device
            return device, self._now()
        _, checked_at = await self.devices()
        stale = self._now() - checked_at > timedelta(seconds=UNKNOWN_ID_REFRESH_SECONDS)
        if device_id not in self._devices and stale:
            _, checked_at = await self.devices(fresh=True)
        if device_id not in self._devices:
            raise NotFound(f"device {device_id} is not in the eWeLink account")
        return self._devices[device_id], checked_at
