"""The invariant "only evidence from the PBX counts as down".

Nothing that pbxwatch itself caused -- its own timeout, exception, overload, lost database -- may
ever count as a PBX being down: a power-cycle is a real outage for the site, and it must never be
the answer to our own slowness or our own bug. Every reason code therefore names where its
evidence came from, and the monitor turns each of its own failures into a check result only
through `own_failure`, which is always `unknown` (status and counter unchanged).
"""

from __future__ import annotations

from enum import StrEnum

from pbxwatch.domain.verdicts import CheckResult
from pbxwatch.domain.vocabulary import REASON_VERDICT, Reason, Verdict


class Source(StrEnum):
    """Who produced the evidence behind a reason code."""

    PBX = "pbx"  # the PBX or its network answered (or did not) as a PBX would
    PBXWATCH = "pbxwatch"  # our own credentials, configuration, guard or code


REASON_SOURCE: dict[Reason, Source] = {
    Reason.OK: Source.PBX,
    Reason.CONNECT_REFUSED: Source.PBX,
    Reason.CONNECT_TIMEOUT: Source.PBX,
    Reason.NO_ROUTE: Source.PBX,
    Reason.BANNER_TIMEOUT: Source.PBX,
    Reason.COMMAND_TIMEOUT: Source.PBX,  # the PBX's own `timeout` or our SSH channel to a stuck box
    Reason.ASTERISK_NOT_RUNNING: Source.PBX,
    Reason.CLI_HUNG: Source.PBX,
    Reason.AUTH_FAILED: Source.PBXWATCH,
    Reason.HOST_KEY_MISMATCH: Source.PBXWATCH,
    Reason.ASTERISK_MISSING: Source.PBXWATCH,
    Reason.PERMISSION_DENIED: Source.PBXWATCH,
    Reason.MASS_OUTAGE: Source.PBXWATCH,
    Reason.PROBE_ERROR: Source.PBXWATCH,
}


class OwnFailure(StrEnum):
    """Ways pbxwatch itself can fail a check. An overloaded monitor shows as a guard timeout; a lost
    database never reaches a check (the monitor keeps deciding in memory and cycles nothing meanwhile)."""

    GUARD_TIMEOUT = "the monitor's guard timeout"  # the check outlived the monitor's own deadline
    PROBER_CRASHED = "an exception in the prober"


def counts_as_down(reason: Reason) -> bool:
    """The invariant itself: a reason counts as down only when its evidence came from the PBX."""
    return REASON_VERDICT[reason] is Verdict.DOWN and REASON_SOURCE[reason] is Source.PBX


def own_failure(failure: OwnFailure, detail: str) -> CheckResult:
    """The check result for a failure of pbxwatch itself: `probe_error`, an `unknown` verdict."""
    return CheckResult.of(Reason.PROBE_ERROR, f"{failure.value}: {detail}"[:200])
