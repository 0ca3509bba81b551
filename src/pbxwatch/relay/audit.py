"""Audit rows of relay actions, through the one history writer (`pbxwatch.db.history`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pbxwatch.db.history import HistoryEntry, write_history
from pbxwatch.domain.vocabulary import Initiator
from pbxwatch.relay.store import RelayStore


@dataclass(frozen=True)
class Target:
    """What an action addresses: a relay outlet and, when one is fed by it, an enterprise."""

    device_id: str
    outlet: int | None
    enterprise_number: str | None

    def info(self, **more: Any) -> dict[str, Any]:
        return {"device_id": self.device_id, "outlet": self.outlet, **more}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error_message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Auditor:
    def __init__(self, store: RelayStore) -> None:
        self.store = store

    async def switched(
        self, target: Target, *, at: datetime, requested: bool | None, initiator: Initiator, outcome: Outcome
    ) -> None:
        """One `ewelink_toggle_off` / `_on` / `ewelink_toggle` row."""
        async with self.store.engine.begin() as conn:
            status = await self.store.pbx_status(conn, target.enterprise_number)
            entry = HistoryEntry.relay_switched(
                target.enterprise_number,
                at=at,
                pbx_status=status,
                requested=requested,
                ok=outcome.ok,
                initiator=initiator,
                extra_info=target.info(state=requested, **outcome.extra),
                error_message=outcome.error_message,
            )
            await write_history(conn, [entry])

    async def power_cycle(self, target: Target, *, at: datetime, initiator: Initiator, outcome: Outcome) -> None:
        """The `ewelink_power_cycle` row written when a cycle is requested (accepted or refused)."""
        async with self.store.engine.begin() as conn:
            status = await self.store.pbx_status(conn, target.enterprise_number)
            entry = HistoryEntry.power_cycle(
                target.enterprise_number,
                at=at,
                pbx_status=status,
                ok=outcome.ok,
                initiator=initiator,
                extra_info=target.info(**outcome.extra),
                error_message=outcome.error_message,
            )
            await write_history(conn, [entry])
