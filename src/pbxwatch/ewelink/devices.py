"""Pure translation between the cloud's device JSON and :class:`Device`, and the control payloads."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pbxwatch.ewelink.errors import DeviceControlError
from pbxwatch.ewelink.models import DEVICE_ITEM_TYPES, Device, Outlet
from pbxwatch.ewelink.uiids import OutletLayout, outlet_layout

#: marks the countdown timers pbxwatch writes, so re-arming replaces ours and keeps the user's own
TIMER_ID_PREFIX = "pbxwatch-countdown"


def _on(value: Any) -> bool | None:
    if value == "on":
        return True
    if value == "off":
        return False
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def reported_switches(params: Mapping[str, Any]) -> dict[int, bool | None] | None:
    """outlet -> state from ``params.switches``; None when the device reports no ``switches``."""
    switches = params.get("switches")
    if not isinstance(switches, list):
        return None
    return {
        s["outlet"]: _on(s.get("switch"))
        for s in switches
        if isinstance(s, Mapping) and type(s.get("outlet")) is int and s["outlet"] >= 0
    }


def _outlets(params: Mapping[str, Any], layout: OutletLayout) -> tuple[Outlet, ...]:
    if not layout.multi_channel:
        return (Outlet(outlet=0, on=_on(params.get("switch"))),)
    reported = reported_switches(params) or {}
    wired = range(layout.wired) if layout.wired is not None else sorted(reported) or [0]
    return tuple(Outlet(outlet=o, on=reported.get(o)) for o in wired)


def parse_device(item: Any, home_id: str | None = None, item_type: int | None = None) -> Device | None:
    """A Device from ``thingList[].itemData``; None for groups and anything else without ``deviceid``."""
    if not isinstance(item, Mapping):
        return None
    device_id = item.get("deviceid")
    if not isinstance(device_id, str) or not device_id:
        return None
    params = dict(_mapping(item.get("params")))
    extra, family = _mapping(item.get("extra")), _mapping(item.get("family"))
    uiid = extra.get("uiid") if type(extra.get("uiid")) is int else None
    reported = reported_switches(params)
    layout = outlet_layout(uiid, None if reported is None else sorted(reported))
    return Device(
        id=device_id,
        name=str(item.get("name") or device_id),
        online=item.get("online") is True,
        multi_channel=layout.multi_channel,
        outlets=_outlets(params, layout),
        uiid=uiid,
        model=str(extra["model"]) if extra.get("model") else None,
        home_id=home_id or (str(family["familyid"]) if family.get("familyid") else None),
        item_type=item_type if item_type in DEVICE_ITEM_TYPES else None,
        protocol_outlets=layout.protocol,
        params=params,
    )


def switch_params(device: Device, on: bool, outlet: int | None) -> dict[str, Any]:
    """``params`` for ``POST /v2/device/thing/status``.

    Single channel: ``{"switch": "on"}``. Multi-channel: the full ``switches`` array of the UIID's protocol
    outlets (0-3), untouched outlets keeping their reported state; ``outlet=None`` switches every wired
    outlet. An outlet whose state was never reported is sent "on" when wired (a relay of pbxwatch is never
    left off) and "off" when the protocol slot has nothing behind it."""
    word = "on" if on else "off"
    if not device.multi_channel:
        if outlet not in (None, 0):
            raise DeviceControlError(f"device {device.id} has a single channel; no outlet {outlet}")
        return {"switch": word}
    wired = {o.outlet for o in device.outlets}
    if outlet is not None and outlet not in wired:
        raise DeviceControlError(
            f"device {device.id} has no outlet {outlet} (outlets: {', '.join(str(o) for o in sorted(wired))})"
        )
    reported = reported_switches(device.params) or {}
    switches = []
    for slot in range(max(device.protocol_outlets, max(wired, default=0) + 1)):
        state = reported.get(slot)
        keep = ("on" if state else "off") if state is not None else ("on" if slot in wired else "off")
        targeted = slot in wired and (outlet is None or slot == outlet)
        switches.append({"switch": word if targeted else keep, "outlet": slot})
    return {"switches": switches}


def countdown_params(device: Device, *, seconds: float, on: bool, outlet: int | None, now: datetime) -> dict[str, Any]:
    """``params`` arming a device-side countdown (UIID protocol ``timers``, client type ``delay``).

    The whole ``timers`` list is rewritten (docs/design.md §5: hence opt-in); the user's own timers are kept,
    an earlier pbxwatch countdown for the same outlet is replaced. The period is whole minutes (>= 1)."""
    minutes = max(1, math.ceil(seconds / 60))
    fire_at = (now + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    action: dict[str, Any] = {"switch": "on" if on else "off"}
    if device.multi_channel:
        action["outlet"] = 0 if outlet is None else outlet
    timer_id = f"{TIMER_ID_PREFIX}-{action.get('outlet', 0)}"
    timer = {
        "mId": timer_id,
        "type": "once",
        "at": fire_at,
        "coolkit_timer_type": "delay",
        "period": str(minutes),
        "enabled": 1,
        "do": action,
    }
    existing = device.params.get("timers")
    kept = (
        [t for t in existing if isinstance(t, dict) and t.get("mId") != timer_id] if isinstance(existing, list) else []
    )
    return {"timers": [*kept, timer]}
