"""Reading homes and devices from the eWeLink cloud: the device-list paging and the by-id look-up.

Stateless: every function gets the client's bearer call, so the token handling stays in the client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pbxwatch.ewelink import errors
from pbxwatch.ewelink.devices import parse_device
from pbxwatch.ewelink.models import Device, Home

_FIRST_INDEX = -9_999_999  # the API's default beginIndex (docs/design.md §7)
MAX_PAGES = 1000  # a cloud that pages forever must not hang a listing


class Bearer(Protocol):
    """A call with the account's access token (``EWeLinkClient._bearer``)."""

    async def __call__(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> dict[str, Any]: ...


async def list_homes(bearer: Bearer) -> list[Home]:
    """Every home (``GET /v2/family``)."""
    data = await bearer("GET", "/v2/family")
    homes = data.get("familyList")
    if not isinstance(homes, list):
        raise errors.UnexpectedResponseError("eWeLink /v2/family: no familyList")
    return [
        Home(id=str(h["id"]), name=str(h.get("name") or h["id"])) for h in homes if isinstance(h, dict) and h.get("id")
    ]


async def home_devices(bearer: Bearer, home_id: str, page_size: int) -> list[Device]:
    """All pages of one home, ``beginIndex`` = the last item's index (as the official SDK pages).

    A short page is not the end: ``total`` counts things a free APPID does not see (other brands), so
    the list ends on an empty page, once ``total`` things came, or when a page brings nothing new."""
    devices: dict[str, Device] = {}
    seen: set[int] = set()
    begin, received = _FIRST_INDEX, 0
    for _ in range(MAX_PAGES):
        data = await bearer(
            "GET", "/v2/device/thing", params={"num": page_size, "beginIndex": begin, "familyid": home_id}
        )
        things = data.get("thingList")
        things = [t for t in things if isinstance(t, dict)] if isinstance(things, list) else []
        for thing in things:
            device = parse_device(thing.get("itemData"), home_id, thing.get("itemType"))
            if device is not None:
                devices.setdefault(device.id, device)
        indexes = [t["index"] for t in things if type(t.get("index")) is int]
        fresh = set(indexes) - seen
        seen |= fresh
        received += len(things)
        total = data.get("total")
        if not things or not fresh or (type(total) is int and received >= total):
            break
        begin = indexes[-1]
    return list(devices.values())


async def lookup(bearer: Bearer, device_id: str, item_types: list[int | None]) -> Device | None:
    """The device ``device_id`` asked for under each of ``item_types`` in one call; None when not found."""
    body = {"thingList": [{"itemType": t, "id": device_id} for t in item_types if t]}
    data = await bearer("POST", "/v2/device/thing", body=body)
    for thing in data.get("thingList") or []:
        if not isinstance(thing, dict):
            continue
        device = parse_device(thing.get("itemData"), item_type=thing.get("itemType"))
        if device is not None and device.id == device_id:
            return device
    return None
