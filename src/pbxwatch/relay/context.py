"""Everything one running relay service holds, built at start-up and handed to the routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pbxwatch.config import Settings
from pbxwatch.relay.cycles import CycleRunner
from pbxwatch.relay.reconciler import Reconciler
from pbxwatch.relay.security import check_bearer
from pbxwatch.relay.service import RelayService


@dataclass
class RelayContext:
    settings: Settings
    service: RelayService
    runner: CycleRunner
    reconciler: Reconciler


def get_context(request: Request) -> RelayContext:
    ctx: RelayContext = request.app.state.relay
    return ctx


Ctx = Annotated[RelayContext, Depends(get_context)]


_bearer = HTTPBearer(auto_error=False, description="relay.api_token, when one is configured")


def require_api_token(
    ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    token = ctx.settings.relay.api_token
    given = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    check_bearer(given, token.get_secret_value() if token else None)


ApiToken = Depends(require_api_token)
