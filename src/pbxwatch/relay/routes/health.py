"""`GET /health` (no API token needed) and `GET /metrics` (Prometheus)."""

from __future__ import annotations

import contextlib
import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from pbxwatch.db.engine import DB_ERRORS, describe
from pbxwatch.ewelink import MSG_TOKENS_EXPIRED
from pbxwatch.ewelink.models import TokenState
from pbxwatch.monitor.liveness import monitor_liveness
from pbxwatch.relay.deps import ApiToken, GatewayDep, MetricsDep, ReconcilerDep, SettingsDep
from pbxwatch.relay.metrics import CONTENT_TYPE
from pbxwatch.relay.schemas import Health, LastCloudCall

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(gateway: GatewayDep, reconciler: ReconcilerDep, settings: SettingsDep) -> JSONResponse:
    """200 `ok` or `degraded` (token, last cloud call, overdue "on"s, a monitor that died); 503 only when the
    database is down."""
    problems: list[str] = []
    try:
        await reconciler.refresh_overdue()
        database = "ok"
    except DB_ERRORS as err:
        log.error("health: database unavailable: %s", describe(err))  # noqa: TRY400 - one line
        database = "down"
        problems.append(f"database unavailable: {describe(err)}")
    token = gateway.token_state()
    if token is TokenState.EXPIRED:
        problems.append(
            f"{MSG_TOKENS_EXPIRED}: eWeLink token expired or refused by the cloud; authorize via GET /ewelink-auth-url"
        )
    elif token is TokenState.MISSING:
        problems.append(f"eWeLink token {token.value}: authorize via GET /ewelink-auth-url")
    elif token is TokenState.EXPIRING:
        problems.append("eWeLink refresh token expires within 7 days: authorize again soon")
    field_failure = gateway.cloud.field_failure()  # APPID expired, logged in elsewhere, region mismatch
    if field_failure:
        problems.append(field_failure)
    last = gateway.last_cloud
    if last is not None and not last.ok:
        problems.append(f"last cloud call failed: {last.error}")
    overdue = len(reconciler.overdue)
    if overdue:
        problems.append(f"{overdue} relay(s) overdue to switch back on")
    monitor, _ = monitor_liveness(settings)
    if monitor.trouble:
        problems.append(f"monitor {monitor.describe()}")
    degraded = (
        database == "down"
        or overdue > 0
        or token in (TokenState.MISSING, TokenState.EXPIRED)
        or (last is not None and not last.ok)
        or monitor.trouble
    )
    body = Health(
        status="degraded" if degraded or field_failure else "ok",
        database=database,
        token=token.value,
        last_cloud_call=LastCloudCall(at=last.at, ok=last.ok, error=last.error) if last else None,
        overdue_on=overdue,
        monitor=monitor.state,
        problems=problems,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=503 if database == "down" else 200)


@router.get("/metrics", dependencies=[ApiToken], response_class=Response)
async def metrics(gateway: GatewayDep, reconciler: ReconcilerDep, registry: MetricsDep) -> Response:
    gateway.token_state()
    with contextlib.suppress(*DB_ERRORS):
        await reconciler.refresh_overdue()
    return Response(registry.render(), media_type=CONTENT_TYPE)
