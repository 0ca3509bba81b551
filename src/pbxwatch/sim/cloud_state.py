"""State of the simulated eWeLink cloud: devices, homes, codes, tokens, quota, rate limits, faults.

Pure Python (no HTTP): :mod:`pbxwatch.sim.cloud` maps requests onto it. Times come from an injected clock.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pbxwatch.sim import cloud_things as things

DAY_S = 86_400.0
FaultKind = Literal["http_500", "html_503", "slow", "drop", "error", "http_403", "http_429", "late_apply", "apply_drop"]
FAULT_KINDS: tuple[str, ...] = (
    "http_500",
    "html_503",
    "slow",
    "drop",
    "error",
    "http_403",
    "http_429",
    "late_apply",
    "apply_drop",
)  # the last two: see `cloud_faults`
_TUNABLE = (
    "code_ttl",
    "access_ttl",
    "refresh_ttl",
    "min_interval",
    "window",
    "window_max_calls",
    "quota",
    "quota_style",
    "auto_approve",
    "require_full_switches",
)


@dataclass
class SimCloudConfig:
    """Every limit and lifetime of the simulated cloud (defaults: the published ones, docs/design.md §7).

    ``min_interval`` / ``window_max_calls`` per ``window`` are the per-IP limits (0 / None = off);
    ``quota`` the APPID's call budget (None = unlimited), answered as error 412 or HTTP 403."""

    app_id: str = "simappid0001"
    app_secret: str = "simappsecret0001"  # noqa: S105 - the simulator's own fake secret
    region: str = "eu"
    code_ttl: float = 30.0
    access_ttl: float = 30 * DAY_S
    refresh_ttl: float = 60 * DAY_S
    min_interval: float = 0.0
    window: float = 300.0
    window_max_calls: int | None = None
    quota: int | None = None
    quota_style: Literal["412", "http403"] = "412"
    auto_approve: bool = True
    require_full_switches: bool = True

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply control-surface changes; unknown keys raise ValueError."""
        unknown = sorted(set(changes) - set(_TUNABLE))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        for key, value in changes.items():
            setattr(self, key, value)


@dataclass
class SimDevice:
    """A relay: ``channels`` None = single channel (``switch``), else N wired outlets (``switches``).

    ``item_type``: 1 own, 2 shared to the account, 5 shared via a home (a look-up under another type does
    not find it, as in the real cloud). A multi-channel relay takes the UIID protocol's four ``switches``
    entries; ``reported_outlets`` makes it report fewer (a device's own report says nothing about the
    count). ``brand`` outside Sonoff/CoolKit: counted in ``total`` but not listed (free APPIDs)."""

    id: str
    name: str
    online: bool = True
    channels: int | None = None
    states: list[bool] = field(default_factory=list)
    home_id: str = "home-1"
    uiid: int | None = None
    index: int = 0
    timers: list[dict[str, Any]] = field(default_factory=list)
    hosts: dict[int, str] = field(default_factory=dict)  # outlet -> fleet host (standalone power hook)
    item_type: int = things.OWN
    brand: str = "SONOFF"
    reported_outlets: int | None = None
    spare: list[bool] = field(default_factory=list)  # protocol outlets with nothing wired behind them
    settings: dict[str, Any] = field(
        default_factory=lambda: {"startup": "on", "pulse": "off", "pulseWidth": 500, "sledOnline": "on"}
    )

    def __post_init__(self) -> None:
        if self.item_type not in things.DEVICE_ITEM_TYPES:
            raise ValueError(f"itemType of a device is 1, 2 or 5, not {self.item_type!r}")
        count = self.channels or 1
        if len(self.states) < count:
            self.states = [*self.states, *([True] * (count - len(self.states)))]
        if self.channels is not None:
            spare = max(0, things.PROTOCOL_OUTLETS - count)
            self.spare = [*self.spare, *([False] * (spare - len(self.spare)))][:spare]
        if self.uiid is None:
            self.uiid = things.DEFAULT_UIID.get(self.channels, 4)

    @property
    def outlet_count(self) -> int:
        """Entries a ``switches`` command must carry (0 for a single-channel relay)."""
        return 0 if self.channels is None else len(self.states) + len(self.spare)

    @property
    def visible(self) -> bool:
        return self.brand.upper() in things.VISIBLE_BRANDS

    def slot_states(self) -> list[bool]:
        return [*self.states, *self.spare]

    def params(self) -> dict[str, Any]:
        return things.device_params(self)

    def item_data(self) -> dict[str, Any]:
        return things.device_item(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SimDevice:
        """From a devices-file entry: id, name, online, channels, states, home, uiid, host | hosts,
        itemType (or ``"shared": true``), brand, reported_outlets."""
        if not isinstance(data.get("id"), str) or not data["id"]:
            raise ValueError("each device needs a non-empty string 'id'")
        hosts: dict[int, str] = {}
        if isinstance(data.get("host"), str):
            hosts = dict.fromkeys(range(int(data.get("channels") or 1)), data["host"])
        if isinstance(data.get("hosts"), dict):
            hosts = {int(k): str(v) for k, v in data["hosts"].items()}
        item_type = int(data.get("itemType") or (things.SHARED if data.get("shared") else things.OWN))
        reported = data.get("reported_outlets")
        return cls(
            id=data["id"],
            name=str(data.get("name") or data["id"]),
            online=bool(data.get("online", True)),
            channels=int(data["channels"]) if data.get("channels") else None,
            states=[bool(s) for s in data.get("states", [])],
            home_id=str(data.get("home", "home-1")),
            uiid=data.get("uiid"),
            hosts=hosts,
            item_type=item_type,
            brand=str(data.get("brand") or "SONOFF"),
            reported_outlets=int(reported) if reported is not None else None,
        )


@dataclass
class Fault:
    """One injected fault for requests whose path starts with ``path``; used ``count`` times."""

    kind: FaultKind
    path: str = "/v2/"
    count: int = 1
    delay: float = 0.0
    code: int = 500
    msg: str = "injected fault"
    applied: int = 0  # late_apply / apply_drop: commands applied so far


@dataclass(frozen=True)
class RecordedRequest:
    """A request as it arrived (raw body bytes, lower-case header names)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": dict(self.headers),
            "body": self.body.decode("utf-8", "replace"),
            "at": self.at,
        }


@dataclass
class Grant:
    access: str
    refresh: str
    at_expires: float
    rt_expires: float


class CloudState:
    """Everything the simulated cloud remembers."""

    def __init__(self, config: SimCloudConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.devices: dict[str, SimDevice] = {}
        self.homes: dict[str, str] = {"home-1": "My Home"}
        self.groups: dict[str, int] = {}  # home -> number of groups mixed into its thing list
        self.codes: dict[str, tuple[float, str, str]] = {}  # code -> (expires, region, redirectUrl)
        self.grants: list[Grant] = []
        self.used_refresh: set[str] = set()
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.api_calls = 0
        self.refreshes = 0
        self._recent: deque[float] = deque()
        self._next_index = 1

    # -- devices -------------------------------------------------------------------------------------
    def add_device(self, device: SimDevice) -> SimDevice:
        self.homes.setdefault(device.home_id, f"Home {device.home_id}")
        if not device.index:
            device.index = self._next_index
        self._next_index = max(self._next_index, device.index) + 1
        self.devices[device.id] = device
        return device

    def things(self, home_id: str) -> list[tuple[int, dict[str, Any], int, bool]]:
        """(index, itemData, itemType, visible) of a home's things, groups included, by index."""
        members = [d for d in self.devices.values() if d.home_id == home_id]
        items = [(d.index, d.item_data(), d.item_type, d.visible) for d in members]
        main = members[0].id if members else None
        for n in range(self.groups.get(home_id, 0)):
            items.append((1000 + n, things.group_item(home_id, n, main), things.GROUP, True))
        return sorted(items, key=lambda t: t[0])

    # -- OAuth --------------------------------------------------------------------------------------
    def issue_code(self, region: str | None = None, redirect_url: str = "") -> str:
        code = str(uuid.uuid4())
        self.codes[code] = (self.clock() + self.config.code_ttl, region or self.config.region, redirect_url)
        return code

    def take_code(self, code: str) -> tuple[str, str] | None:
        """(region, redirectUrl) of a live code, which is then used up; None if unknown/expired/used."""
        entry = self.codes.pop(code, None)
        if entry is None or self.clock() >= entry[0]:
            return None
        return entry[1], entry[2]

    def mint(self) -> Grant:
        now = self.clock()
        grant = Grant(
            access=secrets.token_hex(20),
            refresh=secrets.token_hex(20),
            at_expires=now + self.config.access_ttl,
            rt_expires=now + self.config.refresh_ttl,
        )
        self.grants.append(grant)
        return grant

    def rotate(self, refresh: str) -> Grant | None:
        """A refresh: the old refresh token (and its access token) die; None if the rt is not usable."""
        for grant in self.grants:
            if grant.refresh == refresh and refresh not in self.used_refresh:
                if self.clock() >= grant.rt_expires:
                    return None
                self.grants.remove(grant)
                self.used_refresh.add(refresh)
                self.refreshes += 1
                return self.mint()
        return None

    def access_check(self, token: str) -> Literal["ok", "expired", "unknown"]:
        for grant in self.grants:
            if grant.access == token:
                return "ok" if self.clock() < grant.at_expires else "expired"
        return "unknown"

    def expire_tokens(self, *, access: bool = True, refresh: bool = False) -> None:
        now = self.clock()
        for grant in self.grants:
            if access:
                grant.at_expires = min(grant.at_expires, now)
            if refresh:
                grant.rt_expires = min(grant.rt_expires, now)

    def revoke_access_tokens(self) -> None:
        """Access tokens stop being recognised (401), refresh tokens still work (logged in elsewhere)."""
        for grant in self.grants:
            grant.access = "revoked-" + secrets.token_hex(8)

    # -- limits and faults ---------------------------------------------------------------------------
    def over_quota(self) -> bool:
        self.api_calls += 1
        return self.config.quota is not None and self.api_calls > self.config.quota

    def rate_limited(self) -> bool:
        now = time.monotonic()  # real traffic spacing, independent of the (possibly fake) token clock
        cfg = self.config
        while self._recent and self._recent[0] <= now - cfg.window:
            self._recent.popleft()
        too_soon = bool(self._recent) and cfg.min_interval > 0 and now - self._recent[-1] < cfg.min_interval
        too_many = cfg.window_max_calls is not None and len(self._recent) >= cfg.window_max_calls
        self._recent.append(now)
        return too_soon or too_many

    def take_fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if path.startswith(fault.path):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None
