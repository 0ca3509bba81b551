"""The closed vocabulary of pbxwatch: the words of a check and of the seed's columns (docs/design.md §2-§3).

Every value here is stored or shown word for word (`unit_live_status.last_status`,
`unit_status_history.prev_status/new_status/action_type/action_result/user_initiator`), so a member's
value is part of the data contract and never changes. No I/O.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args


class Verdict(StrEnum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


class Reason(StrEnum):
    """Why a check ended as it did. The verdict each reason implies is `REASON_VERDICT[reason]`."""

    OK = "ok"
    # down: the PBX is unusable
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    NO_ROUTE = "no_route"
    BANNER_TIMEOUT = "banner_timeout"
    COMMAND_TIMEOUT = "command_timeout"
    ASTERISK_NOT_RUNNING = "asterisk_not_running"
    CLI_HUNG = "cli_hung"
    # unknown: pbxwatch cannot judge, and a power-cycle would not help
    AUTH_FAILED = "auth_failed"
    HOST_KEY_MISMATCH = "host_key_mismatch"
    ASTERISK_MISSING = "asterisk_missing"
    PERMISSION_DENIED = "permission_denied"
    MASS_OUTAGE = "mass_outage"
    PROBE_ERROR = "probe_error"


REASON_VERDICT: dict[Reason, Verdict] = {
    Reason.OK: Verdict.UP,
    Reason.CONNECT_REFUSED: Verdict.DOWN,
    Reason.CONNECT_TIMEOUT: Verdict.DOWN,
    Reason.NO_ROUTE: Verdict.DOWN,
    Reason.BANNER_TIMEOUT: Verdict.DOWN,
    Reason.COMMAND_TIMEOUT: Verdict.DOWN,
    Reason.ASTERISK_NOT_RUNNING: Verdict.DOWN,
    Reason.CLI_HUNG: Verdict.DOWN,
    Reason.AUTH_FAILED: Verdict.UNKNOWN,
    Reason.HOST_KEY_MISMATCH: Verdict.UNKNOWN,
    Reason.ASTERISK_MISSING: Verdict.UNKNOWN,
    Reason.PERMISSION_DENIED: Verdict.UNKNOWN,
    Reason.MASS_OUTAGE: Verdict.UNKNOWN,
    Reason.PROBE_ERROR: Verdict.UNKNOWN,
}


class LiveStatus(StrEnum):
    """`unit_live_status.last_status`: what the last check found."""

    ONLINE = "online"
    OFFLINE = "offline"


PbxStatus = Literal["on", "off"]  # `prev_status` / `new_status` of a history row


def pbx_status(down: bool) -> PbxStatus:
    """The PBX as the history rows name it: `off` while it is down, else `on`."""
    return "off" if down else "on"


def stored_pbx_status(last_status: str | None) -> PbxStatus:
    """ "PBX status now" from `unit_live_status.last_status`: offline → off; online or no row → on."""
    return pbx_status(last_status == LiveStatus.OFFLINE)


class ActionType(StrEnum):
    TOGGLE_OFF = "ewelink_toggle_off"
    TOGGLE_ON = "ewelink_toggle_on"
    TOGGLE = "ewelink_toggle"
    POWER_CYCLE = "ewelink_power_cycle"
    SKIPPED_RELAY_OFFLINE = "skipped_relay_offline"
    SKIPPED_MASS_OUTAGE = "skipped_mass_outage"
    SKIPPED_DAILY_CAP = "skipped_daily_cap"
    SKIPPED_NO_RELAY = "skipped_no_relay"
    DRY_RUN = "dry_run"
    MAINTENANCE_START = "maintenance_start"
    MAINTENANCE_END = "maintenance_end"
    HELD = "held"  # flap hold: unstable, needs a human
    REARMED = "rearmed"  # the flap hold ended (stable again, or `pbxwatch units rearm`)
    ASTERISK_RESTART = "asterisk_restart"  # the soft restart rung of the remediation ladder


# Why an automatic power-cycle was held back: the hold rows' action types, and nothing else.
HoldKind = Literal[
    ActionType.SKIPPED_RELAY_OFFLINE,
    ActionType.SKIPPED_MASS_OUTAGE,
    ActionType.SKIPPED_DAILY_CAP,
    ActionType.SKIPPED_NO_RELAY,
    ActionType.DRY_RUN,
]
HOLD_TYPES: frozenset[ActionType] = frozenset(get_args(HoldKind))
SWITCH_TYPES = frozenset({ActionType.TOGGLE_OFF, ActionType.TOGGLE_ON, ActionType.TOGGLE})
REMEDIATION_TYPES = frozenset(
    {ActionType.MAINTENANCE_START, ActionType.MAINTENANCE_END, ActionType.HELD, ActionType.REARMED}
)


class ActionResult(StrEnum):
    SUCCESS = "success"
    FAIL = "fail"


class Initiator(StrEnum):
    API = "api"
    AUTO = "auto"
    USER = "user"
