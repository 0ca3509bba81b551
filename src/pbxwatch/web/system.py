"""The system page: monitor liveness, eWeLink token, relay service health, database health."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select, text

from pbxwatch.db.engine import DB_ERRORS, describe
from pbxwatch.db.tables import enterprises, unit_status_history
from pbxwatch.ewelink import MSG_NO_ACCESS_TOKEN, MSG_TOKENS_EXPIRED
from pbxwatch.ewelink.models import TokenState
from pbxwatch.monitor.service import heartbeat_path
from pbxwatch.relay.context import RelayContext
from pbxwatch.relay.routes import health
from pbxwatch.web.context import Board, Viewer

router = APIRouter(include_in_schema=False)


def monitor_liveness(ctx: RelayContext, now: datetime) -> dict[str, Any]:
    """The heartbeat the monitor writes every sweep (only visible when both share `run_dir`)."""
    path = heartbeat_path(ctx.settings)
    try:
        beat = json.loads(path.read_text(encoding="utf-8"))
        at = datetime.fromisoformat(str(beat["at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return {"found": False, "path": str(path)}
    age = now - at
    late = age > timedelta(seconds=3 * ctx.settings.monitor.poll_interval + 30)
    return {
        "found": True,
        "path": str(path),
        "age": age,
        "late": late,
        "role": beat.get("role"),
        "pid": beat.get("pid"),
        "units": beat.get("units"),
        "database": beat.get("database"),
    }


async def database_health(ctx: RelayContext) -> dict[str, Any]:
    try:
        async with ctx.store.engine.connect() as conn:
            units = await conn.scalar(select(func.count()).select_from(enterprises))
            rows = await conn.scalar(select(func.count()).select_from(unit_status_history))
            revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    except DB_ERRORS as err:
        return {"ok": False, "error": describe(err)}
    return {"ok": True, "units": units, "rows": rows, "revision": revision}


def token_view(ctx: RelayContext, logged_in: bool) -> dict[str, Any]:
    state = ctx.gateway.token_state()
    seed_message = {TokenState.MISSING: MSG_NO_ACCESS_TOKEN, TokenState.EXPIRED: MSG_TOKENS_EXPIRED}.get(state)
    link = None
    if logged_in or ctx.settings.relay.api_token is None:  # the same rule as GET /ewelink-auth-url
        try:
            link = ctx.gateway.cloud.auth_url()
        except Exception:  # noqa: BLE001 - a missing eWeLink app must not break the page
            link = None
    return {"state": state.value, "seed_message": seed_message, "link": link}


@router.get("/system", response_class=HTMLResponse)
async def system(request: Request, board: Board, session: Viewer) -> HTMLResponse:
    ctx = board.relay(request)
    now = board.now(request)
    reply = await health.health(ctx.gateway, ctx.reconciler, ctx.settings)  # the same report as GET /health
    return board.renderer.page(
        request,
        "system.html",
        monitor=monitor_liveness(ctx, now),
        token=token_view(ctx, session is not None),
        health=json.loads(bytes(reply.body)),
        database=await database_health(ctx),
        now=now,
    )
