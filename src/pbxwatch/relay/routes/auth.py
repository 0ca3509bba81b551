"""The seed's OAuth endpoints: `GET /ewelink-auth-url` and `GET /ewelink-callback/`."""

from __future__ import annotations

import html
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from pbxwatch.ewelink import CallPriority
from pbxwatch.relay.deps import ApiToken, GatewayDep, SettingsDep
from pbxwatch.relay.errors import InvalidState, RelayError
from pbxwatch.relay.schemas import AuthUrl

log = logging.getLogger(__name__)
router = APIRouter(tags=["ewelink auth"])

NEW_LINK = (
    "Get a new link from GET /ewelink-auth-url (or `pbxwatch ewelink auth-url`), log in, and open "
    "the address the page redirects to"
)
MISSING_STATE = (
    "The callback needs the state=... value this service put in the authorization link, as well as "
    f"code=...: add &state=... from the redirect address. {NEW_LINK}."
)


@router.get("/ewelink-auth-url", dependencies=[ApiToken])
async def auth_url(gateway: GatewayDep) -> AuthUrl:
    """The authorization page link for a manual login (runbook §4)."""
    return AuthUrl(auth_url=gateway.cloud.auth_url())


def _page(title: str, text: str, status: int) -> HTMLResponse:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>pbxwatch</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status)


@router.get("/ewelink-callback/", response_class=HTMLResponse)
@router.get("/ewelink-callback", response_class=HTMLResponse, include_in_schema=False)
async def callback(  # noqa: PLR0917 - FastAPI passes the dependencies and parameters by name
    gateway: GatewayDep,
    settings: SettingsDep,
    request: Request,
    code: Annotated[str, Query(min_length=1, max_length=200)],
    region: Annotated[Literal["cn", "as", "us", "eu"] | None, Query()] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """Exchange the code from the authorization redirect and save the token file (runbook §5).

    The `state` must be one this service issued in an auth URL and not used yet: without it anyone who
    reaches this endpoint could put their own eWeLink account in place of ours."""
    client = request.client.host if request.client else "?"
    if not state:
        log.warning("eWeLink callback refused (from %s): no state; nothing written", client)
        return _page("eWeLink authorization refused", MISSING_STATE, 400)
    try:
        chosen = region or settings.ewelink.region
        with gateway.caller_budget(CallPriority.READ):
            await gateway.call(lambda: gateway.cloud.exchange_code(code, chosen, state))
    except InvalidState as err:
        log.warning("eWeLink callback refused (from %s): %s; nothing written", client, err.message)
        return _page("eWeLink authorization refused", f"{err.message}. {NEW_LINK}", err.http_status)
    except RelayError as err:
        log.error("eWeLink authorization failed: %s", err.message)  # noqa: TRY400 - one line, no traceback
        return _page("eWeLink authorization failed", f"{err.message} Open a new authorization link.", err.http_status)
    log.info("eWeLink authorization succeeded (region %s); tokens saved", region or settings.ewelink.region)
    return _page("eWeLink authorization succeeded", "Tokens are saved; the relay service uses them now.", 200)
