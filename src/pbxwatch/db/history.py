"""The one writer of `unit_status_history` (docs/design.md §2). Nothing else inserts into that table.

Every row is built by one of the `HistoryEntry` constructors below, so only the closed
vocabulary of docs/design.md §2 can reach the database:

| constructor          | prev→new            | action_type                                  | action_result |
|----------------------|---------------------|----------------------------------------------|---------------|
| `outage_confirmed`   | on→off              | null                                         | null          |
| `recovered`          | off→on              | null                                         | null          |
| `relay_switched`     | PBX status, both    | ewelink_toggle_off / _on / ewelink_toggle    | success|fail  |
| `power_cycle`        | PBX status, both    | ewelink_power_cycle                          | success|fail  |
| `hold`               | PBX status, both    | skipped_* / dry_run                          | null          |
| `remediation`        | PBX status, both    | maintenance_start / _end, held, rearmed      | null          |
| `soft_restart`       | PBX status, both    | asterisk_restart                             | success|fail  |

`user_initiator` is `api`, `auto` or `user`, except on maintenance rows (whoever set the window) and
operator rearms (whoever ran it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from pbxwatch.db.tables import unit_status_history
from pbxwatch.domain.vocabulary import (
    HOLD_TYPES,
    REMEDIATION_TYPES,
    SWITCH_TYPES,
    ActionResult,
    ActionType,
    Initiator,
    PbxStatus,
)

OUTPUT_EXCERPT = 500  # characters of a restart command's output kept in extra_info
INITIATOR_MAX = 64


EXTRA_INFO_KEYS = frozenset(
    {
        "device_id",
        "outlet",
        "state",
        "state_after",
        "cloud_error",
        "cycle_id",
        "reason",
        "window_id",
        "window_until",
        "command",
        "exit_status",
        "output",
    }
)


@dataclass(frozen=True)
class HistoryEntry:
    enterprise_number: str | None
    prev_status: PbxStatus
    new_status: PbxStatus
    change_time: datetime
    user_initiator: Initiator | str  # a free name only on maintenance and rearm rows
    failure_counter: int | None = None
    error_message: str | None = None
    action_type: ActionType | None = None
    action_result: ActionResult | None = None
    action_time: datetime | None = None
    extra_info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.extra_info) - EXTRA_INFO_KEYS
        if unknown:
            raise ValueError(f"extra_info keys outside the contract: {sorted(unknown)}")
        if self.change_time.tzinfo is None:
            raise ValueError("change_time must be timezone-aware (UTC)")
        if self.action_type in HOLD_TYPES and self.action_result is not None:
            raise ValueError("a hold row carries no action_result")
        if self.action_type in REMEDIATION_TYPES and self.action_result is not None:
            raise ValueError("a remediation row carries no action_result")
        relay_or_restart = self.action_type in SWITCH_TYPES or self.action_type in (
            ActionType.POWER_CYCLE,
            ActionType.ASTERISK_RESTART,
        )
        if relay_or_restart and (self.action_result is None):
            raise ValueError("a relay action or restart row needs an action_result")
        if self.action_type is None and self.prev_status == self.new_status:
            raise ValueError("a status row must change the status")

    # One constructor per row kind of docs/design.md §2.
    @classmethod
    def outage_confirmed(
        cls, enterprise_number: str, *, at: datetime, failure_counter: int, error_message: str | None
    ) -> HistoryEntry:
        return cls(
            enterprise_number,
            "on",
            "off",
            at,
            Initiator.AUTO,
            failure_counter=failure_counter,
            error_message=error_message,
        )

    @classmethod
    def recovered(cls, enterprise_number: str, *, at: datetime, failure_counter: int = 0) -> HistoryEntry:
        return cls(enterprise_number, "off", "on", at, Initiator.AUTO, failure_counter=failure_counter)

    @classmethod
    def relay_switched(
        cls,
        enterprise_number: str | None,
        *,
        at: datetime,
        pbx_status: PbxStatus,
        requested: bool | None,
        ok: bool,
        initiator: Initiator,
        extra_info: Mapping[str, Any],
        error_message: str | None = None,
        failure_counter: int | None = None,
    ) -> HistoryEntry:
        """`requested` is the state asked for: True → toggle_on, False → toggle_off, None → a flip."""
        action = {True: ActionType.TOGGLE_ON, False: ActionType.TOGGLE_OFF, None: ActionType.TOGGLE}[requested]
        return cls.power_cycle(
            enterprise_number,
            at=at,
            pbx_status=pbx_status,
            ok=ok,
            initiator=initiator,
            extra_info=extra_info,
            error_message=error_message,
            failure_counter=failure_counter,
            kind=action,
        )

    @classmethod
    def power_cycle(
        cls,
        enterprise_number: str | None,
        *,
        at: datetime,
        pbx_status: PbxStatus,
        ok: bool,
        initiator: Initiator,
        extra_info: Mapping[str, Any],
        error_message: str | None = None,
        failure_counter: int | None = None,
        kind: ActionType = ActionType.POWER_CYCLE,
    ) -> HistoryEntry:
        """A relay action row: the power-cycle request, or (`kind`, from `relay_switched`) one switch."""
        if kind is not ActionType.POWER_CYCLE and kind not in SWITCH_TYPES:
            raise ValueError(f"{kind} is not a relay action")
        return cls(
            enterprise_number,
            pbx_status,
            pbx_status,
            at,
            initiator,
            failure_counter=failure_counter,
            error_message=error_message,
            action_type=kind,
            action_result=ActionResult.SUCCESS if ok else ActionResult.FAIL,
            action_time=at,
            extra_info=dict(extra_info),
        )

    @classmethod
    def hold(
        cls,
        enterprise_number: str,
        *,
        at: datetime,
        pbx_status: PbxStatus,
        kind: ActionType,
        reason: str,
        failure_counter: int | None = None,
        extra_info: Mapping[str, Any] | None = None,
    ) -> HistoryEntry:
        if kind not in HOLD_TYPES:
            raise ValueError(f"{kind} is not a hold")
        info = {"reason": kind.value, **(extra_info or {})}
        return cls(
            enterprise_number,
            pbx_status,
            pbx_status,
            at,
            Initiator.AUTO,
            failure_counter=failure_counter,
            error_message=reason,
            action_type=kind,
            action_time=at,
            extra_info=info,
        )

    @classmethod
    def remediation(
        cls,
        enterprise_number: str,
        *,
        at: datetime,
        pbx_status: PbxStatus,
        kind: ActionType,
        reason: str,
        initiator: Initiator | str,
        extra_info: Mapping[str, Any] | None = None,
    ) -> HistoryEntry:
        """A maintenance window began or ended, a flap hold began or was rearmed."""
        if kind not in REMEDIATION_TYPES:
            raise ValueError(f"{kind} is not a remediation row")
        who = initiator if isinstance(initiator, Initiator) else _initiator_name(initiator)
        return cls(
            enterprise_number,
            pbx_status,
            pbx_status,
            at,
            who,
            error_message=reason,
            action_type=kind,
            action_time=at,
            extra_info=dict(extra_info or {}),
        )

    @classmethod
    def soft_restart(
        cls,
        enterprise_number: str,
        *,
        at: datetime,
        pbx_status: PbxStatus,
        ok: bool,
        command: str,
        exit_status: int | None,
        output: str,
        failure_counter: int | None = None,
    ) -> HistoryEntry:
        """The restart command ran over SSH (or could not): its exit status and an excerpt of its output."""
        excerpt = output.strip()[-OUTPUT_EXCERPT:]
        return cls(
            enterprise_number,
            pbx_status,
            pbx_status,
            at,
            Initiator.AUTO,
            failure_counter=failure_counter,
            error_message=None if ok else (excerpt.splitlines()[-1] if excerpt else "restart failed"),
            action_type=ActionType.ASTERISK_RESTART,
            action_result=ActionResult.SUCCESS if ok else ActionResult.FAIL,
            action_time=at,
            extra_info={"command": command, "exit_status": exit_status, "output": excerpt},
        )

    def as_row(self) -> dict[str, Any]:
        """The row as written; adopted naive timestamp columns are handled by their column type."""
        return {
            "enterprise_number": self.enterprise_number,
            "prev_status": self.prev_status,
            "new_status": self.new_status,
            "change_time": self.change_time,
            "failure_counter": self.failure_counter,
            "error_message": self.error_message,
            "action_type": self.action_type.value if self.action_type else None,
            "action_result": self.action_result.value if self.action_result else None,
            "action_time": self.action_time,
            "user_initiator": str(self.user_initiator),
            "extra_info": dict(self.extra_info),
        }


def _initiator_name(name: str) -> str:
    """Who set a window or rearmed a unit: one printable line, at most `INITIATOR_MAX` characters."""
    cleaned = "".join(ch for ch in name if ch.isprintable()).strip()[:INITIATOR_MAX]
    if not cleaned:
        raise ValueError("who set it must not be empty")
    return cleaned


async def write_history(conn: AsyncConnection, entries: Sequence[HistoryEntry]) -> None:
    """Append rows to `unit_status_history` inside the caller's transaction (one statement for a batch)."""
    if not entries:
        return
    await conn.execute(insert(unit_status_history), [e.as_row() for e in entries])
