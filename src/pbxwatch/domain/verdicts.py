"""The result of one check of one PBX: a verdict and a reason code from a fixed vocabulary (docs/design.md §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pbxwatch.domain.vocabulary import REASON_VERDICT, Reason, Verdict


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
