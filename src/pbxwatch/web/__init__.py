"""The web dashboard, served by the relay service under `/` (its API stays as it is).

Server-rendered pages (Jinja2, autoescaped) with htmx polling for the live parts; htmx is vendored in
`static/`, so the dashboard works offline and needs no build step.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from pbxwatch.config import Settings
from pbxwatch.web.access import Access
from pbxwatch.web.context import Dashboard, LoginRequired
from pbxwatch.web.render import STATIC, Renderer


def install_dashboard(app: FastAPI, settings: Settings) -> None:
    from pbxwatch.web import actions, pages, system

    access = Access(settings)
    app.state.dashboard = Dashboard(access, Renderer(access, settings.ui.language))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (pages, system, actions):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def login_required(_: Request, err: LoginRequired) -> Response:
        if err.partial:
            return Response("login required", status_code=401)
        return RedirectResponse(f"/login?next={quote(err.next_path)}", status_code=303)
