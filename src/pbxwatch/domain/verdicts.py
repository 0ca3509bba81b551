"""The result of one check of one PBX: a verdict and a reason code from a fixed vocabulary (docs/design.md §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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


@dataclass(frozen=True)
class CheckResult:
    """One check of one host. Built only through `CheckResult.of(reason, ...)` so verdict and reason agree."""

    verdict: Verdict
    reason: Reason
    detail: str = ""
    uptime_seconds: int | None = None
    disk_usage_percent: int | None = None
    line_stats: dict[str, Any] | None = field(default=None, hash=False, compare=True)

    @classmethod
    def of(
        cls,
        reason: Reason,
        detail: str = "",
        *,
        uptime_seconds: int | None = None,
        disk_usage_percent: int | None = None,
        line_stats: dict[str, Any] | None = None,
    ) -> CheckResult:
        return cls(
            verdict=REASON_VERDICT[reason],
            reason=reason,
            detail=detail,
            uptime_seconds=uptime_seconds,
            disk_usage_percent=disk_usage_percent,
            line_stats=line_stats,
        )

    @property
    def sip_peers(self) -> int | None:
        if self.line_stats is None:
            return None
        total = self.line_stats.get("total")
        return total if isinstance(total, int) else None

    def error_message(self) -> str:
        """The text stored in `last_error_message`: the reason code, then the detail."""
        return f"{self.reason.value}: {self.detail}" if self.detail else self.reason.value


@dataclass(frozen=True)
class CommandRun:
    """A command run on a PBX over SSH (the soft restart): its exit status (None: it could not run) and
    what it printed, stdout then stderr."""

    exit_status: int | None
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0
