"""Pure translation between the cloud's device JSON and :class:`Device`, and the control payloads."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pbxwatch.ewelink.errors import DeviceControlError
from pbxwatch.ewelink.models import Device, Outlet

#: marks the countdown timers pbxwatch writes, so re-arming replaces ours and keeps the user's own
TIMER_ID_PREFIX = "pbxwatch-countdown"


def _on(value: Any) -> bool | None:
    if value == "on":
        return True
    if value == "off":
        return False
    return None


def parse_device(item: Any, home_id: str | None = None) -> Device | None:
    """A Device from ``thingList[].itemData``; None for groups and anything else without ``deviceid``."""
    if not isinstance(item, Mapping):
        return None
    device_id = item.get("deviceid")
    if not isinstance(device_id, str) or not device_id:
        return None
    params = item.get("params") if isinstance(item.get("params"), dict) else {}
    assert isinstance(params, dict)
    switches = params.get("switches")
    if isinstance(switches, list):
        entries = [s for s in switches if isinstance(s, dict) and isinstance(s.get("outlet"), int)]
        outlets = tuple(sorted((Outlet(outlet=s["outlet"], on=_on(s.get("switch"))) for s in entries),
                               key=lambda o: o.outlet))
        multi = True
    else:
        outlets = (Outlet(outlet=0, on=_on(params.get("switch"))),)
        multi = False
    extra = item.get("extra") if isinstance(item.get("extra"), dict) else {}
    assert isinstance(extra, dict)
    uiid = extra.get("uiid")
    family = item.get("family") if isinstance(item.get("family"), dict) else {}
    assert isinstance(family, dict)
    return Device(id=device_id, name=str(item.get("name") or device_id), online=item.get("online") is True,
                  multi_channel=multi, outlets=outlets, uiid=uiid if isinstance(uiid, int) else None,
                  model=str(extra["model"]) if extra.get("model") else None,
                  home_id=home_id or (str(family["familyid"]) if family.get("familyid") else None),
                  params=params)


def switch_params(device: Device, on: bool, outlet: int | None) -> dict[str, Any]:
    """``params`` for ``POST /v2/device/thing/status``.

    Single channel: ``{"switch": "on"}``. Multi-channel: the full ``switches`` array, untouched outlets
    keeping their state (one user only got rid of 4002 by sending all outlets, notes §6);
    ``outlet=None`` on a multi-channel relay switches every outlet."""
    word = "on" if on else "off"
    if not device.multi_channel:
        if outlet not in (None, 0):
            raise DeviceControlError(f"device {device.id} has a single channel; no outlet {outlet}")
        return {"switch": word}
    known = {o.outlet for o in device.outlets}
    if outlet is not None and outlet not in known:
        raise DeviceControlError(f"device {device.id} has no outlet {outlet} (outlets: "
                                 f"{', '.join(str(o) for o in sorted(known))})")
    switches = []
    for item in device.outlets:
        keep = "on" if item.on else "off"
        state = word if outlet is None or item.outlet == outlet else keep
        switches.append({"switch": state, "outlet": item.outlet})
    return {"switches": switches}


def countdown_params(device: Device, *, seconds: float, on: bool, outlet: int | None,
                     now: datetime) -> dict[str, Any]:
    """``params`` arming a device-side countdown (UIID protocol ``timers``, client type ``delay``).

    The whole ``timers`` list is rewritten (SPEC §5: hence opt-in); the user's own timers are kept,
    an earlier pbxwatch countdown for the same outlet is replaced. The period is whole minutes (>= 1)."""
    minutes = max(1, math.ceil(seconds / 60))
    fire_at = (now + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    action: dict[str, Any] = {"switch": "on" if on else "off"}
    if device.multi_channel:
        action["outlet"] = 0 if outlet is None else outlet
    timer_id = f"{TIMER_ID_PREFIX}-{action.get('outlet', 0)}"
    timer = {"mId": timer_id, "type": "once", "at": fire_at, "coolkit_timer_type": "delay",
             "period": str(minutes), "enabled": 1, "do": action}
    existing = device.params.get("timers")
    kept = [t for t in existing if isinstance(t, dict) and t.get("mId") != timer_id] \
        if isinstance(existing, list) else []
    return {"timers": [*kept, timer]}
