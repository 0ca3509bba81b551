"""`POST /power-cycle` (docs/design.md §5) and the state of one cycle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from pbxwatch.domain.vocabulary import Initiator
from pbxwatch.relay.cycles import CycleRequest
from pbxwatch.relay.deps import ApiToken, RunnerDep, StoreDep
from pbxwatch.relay.errors import NotFound
from pbxwatch.relay.schemas import BUDGET_429, CycleAccepted, CycleView, ErrorBody, PowerCycleRequest

router = APIRouter(tags=["relays"], dependencies=[ApiToken])


@router.post("/power-cycle", status_code=202, responses={409: {"model": ErrorBody}, **BUDGET_429})
async def power_cycle(runner: RunnerDep, body: PowerCycleRequest) -> CycleAccepted:
    """Store the intent, answer at once, run off → wait → on in the background."""
    ticket = await runner.request(
        CycleRequest(
            device_id=body.device_id,
            enterprise_number=body.enterprise_number,
            outlet=body.outlet,
            off_seconds=body.off_seconds,
            idempotency_key=body.idempotency_key,
            initiator=Initiator(body.initiator),
        )
    )
    return CycleAccepted(cycle_id=ticket.cycle_id, on_due_at=ticket.on_due_at)


@router.get("/power-cycle/{cycle_id}")
async def cycle_state(
    store: StoreDep, cycle_id: Annotated[str, Path(max_length=64, pattern=r"^[0-9a-f]+$")]
) -> CycleView:
    intent = await store.intent(cycle_id)
    if intent is None:
        raise NotFound(f"no power-cycle {cycle_id}")
    return CycleView(
        cycle_id=intent.id,
        device_id=intent.device_id,
        outlet=intent.outlet,
        enterprise_number=intent.enterprise_number,
        state=intent.state,
        mode=intent.mode,
        off_seconds=intent.off_seconds,
        on_due_at=intent.on_due_at,
        attempts=intent.attempts,
        last_error=intent.last_error,
    )
