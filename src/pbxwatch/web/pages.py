"""The read-only pages: fleet, unit, events, system (and the live fragments htmx polls)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from pbxwatch.db.report import load_marks, unit_reports, windows_of
from pbxwatch.domain.uptime import fleet_summary
from pbxwatch.domain.vocabulary import ActionType, Initiator
from pbxwatch.relay.schemas import PRINTABLE
from pbxwatch.web.context import POLL_SECONDS, Board, Dashboard, Viewer
from pbxwatch.web.queries import PAGE_SIZE, EventFilter, count_states, history_page, select_rows, unit_rows
from pbxwatch.web.unit_state import DashboardState

router = APIRouter(include_in_schema=False)
Number = Annotated[str, Path(min_length=1, max_length=64, pattern=PRINTABLE)]
Text = Annotated[str, Query(max_length=100)]
# an empty `state` (the form's "all states") means no filter
StateFilter = Annotated[str, Query(pattern="^(|" + "|".join(s.value for s in DashboardState) + ")$")]
PageNo = Annotated[int, Query(ge=1, le=10_000)]
BeforeId = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
REPORT_WINDOWS = (("24h", timedelta(days=1)), ("7d", timedelta(days=7)), ("30d", timedelta(days=30)))
SUMMARY_WINDOW = timedelta(days=30)


async def _fleet_values(board: Dashboard, request: Request, q: str, state_word: str, page: int) -> dict[str, Any]:
    state = DashboardState(state_word) if state_word else None
    judge = await board.judge(request)
    async with board.relay(request).store.engine.connect() as conn:
        rows = await unit_rows(conn, judge)
    chosen = select_rows(rows, query=q, state=state)
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    page = min(page, pages)
    return {
        "counts": count_states(rows),
        "rows": chosen[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        "matched": len(chosen),
        "total": len(rows),
        "page": page,
        "pages": pages,
        "q": q,
        "state": state,
        "now": judge.now,
        "poll": POLL_SECONDS,
        "states": list(DashboardState),
    }


@router.get("/", response_class=HTMLResponse)
async def fleet(
    request: Request, board: Board, _: Viewer, q: Text = "", state: StateFilter = "", page: PageNo = 1
) -> HTMLResponse:
    values = await _fleet_values(board, request, q, state, page)
    async with board.relay(request).store.engine.connect() as conn:
        reports = await unit_reports(conn, values["now"] - SUMMARY_WINDOW, values["now"])
    return board.renderer.page(request, "fleet.html", summary=fleet_summary(reports), **values)


@router.get("/fleet/table", response_class=HTMLResponse)
async def fleet_table(
    request: Request, board: Board, _: Viewer, q: Text = "", state: StateFilter = "", page: PageNo = 1
) -> HTMLResponse:
    return board.renderer.page(request, "fleet_table.html", **await _fleet_values(board, request, q, state, page))


def no_such_unit(board: Dashboard, request: Request) -> HTMLResponse:
    return board.renderer.page(
        request, "message.html", status=404, title_key="not_found", message_key="no_such_unit", back="/"
    )


async def _unit_values(board: Dashboard, request: Request, number: str, before_id: int | None) -> dict[str, Any] | None:
    judge = await board.judge(request)
    async with board.relay(request).store.engine.connect() as conn:
        found = await unit_rows(conn, judge, number)
        if not found:
            return None
        history = await history_page(conn, EventFilter(unit=number), before_id=before_id)
        widest = judge.now - REPORT_WINDOWS[-1][1]
        marks = (await load_marks(conn, widest, judge.now, [number]))[number]
    reports = windows_of(number, marks, [judge.now - span for _, span in REPORT_WINDOWS], judge.now)
    return {
        "unit": found[0],
        "history": history,
        "before_id": before_id,
        "now": judge.now,
        "poll": POLL_SECONDS,
        "next_before_id": history[-1]["id"] if len(history) == PAGE_SIZE else None,
        "reports": list(zip([name for name, _ in REPORT_WINDOWS], reports, strict=True)),
        "incidents": list(reversed(reports[-1].incident_list)),
    }


@router.get("/unit/{number}", response_class=HTMLResponse)
async def unit(
    request: Request,
    board: Board,
    _: Viewer,
    number: Number,
    before_id: BeforeId = None,
    done: Annotated[str | None, Query(pattern="^(power-cycle|switch-on|rearm|rearm-none|pause)$")] = None,
) -> HTMLResponse:
    values = await _unit_values(board, request, number, before_id)
    if values is None:
        return no_such_unit(board, request)
    return board.renderer.page(request, "unit.html", done=done, **values)


@router.get("/unit/{number}/live", response_class=HTMLResponse)
async def unit_live(request: Request, board: Board, _: Viewer, number: Number) -> HTMLResponse:
    values = await _unit_values(board, request, number, None)
    if values is None:
        return no_such_unit(board, request)
    return board.renderer.page(request, "unit_live.html", **values)


@router.get("/events", response_class=HTMLResponse)
async def events(
    request: Request,
    board: Board,
    _: Viewer,
    *,
    unit: Text = "",
    action: Text = "",
    result: Text = "",
    initiator: Text = "",
    before_id: BeforeId = None,
) -> HTMLResponse:
    chosen = EventFilter(unit or None, action or None, result or None, initiator or None)
    async with board.relay(request).store.engine.connect() as conn:
        rows = await history_page(conn, chosen, before_id=before_id)
    return board.renderer.page(
        request,
        "events.html",
        rows=rows,
        history=rows,
        filter=chosen,
        before_id=before_id,
        next_before_id=rows[-1]["id"] if len(rows) == PAGE_SIZE else None,
        actions=["status", *(a.value for a in ActionType)],
        results=["success", "fail"],
        initiators=[i.value for i in Initiator],
    )
