"""What the dashboard's routes share: the relay service's context, access rules, templates, the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request

from pbxwatch.relay.context import RelayContext
from pbxwatch.web.access import Access, Session
from pbxwatch.web.queries import Judge
from pbxwatch.web.render import Renderer

POLL_SECONDS = 2  # how often the live parts of a page refresh themselves


class LoginRequired(Exception):
    """A page that needs a session was asked for without one (the handler redirects to /login)."""

    def __init__(self, next_path: str, partial: bool) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.partial = partial


@dataclass
class Dashboard:
    access: Access
    renderer: Renderer

    def relay(self, request: Request) -> RelayContext:
        ctx: RelayContext = request.app.state.relay
        return ctx

    def now(self, request: Request) -> datetime:
        return self.relay(request).gateway.clock.now()

    async def judge(self, request: Request) -> Judge:
        ctx = self.relay(request)
        monitor = ctx.settings.monitor
        intents = await ctx.store.active_intents()
        return Judge(
            now=self.now(request),
            # a unit is checked at least every poll interval; three missed sweeps mean nobody is watching
            stale_after=timedelta(seconds=3 * monitor.poll_interval + 30),
            cycling=frozenset((i.device_id, i.outlet) for i in intents),
            relays=ctx.devices.known_online(),
            paused=await _paused(ctx, self.now(request)),
        )


async def _paused(ctx: RelayContext, now: datetime) -> dict[str, str]:
    from zoneinfo import ZoneInfo

    from pbxwatch.db.maintenance import paused_units

    return await paused_units(ctx.store.engine, now, ZoneInfo(ctx.settings.monitor.time_zone))


def get_dashboard(request: Request) -> Dashboard:
    board: Dashboard = request.app.state.dashboard
    return board


Board = Annotated[Dashboard, Depends(get_dashboard)]


def viewer(request: Request, board: Board) -> Session | None:
    """The session, if any; raises `LoginRequired` when this bind needs one for every page."""
    session = board.access.session(request)
    if session is None and board.access.pages_need_login(request):
        raise LoginRequired(request.url.path, partial="hx-request" in request.headers)
    return session


Viewer = Annotated[Session | None, Depends(viewer)]
