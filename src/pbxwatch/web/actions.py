"""Login, logout and the unit buttons. Each button runs the same service code as the API (so the audit
row says `user_initiator='user'`), and only with a session and that session's CSRF token."""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Annotated, Literal
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pbxwatch.db.engine import Database
from pbxwatch.db.flap import rearm_flap
from pbxwatch.db.fleet_status import RearmError, rearm
from pbxwatch.domain.vocabulary import Initiator
from pbxwatch.relay.context import RelayContext
from pbxwatch.relay.cycles import CycleRequest
from pbxwatch.relay.errors import InvalidRequest, NotFound, RelayError
from pbxwatch.relay.schemas import PRINTABLE
from pbxwatch.web.access import COOKIE, SESSION_SECONDS, Session, safe_next
from pbxwatch.web.context import Board, Dashboard, Viewer
from pbxwatch.web.pages import no_such_unit

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
Number = Annotated[str, Path(min_length=1, max_length=64, pattern=PRINTABLE)]
Action = Literal["power-cycle", "switch-on", "rearm", "pause"]
PAUSES = ("30m", "1h", "2h", "4h", "8h", "24h")  # the dashboard's choices; the CLI and API take any duration
MAX_FORM_BYTES = 4096


async def form_of(request: Request) -> dict[str, str]:
    """A small urlencoded form (the dashboard's forms have two or three fields)."""
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(raw.decode("utf-8", "replace"), max_num_fields=10)
    return {k: v[0] for k, v in fields.items()}


def refused(board: Dashboard, request: Request, status: int, key: str) -> HTMLResponse:
    return board.renderer.page(request, "message.html", status=status, title_key="refused", message_key=key)


@router.get("/login", response_class=HTMLResponse)
async def login_page(
    request: Request, board: Board, next_path: Annotated[str, Query(alias="next", max_length=300)] = "/"
) -> HTMLResponse:
    return board.renderer.page(request, "login.html", next=safe_next(next_path), failed=False)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, board: Board) -> Response:
    form = await form_of(request)
    target = safe_next(form.get("next"))
    if not board.access.check_token(form.get("token", "")):
        log.warning("dashboard: a login with a wrong API token from %s", request.client.host if request.client else "?")
        return board.renderer.page(request, "login.html", status=401, next=target, failed=True)
    reply = RedirectResponse(target, status_code=303)
    reply.set_cookie(
        COOKIE,
        board.access.new_cookie(),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return reply


@router.post("/logout")
async def logout(request: Request, board: Board, session: Viewer) -> Response:
    if session is not None and not board.access.csrf_ok(session, (await form_of(request)).get("csrf")):
        return refused(board, request, 403, "csrf_bad")
    reply = RedirectResponse("/", status_code=303)
    reply.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return reply


@router.get("/unit/{number}/confirm/{action}", response_class=HTMLResponse)
async def confirm(request: Request, board: Board, _: Viewer, number: Number, action: Action) -> HTMLResponse:
    """Names the unit and its relay before anything is switched."""
    unit = await board.relay(request).store.unit(number)
    if unit is None:
        return no_such_unit(board, request)
    return board.renderer.page(request, "confirm.html", unit=unit, action=action, pauses=PAUSES)


def _gate(board: Dashboard, request: Request, session: Session | None, form: dict[str, str]) -> HTMLResponse | None:
    """401 without a session (or when login is impossible), 403 with a wrong CSRF token."""
    if session is None:
        key = "login_needed" if board.access.can_log_in else "no_api_token"
        return refused(board, request, 401 if board.access.can_log_in else 403, key)
    if not board.access.csrf_ok(session, form.get("csrf")):
        return refused(board, request, 403, "csrf_bad")
    return None


@router.post("/unit/{number}/{action}")
async def act(request: Request, board: Board, session: Viewer, number: Number, action: Action) -> Response:
    form = await form_of(request)
    if (refusal := _gate(board, request, session, form)) is not None:
        return refusal
    ctx = board.relay(request)
    try:
        done = await _run(ctx, number, action, form)
    except RelayError as err:
        return board.renderer.page(
            request,
            "message.html",
            status=err.http_status,
            title_key="action_failed",
            message_key="raw",
            raw=err.message,
            back=f"/unit/{quote(number)}",
        )
    except RearmError:  # removed since the page was shown
        return no_such_unit(board, request)
    return RedirectResponse(f"/unit/{quote(number)}?done={done}", status_code=303)


async def _run(ctx: RelayContext, number: str, action: Action, form: dict[str, str]) -> str:
    unit = await ctx.store.unit(number)
    if unit is None:
        raise NotFound(f"unit {number} does not exist")
    if action == "pause":
        return await _pause(ctx, number, form)
    if action == "rearm":
        db = Database(ctx.settings.database_url, ctx.store.engine)
        cleared = await rearm(db, number)
        if cleared:
            log.info("unit %s rearmed from the dashboard (ewelink_action_done cleared)", number)
        unheld = await rearm_flap(db, number, by=Initiator.USER.value, now=ctx.gateway.clock.now())
        if unheld:
            log.info("unit %s: flap hold ended from the dashboard", number)
        return "rearm" if cleared or unheld else "rearm-none"
    if unit.ewelink_device_id is None:
        raise InvalidRequest(f"unit {number} has no eWeLink relay configured")
    if action == "power-cycle":
        await ctx.runner.request(CycleRequest(
            device_id=None, enterprise_number=number, outlet=None, off_seconds=None, idempotency_key=None,
            initiator=Initiator.USER))  # fmt: skip
        return "power-cycle"
    await ctx.service.toggle(
        unit.ewelink_device_id,
        state=True,
        outlet=unit.ewelink_outlet,
        enterprise_number=number,
        initiator=Initiator.USER,
        cancel=ctx.runner.cancel_for,
    )
    return "switch-on"


async def _pause(ctx: RelayContext, number: str, form: dict[str, str]) -> str:
    """A maintenance window for this unit, the same as `POST /maintenance`, set by 'user'."""
    from pbxwatch.db.maintenance import add_windows
    from pbxwatch.domain.maintenance import WindowError
    from pbxwatch.domain.maintenance_request import WindowRequest

    length, reason = form.get("for", ""), " ".join(form.get("reason", "").split())[:200]
    if length not in PAUSES:
        raise InvalidRequest(f"pause for one of {', '.join(PAUSES)}")
    now = ctx.gateway.clock.now()
    try:
        request = WindowRequest.parse(for_=length, until=None, weekly=None, now=now, zone=UTC)
        await add_windows(
            ctx.store.engine,
            [number],
            now=now,
            reason=reason or "paused from the dashboard",
            set_by=Initiator.USER.value,
            duration=request.duration,
        )
    except WindowError as err:
        raise InvalidRequest(str(err)) from err
    log.info("unit %s paused for %s from the dashboard: %s", number, length, reason or "(no reason given)")
    return "pause"
