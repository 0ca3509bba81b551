"""`GET /devices` (cached ≤ 60 s) and `GET /devices/{id}` (what the monitor reads for `online`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from pbxwatch.ewelink import CallPriority
from pbxwatch.relay.cloud import RelayDevice
from pbxwatch.relay.deps import ApiToken, DevicesDep, GatewayDep
from pbxwatch.relay.schemas import BUDGET_429, DEVICE_ID, ChannelOut, DeviceList, DeviceOut

router = APIRouter(tags=["relays"], dependencies=[ApiToken])


def device_out(device: RelayDevice, checked_at: datetime) -> DeviceOut:
    return DeviceOut(
        device_id=device.device_id,
        name=device.name,
        online=device.online,
        multi_channel=device.multi_channel,
        channels=[ChannelOut(outlet=c.outlet, on=c.on) for c in device.channels],
        checked_at=checked_at,
    )


@router.get("/devices", responses=BUDGET_429)
async def list_devices(gateway: GatewayDep, cache: DevicesDep) -> DeviceList:
    gateway.require_token()
    with gateway.caller_budget(CallPriority.LIST):
        devices, checked_at = await cache.devices()
    return DeviceList(devices=[device_out(d, checked_at) for d in devices], checked_at=checked_at)


@router.get("/devices/{device_id}", responses=BUDGET_429)
async def get_device(
    gateway: GatewayDep,
    cache: DevicesDep,
    device_id: Annotated[str, Path(min_length=1, max_length=64, pattern=DEVICE_ID)],
    fresh: Annotated[
        bool, Query(description="Read this relay from the cloud now instead of the list cached ≤ 60 s.")
    ] = False,
) -> DeviceOut:
    """One relay. The monitor asks with `fresh=true` before it decides on a power-cycle."""
    gateway.require_token()
    with gateway.caller_budget(CallPriority.READ if fresh else CallPriority.LIST):
        device, checked_at = await cache.device(device_id, fresh=fresh)
    return device_out(device, checked_at)
