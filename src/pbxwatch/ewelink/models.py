"""Value objects of the eWeLink client: tokens, token status, homes, devices, calls.

Wire models (vendor field names) stay in :mod:`pbxwatch.ewelink.client`; these are what callers get.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

MS_PER_DAY = 86_400_000
#: Lifetimes of the notes (§1.6): the refresh reply carries no expiry, so it is computed locally.
ACCESS_TOKEN_LIFETIME_MS = 30 * MS_PER_DAY
REFRESH_TOKEN_LIFETIME_MS = 60 * MS_PER_DAY
#: docs/design.md §6: a refresh token that expires within 7 days is reported as "expiring".
EXPIRING_WITHIN_MS = 7 * MS_PER_DAY


class TokenState(StrEnum):
    """The eWeLink tokens, judged by the refresh token (docs/design.md §6 `/health`)."""

    VALID = "valid"
    EXPIRING = "expiring"  # the refresh token dies within 7 days
    EXPIRED = "expired"
    MISSING = "missing"


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class TokenSet:
    """The OAuth tokens as stored in the token file (docs/design.md §7). Tokens never appear in ``repr``."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    at_expires_ms: int
    rt_expires_ms: int
    region: str
    obtained_at_ms: int
    #: why the cloud proved these tokens dead (refresh refused, 401 after a refresh); None while usable
    dead: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The flat JSON object of the token file, with the seed's field names (and pbxwatch's status)."""
        data: dict[str, Any] = {
            "accessToken": self.access_token,
            "refreshToken": self.refresh_token,
            "atExpiredTime": self.at_expires_ms,
            "rtExpiredTime": self.rt_expires_ms,
            "region": self.region,
            "obtainedAt": self.obtained_at_ms,
        }
        if self.dead:  # usable tokens keep the seed's exact format
            data["status"], data["statusReason"] = "dead", self.dead
        return data

    def access_expired(self, now_ms: int, margin_ms: int = 0) -> bool:
        return now_ms + margin_ms >= self.at_expires_ms

    def refresh_expired(self, now_ms: int) -> bool:
        return now_ms >= self.rt_expires_ms


@dataclass(frozen=True)
class TokenStatus:
    """What an operator may see about the tokens: state by the refresh token, expiry times, never a token.

    ``state``: ``valid``; ``expiring`` (refresh token expires within 7 days); ``expired`` (by time, or
    proved dead by the cloud — then ``problem`` says how); ``missing`` (no file, or an unusable one —
    then ``problem`` says why).
    """

    state: TokenState
    region: str | None = None
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    obtained_at: datetime | None = None
    access_valid: bool = False
    #: days until the refresh token expires (negative once expired), as of the status's ``now``
    days_left: float | None = None
    problem: str | None = None

    def describe(self) -> str:
        """One human line: ``valid (refresh token expires in 41 days, 2026-...)``."""
        if self.state == "missing":
            return f"missing ({self.problem})" if self.problem else "missing"
        days = self.days_left or 0.0
        when = self.refresh_expires_at.strftime("%Y-%m-%d %H:%M UTC") if self.refresh_expires_at else "?"
        if self.state == "expired" and self.problem:
            return f"expired ({self.problem}): authorize again"
        if self.state == "expired":
            return f"expired (refresh token expired {when}): authorize again"
        if self.state == "expiring":
            return f"expiring in {days:.1f} days ({when}): authorize again soon"
        return f"valid (refresh token expires in {days:.0f} days, {when})"


@dataclass(frozen=True)
class Home:
    """An eWeLink home ("family")."""

    id: str
    name: str


@dataclass(frozen=True)
class Outlet:
    """One channel of a relay: ``outlet`` is 0-based as the cloud numbers it; ``on`` None if unknown."""

    outlet: int
    on: bool | None


@dataclass(frozen=True)
class Device:
    """A relay as the cloud reports it.

    ``multi_channel`` and the outlets follow the UIID (:mod:`pbxwatch.ewelink.uiids`): ``outlets`` has one
    entry per wired channel (``on`` None when the device did not report it), ``protocol_outlets`` is how
    many entries a ``switches`` command carries. A single-channel relay has exactly one outlet, 0.
    ``item_type`` is the thing list's: 1 own device, 2 shared to this account, 5 shared via a home
    (None: not known yet). ``params`` is the last reported state as the cloud sent it (read-only use).
    """

    id: str
    name: str
    online: bool
    multi_channel: bool
    outlets: tuple[Outlet, ...]
    uiid: int | None = None
    model: str | None = None
    home_id: str | None = None
    item_type: int | None = None
    protocol_outlets: int = 1
    params: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def state(self, outlet: int | None = None) -> bool | None:
        """The switch state of ``outlet`` (None = the only / first channel); None when unknown."""
        wanted = 0 if outlet is None else outlet
        for item in self.outlets:
            if item.outlet == wanted:
                return item.on
        return None


#: thing-list item types (official docs ``POST /v2/device/thing``; 5 as seen by SonoffLAN)
ITEM_OWN, ITEM_SHARED, ITEM_GROUP, ITEM_SHARED_VIA_HOME = 1, 2, 3, 5
DEVICE_ITEM_TYPES = frozenset({ITEM_OWN, ITEM_SHARED, ITEM_SHARED_VIA_HOME})


@dataclass(frozen=True)
class CallRecord:
    """One request that reached (or tried to reach) the cloud, for call counters and metrics.

    ``outcome``: ``ok`` or the error class name; ``code`` the vendor code when there was one.
    """

    method: str
    path: str
    http_status: int | None
    code: int | None
    outcome: str
