"""The invariant "nothing pbxwatch itself caused counts as a PBX being down" (domain/evidence.py).

Each row is a sentence; the test feeds the row's check to a unit that already failed twice (one more
down would confirm the outage and ask the relay) and asserts what the monitor would then do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from pbxwatch.domain.evidence import REASON_SOURCE, OwnFailure, Source, counts_as_down, own_failure
from pbxwatch.domain.policy import FleetView, Policy
from pbxwatch.domain.state import OutageConfirmed, UnitState, WatchedUnit
from pbxwatch.domain.verdicts import CheckResult
from pbxwatch.domain.vocabulary import LiveStatus, Reason, Verdict
from pbxwatch.domain.watchdog import decide

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
UNIT = WatchedUnit("100", "127.0.1.1", auto_cycle=True, device_id="dev1")
TWO_DOWN = UnitState(last_status=LiveStatus.OFFLINE, failure_counter=2, outage_since=T0 - timedelta(seconds=30))


@dataclass(frozen=True)
class Row:
    sentence: str
    check: CheckResult
    counts: bool  # True: this check is the third down, it confirms the outage and asks the relay


ROWS = [
    Row(
        "the monitor's own guard timeout around a check is not a PBX down",
        own_failure(OwnFailure.GUARD_TIMEOUT, "the check did not finish in 7s"),
        counts=False,
    ),
    Row(
        "an exception in the prober is not a PBX down",
        own_failure(OwnFailure.PROBER_CRASHED, "RuntimeError: boom"),
        counts=False,
    ),
    Row(
        "an overloaded monitor, whose check outlives the guard, is not a PBX down",
        own_failure(OwnFailure.GUARD_TIMEOUT, "the check did not finish in 35s"),
        counts=False,
    ),
    Row(
        "an exception of our own probe code is not a PBX down",
        CheckResult.of(Reason.PROBE_ERROR, "unexpected probe failure"),
        counts=False,
    ),
    Row(
        "a down verdict carrying pbxwatch's own reason is still not a PBX down",
        CheckResult(Verdict.DOWN, Reason.PROBE_ERROR, "a bug built this by hand"),
        counts=False,
    ),
    Row(
        "a mass outage (our reading of the whole fleet) is not a PBX down",
        CheckResult(Verdict.DOWN, Reason.MASS_OUTAGE),
        counts=False,
    ),
    Row(
        "our own rejected credentials are not a PBX down",
        CheckResult.of(Reason.AUTH_FAILED, "permission denied (publickey)"),
        counts=False,
    ),
    Row("a host key we do not know is not a PBX down", CheckResult.of(Reason.HOST_KEY_MISMATCH), counts=False),
    Row(
        "a wrong asterisk path in our configuration is not a PBX down",
        CheckResult.of(Reason.ASTERISK_MISSING),
        counts=False,
    ),
    Row(
        "a missing permission of our SSH user is not a PBX down", CheckResult.of(Reason.PERMISSION_DENIED), counts=False
    ),
    Row("a PBX that refuses the SSH connection is down", CheckResult.of(Reason.CONNECT_REFUSED), counts=True),
    Row("a PBX that does not answer the SSH connect is down", CheckResult.of(Reason.CONNECT_TIMEOUT), counts=True),
    Row("a PBX without a route is down", CheckResult.of(Reason.NO_ROUTE), counts=True),
    Row("a PBX that accepts TCP but sends no SSH banner is down", CheckResult.of(Reason.BANNER_TIMEOUT), counts=True),
    Row("a PBX whose check command never ends is down", CheckResult.of(Reason.COMMAND_TIMEOUT), counts=True),
    Row("a PBX without an asterisk process is down", CheckResult.of(Reason.ASTERISK_NOT_RUNNING), counts=True),
    Row("a PBX whose asterisk CLI hangs is down", CheckResult.of(Reason.CLI_HUNG), counts=True),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.sentence for r in ROWS])
def test_only_evidence_from_the_pbx_counts_as_down(row: Row) -> None:
    decision = decide(UNIT, TWO_DOWN, row.check, now=T0, policy=Policy(), fleet=FleetView())
    confirmed = [a for a in decision.actions if isinstance(a, OutageConfirmed)]
    assert decision.live is not None
    if row.counts:
        assert (decision.state.failure_counter, decision.live.last_status) == (3, LiveStatus.OFFLINE)
        assert len(confirmed) == 1
        return
    assert decision.actions == ()  # no on→off row, no relay look-up, no cycle
    assert decision.state == TWO_DOWN  # counter and status exactly as before
    assert (decision.live.last_status, decision.live.failure_counter) == (None, None)  # the row keeps them
    assert decision.live.error_message == row.check.error_message()  # the operator still sees why


def test_every_reason_names_the_source_of_its_evidence() -> None:
    assert set(REASON_SOURCE) == set(Reason)
    assert {r for r in Reason if counts_as_down(r)} == {r for r in Reason if REASON_SOURCE[r] is Source.PBX} - {
        Reason.OK
    }


@pytest.mark.parametrize("failure", list(OwnFailure))
def test_every_failure_of_our_own_is_unknown_and_says_what_failed(failure: OwnFailure) -> None:
    result = own_failure(failure, "x" * 500)
    assert (result.verdict, result.reason) == (Verdict.UNKNOWN, Reason.PROBE_ERROR)
    assert result.detail.startswith(f"{failure.value}: x")
    assert len(result.detail) == 200  # a runaway exception text never floods the live row
