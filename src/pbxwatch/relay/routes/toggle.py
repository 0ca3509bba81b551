"""The seed's `POST /toggle`: JSON body, or the same fields as query parameters."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from pbxwatch.domain.vocabulary import Initiator
from pbxwatch.relay.deps import ApiToken, RunnerDep, ServiceDep
from pbxwatch.relay.schemas import BUDGET_429, ToggleRequest, ToggleResult

router = APIRouter(tags=["relays"])

_BODY_SCHEMA = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": ToggleRequest.model_json_schema()}},
    }
}


async def parse_toggle(request: Request) -> ToggleRequest:
    """Query parameters, overridden by the JSON body's fields; errors are 422 naming the field."""
    data: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    if raw.strip():
        try:
            body = json.loads(raw)
        except ValueError:
            raise RequestValidationError(
                [{"loc": ("body",), "msg": "the body is not valid JSON", "type": "json_invalid"}]
            ) from None
        if not isinstance(body, dict):
            raise RequestValidationError([{"loc": ("body",), "msg": "must be a JSON object", "type": "dict_type"}])
        data.update(body)
    try:
        return ToggleRequest.model_validate(data)
    except ValidationError as err:
        raise RequestValidationError(err.errors(include_url=False, include_input=False)) from None


@router.post("/toggle", dependencies=[ApiToken], openapi_extra=_BODY_SCHEMA, responses=BUDGET_429)
async def toggle(service: ServiceDep, runner: RunnerDep, request: Request) -> ToggleResult:
    """Switch a relay outlet on (`state: true`), off (`false`) or flip it (no `state`). Cancels a pending cycle."""
    req = await parse_toggle(request)
    result = await service.toggle(
        req.device_id,
        state=req.state,
        outlet=req.outlet,
        enterprise_number=req.enterprise_number,
        initiator=Initiator(req.initiator),
        cancel=runner.cancel_for,
    )
    return ToggleResult(
        device_id=result.target.device_id,
        outlet=result.target.outlet,
        enterprise_number=result.target.enterprise_number,
        state=result.requested,
        state_after=result.state_after,
    )
