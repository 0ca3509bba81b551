"""How the simulated cloud shapes things: device ``itemData`` with the fields the real cloud always sends,
group items, ``params`` per UIID, and the device settings a control call may change.

Kept apart from the client's own tables on purpose (the simulator must not share the client's
misunderstandings): the UIID protocol gives every multi-channel relay a ``switches`` array of outlets 0-3.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pbxwatch.sim.cloud_state import SimDevice

#: entries of a multi-channel ``switches`` array in the UIID protocol, whatever is wired
PROTOCOL_OUTLETS = 4
#: default UIID for a simulated relay with N channels (None: single ``switch``)
DEFAULT_UIID = {None: 1, 1: 77, 2: 2, 3: 3, 4: 4}
OWN, SHARED, GROUP, SHARED_VIA_HOME = 1, 2, 3, 5
DEVICE_ITEM_TYPES = (OWN, SHARED, SHARED_VIA_HOME)
OWNER_APIKEY = "sim-apikey"
SHARER_APIKEY = "sim-sharer-apikey"
#: brands a free developer APPID sees; things of other brands count in ``total`` but are left out
VISIBLE_BRANDS = ("SONOFF", "COOLKIT")
#: control params the cloud accepts and the devices report (UIID protocol: switch, startup, inching ...)
SETTABLE = frozenset(
    {"switch", "switches", "startup", "pulse", "pulseWidth", "sledOnline", "configure", "pulses", "timers", "lock"}
)
_ON_OFF = ("on", "off")
_STARTUP = ("on", "off", "stay")
_PULSE_MIN_MS, _PULSE_MAX_MS, _PULSE_STEP_MS = 500, 3_600_000, 500


def _word(on: bool) -> str:
    return "on" if on else "off"


def device_params(device: SimDevice) -> dict[str, Any]:
    """The last reported state, as the cloud returns it."""
    common: dict[str, Any] = {
        "timers": list(device.timers),
        "sledOnline": device.settings["sledOnline"],
        "fwVersion": "3.7.0",
        "rssi": -52,
        "staMac": _mac(device.id),
        "init": 1,
    }
    if device.channels is None:
        return {
            **common,
            "switch": _word(device.states[0]),
            "startup": device.settings["startup"],
            "pulse": device.settings["pulse"],
            "pulseWidth": device.settings["pulseWidth"],
        }
    slots = device.slot_states()
    shown = device.reported_outlets if device.reported_outlets is not None else len(slots)
    return {
        **common,
        "lock": 0,
        "switches": [{"switch": _word(s), "outlet": i} for i, s in enumerate(slots[:shown])],
        "configure": [{"startup": device.settings["startup"], "outlet": i} for i in range(len(slots))],
        "pulses": [
            {"pulse": device.settings["pulse"], "width": device.settings["pulseWidth"], "outlet": i}
            for i in range(len(slots))
        ],
    }


def _mac(device_id: str) -> str:
    digest = hashlib.sha256(device_id.encode()).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 12, 2))


def device_item(device: SimDevice) -> dict[str, Any]:
    """``itemData`` of a device: every field the real cloud always sends (official docs' thing list)."""
    shared = device.item_type != OWN
    item: dict[str, Any] = {
        "name": device.name,
        "deviceid": device.id,
        "apikey": SHARER_APIKEY if shared else OWNER_APIKEY,
        "extra": {
            "uiid": device.uiid,
            "description": "simulated relay",
            "brandId": "sim-brand",
            "apmac": _mac(device.id + "ap"),
            "mac": _mac(device.id),
            "ui": "sim",
            "modelInfo": "sim-model-info",
            "model": f"SIM-R{device.channels or 1}",
            "manufacturer": "pbxwatch simulator",
            "chipid": device.id[-6:],
        },
        "brandName": device.brand,
        "brandLogo": "https://example.invalid/brand-logo.png",
        "showBrand": True,
        "productModel": f"SIM-R{device.channels or 1}",
        "devConfig": {},
        "settings": {"opsNotify": 0, "opsHistory": 1, "alarmNotify": 1},
        "devGroups": [],
        "tags": {},
        "devicekey": hashlib.sha256(("key" + device.id).encode()).hexdigest()[:36],
        "online": device.online,
        "params": device_params(device),
        "denyFeatures": [],
        "isSupportGroup": True,
        "isSupportedOnMP": False,
        "isSupportChannelSplit": device.channels is not None,
        "deviceFeature": {},
        "family": {"familyid": device.home_id, "index": device.index, "members": [], "roomid": ""},
    }
    if shared:
        item["sharedBy"] = {
            "apikey": SHARER_APIKEY,
            "phoneNumber": "",
            "email": "owner@example.invalid",
            "nickname": "relay owner",
            "permit": 15,
            "comment": "",
            "shareTime": 1_700_000_000_000,
        }
    else:
        item["shareTo"] = []
    return item


def group_item(home_id: str, number: int, main_device: str | None) -> dict[str, Any]:
    """``itemData`` of a group (itemType 3): ``id``, ``mainDeviceId``, ``family`` — no ``deviceid``."""
    return {
        "id": f"group-{home_id}-{number}",
        "name": f"Group {number}",
        "mainDeviceId": main_device or "",
        "family": {"familyid": home_id, "index": 1000 + number, "roomid": ""},
        "params": {"switch": "off"},
        "uiid": 1,
    }


def setting_error(params: dict[str, Any]) -> str | None:
    """Why these control params are malformed (the cloud answers 400), or None."""
    unknown = sorted(set(params) - SETTABLE)
    if not params or unknown:
        return f"params error: {', '.join(unknown) or 'empty params'}"
    if "startup" in params and params["startup"] not in _STARTUP:
        return "params error: startup must be on, off or stay"
    if "pulse" in params and params["pulse"] not in _ON_OFF:
        return "params error: pulse must be on or off"
    width = params.get("pulseWidth")
    if "pulseWidth" in params and not (
        type(width) is int and _PULSE_MIN_MS <= width <= _PULSE_MAX_MS and width % _PULSE_STEP_MS == 0
    ):
        return "params error: pulseWidth is 500-3600000 ms in steps of 500"
    if "sledOnline" in params and params["sledOnline"] not in _ON_OFF:
        return "params error: sledOnline must be on or off"
    return None


def apply_settings(device: SimDevice, params: dict[str, Any]) -> None:
    """Remember the accepted settings so they are reported back."""
    for key in ("startup", "pulse", "pulseWidth", "sledOnline"):
        if key in params:
            device.settings[key] = params[key]
    if isinstance(params.get("timers"), list):
        device.timers = [t for t in params["timers"] if isinstance(t, dict)]
