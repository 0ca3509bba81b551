"""The routes' collaborators as `Annotated` dependencies (one per part of the running service), and the
relay API token guard."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pbxwatch.config import Settings
from pbxwatch.relay.clock import Clock
from pbxwatch.relay.context import RelayContext
from pbxwatch.relay.cycles import CycleRunner
from pbxwatch.relay.devices import DeviceCache
from pbxwatch.relay.gateway import RelayGateway
from pbxwatch.relay.metrics import RelayMetrics
from pbxwatch.relay.reconciler import Reconciler
from pbxwatch.relay.security import check_bearer
from pbxwatch.relay.service import RelayService
from pbxwatch.relay.store import RelayStore


def get_context(request: Request) -> RelayContext:
    ctx: RelayContext = request.app.state.relay
    return ctx


Ctx = Annotated[RelayContext, Depends(get_context)]


def get_settings(ctx: Ctx) -> Settings:
    return ctx.settings


def get_gateway(ctx: Ctx) -> RelayGateway:
    return ctx.gateway


def get_service(ctx: Ctx) -> RelayService:
    return ctx.service


def get_devices(ctx: Ctx) -> DeviceCache:
    return ctx.devices


def get_store(ctx: Ctx) -> RelayStore:
    return ctx.store


def get_runner(ctx: Ctx) -> CycleRunner:
    return ctx.runner


def get_reconciler(ctx: Ctx) -> Reconciler:
    return ctx.reconciler


def get_clock(ctx: Ctx) -> Clock:
    return ctx.gateway.clock


def get_metrics(ctx: Ctx) -> RelayMetrics:
    return ctx.gateway.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
GatewayDep = Annotated[RelayGateway, Depends(get_gateway)]
ServiceDep = Annotated[RelayService, Depends(get_service)]
DevicesDep = Annotated[DeviceCache, Depends(get_devices)]
StoreDep = Annotated[RelayStore, Depends(get_store)]
RunnerDep = Annotated[CycleRunner, Depends(get_runner)]
ReconcilerDep = Annotated[Reconciler, Depends(get_reconciler)]
ClockDep = Annotated[Clock, Depends(get_clock)]
MetricsDep = Annotated[RelayMetrics, Depends(get_metrics)]

_bearer = HTTPBearer(auto_error=False, description="relay.api_token, when one is configured")


def require_api_token(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    token = settings.relay.api_token
    given = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    check_bearer(given, token.get_secret_value() if token else None)


ApiToken = Depends(require_api_token)
