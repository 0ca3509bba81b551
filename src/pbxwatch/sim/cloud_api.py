"""The eWeLink v2 protocol of the simulated cloud: authorization page, token endpoints, devices.

Signatures are checked here with :mod:`hmac` directly — deliberately not with the client's signing code —
so the client and the simulator cannot share one misunderstanding (docs/design.md §10)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from pbxwatch.sim import cloud_things as things
from pbxwatch.sim.cloud_state import CloudState, SimDevice

SwitchNotifier = Callable[[SimDevice, int | None, bool], Awaitable[None]]
# The docs ask for 8 alphanumerics; the official SDK's nonce (base-36 digits of Math.random) may be shorter.
_NONCE = re.compile(r"^[A-Za-z0-9.]{1,32}$")
_MS = 1000


class Reply(Exception):
    """Abort a handler with this response."""

    def __init__(self, response: Response) -> None:
        super().__init__("reply")
        self.response = response


def envelope(error: int = 0, msg: str = "", data: Any = None, status: int = 200) -> Response:
    body = json.dumps(
        {"error": error, "msg": msg, "data": data if data is not None else {}},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return Response(body, status_code=status, media_type="application/json")


def fail(error: int, msg: str) -> Reply:
    return Reply(envelope(error, msg))


def _hmac_b64(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def check_signed(state: CloudState, request: Request, raw: bytes) -> None:
    """``X-CK-Appid`` must be ours and ``Authorization: Sign`` the HMAC of the raw bytes received (406)."""
    if request.headers.get("x-ck-appid") != state.config.app_id:
        raise fail(406, "appid is not authorized")
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Sign "):
        raise fail(406, "authorization is invalid")
    expected = _hmac_b64(state.config.app_secret, raw)
    if not hmac.compare_digest(expected.encode(), auth[5:].encode()):
        raise fail(406, "sign is invalid")


def check_bearer(state: CloudState, request: Request) -> None:
    auth = request.headers.get("authorization", "")
    verdict = state.access_check(auth[7:]) if auth.startswith("Bearer ") else "unknown"
    if verdict == "unknown":
        raise fail(401, "cannot found access token info")
    if verdict == "expired":
        raise fail(402, "access token expired")


def json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise fail(400, "params error: body is not JSON") from None
    if not isinstance(body, dict):
        raise fail(400, "params error: body is not an object")
    return body


def _page(title: str, text: str, status: int = 400) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>",
        status_code=status,
    )


_AUTH_PARAMS = ("clientId", "seq", "authorization", "redirectUrl", "grantType", "state", "nonce")


def authorization_page(state: CloudState, request: Request) -> Response:
    q = request.query_params
    missing = [p for p in _AUTH_PARAMS if not q.get(p)]
    if missing:
        return _page("Bad request", f"missing parameter(s): {', '.join(missing)}")
    if q["clientId"] != state.config.app_id:
        return _page("Bad request", "unknown clientId")
    expected = _hmac_b64(state.config.app_secret, f"{q['clientId']}_{q['seq']}".encode())
    # The official SDK puts the base64 signature in the URL raw: its "+" arrives as a space. Base64 has
    # no spaces, so the page reads them back as "+" (a percent-encoded "+" works as well).
    signature = q["authorization"].replace(" ", "+")
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return _page("Bad request", "authorization signature is invalid")
    if q["grantType"] != "authorization_code" or not _NONCE.match(q["nonce"]) or not q["seq"].isdigit():
        return _page("Bad request", "grantType, nonce or seq is malformed")
    if state.config.auto_approve or q.get("approve") == "1":
        return approve(state, q["redirectUrl"], q["state"])
    fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in q.items())
    return HTMLResponse(
        f"<!doctype html><title>eWeLink (simulated) login</title><form method='get'>{fields}"
        "<input type='hidden' name='approve' value='1'><button>Authorize</button></form>"
    )


def approve(state: CloudState, redirect_url: str, user_state: str) -> Response:
    code = state.issue_code(redirect_url=redirect_url)
    sep = "&" if "?" in redirect_url else "?"
    query = urlencode({"code": code, "region": state.config.region, "state": user_state})
    return RedirectResponse(f"{redirect_url}{sep}{query}", status_code=302)


def oauth_token(state: CloudState, request: Request, raw: bytes) -> Response:
    check_signed(state, request, raw)
    body = json_body(raw)
    if body.get("grantType") != "authorization_code" or not isinstance(body.get("code"), str):
        raise fail(400, "params error: code and grantType=authorization_code required")
    taken = state.take_code(body["code"])
    if taken is None:
        raise fail(405, "invalid code")
    if taken[1] and body.get("redirectUrl") != taken[1]:
        raise fail(400, "redirectUrl does not match")
    grant = state.mint()
    return envelope(
        data={
            "accessToken": grant.access,
            "atExpiredTime": int(grant.at_expires * _MS),
            "refreshToken": grant.refresh,
            "rtExpiredTime": int(grant.rt_expires * _MS),
        }
    )


def refresh(state: CloudState, request: Request, raw: bytes) -> Response:
    check_signed(state, request, raw)
    body = json_body(raw)
    grant = state.rotate(body["rt"]) if isinstance(body.get("rt"), str) else None
    if grant is None:
        raise fail(405, "can't find the account with this rt!")
    return envelope(data={"at": grant.access, "rt": grant.refresh})


def family(state: CloudState) -> Response:
    homes = [
        {
            "id": hid,
            "name": name,
            "apikey": things.OWNER_APIKEY,
            "index": i,
            "familyType": 1,
            "roomList": [],
            "members": [],
        }
        for i, (hid, name) in enumerate(state.homes.items())
    ]
    return envelope(data={"familyList": homes, "currentFamilyId": homes[0]["id"] if homes else ""})


def _int_param(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise fail(400, f"params error: {name}") from None


def thing_list(state: CloudState, request: Request) -> Response:
    """One page: ``num`` things after ``beginIndex``, then those of brands the APPID may not see are left
    out — so a page can be short while more follow, and ``total`` counts them all (official docs)."""
    home = request.query_params.get("familyid") or next(iter(state.homes), "")
    num = _int_param(request, "num", 30)
    begin = _int_param(request, "beginIndex", -9_999_999)
    listed = state.things(home)
    after = [t for t in listed if t[0] > begin]
    page = after if num == 0 else after[:num]
    items = [{"itemType": kind, "itemData": data, "index": idx} for idx, data, kind, visible in page if visible]
    return envelope(data={"thingList": items, "total": len(listed)})


def _wanted(raw: bytes) -> list[tuple[int, str]]:
    wanted = json_body(raw).get("thingList")
    if not isinstance(wanted, list) or not 1 <= len(wanted) <= 10:
        raise fail(400, "params error: thingList must hold 1-10 items")
    pairs = [(w.get("itemType"), w.get("id")) for w in wanted if isinstance(w, dict)]
    checked = [(t, i) for t, i in pairs if type(t) is int and isinstance(i, str) and i]
    if len(checked) != len(wanted):
        raise fail(400, "params error: each thingList item needs an integer itemType and an id")
    return checked


def things_by_id(state: CloudState, raw: bytes) -> Response:
    """Each item is looked up under its own ``itemType``: a shared device asked for as an own one (1) is
    simply not returned, as the real cloud does."""
    items = []
    for item_type, thing_id in _wanted(raw):
        device = state.devices.get(thing_id)
        if device is not None and device.item_type == item_type and device.visible:
            items.append({"itemType": item_type, "itemData": device.item_data(), "index": device.index})
    return envelope(data={"thingList": items})


def thing_status(state: CloudState, request: Request) -> Response:
    device = state.devices.get(request.query_params.get("id", ""))
    if device is None:
        raise fail(30018, "device does not exist")
    params = device.params()
    keys = [k for k in request.query_params.get("params", "").split("|") if k]
    return envelope(data={"params": {k: v for k, v in params.items() if not keys or k in keys}})


async def set_status(state: CloudState, raw: bytes, notify: SwitchNotifier) -> Response:
    body = json_body(raw)
    device_id = body.get("id")
    device = state.devices.get(device_id) if isinstance(device_id, str) else None
    if device is None or body.get("type") != 1:
        raise fail(30018, "device does not exist")
    params = body.get("params")
    problem = things.setting_error(params) if isinstance(params, dict) else "params error"
    if problem or not isinstance(params, dict):
        raise fail(400, problem or "params error")
    if not device.online:
        raise fail(4002, "device offline, control failed")
    changes = _switch_changes(state, device, params)
    things.apply_settings(device, params)
    for outlet, on in changes:
        if outlet >= len(device.states):
            device.spare[outlet - len(device.states)] = on  # a protocol slot with nothing wired
        elif device.states[outlet] != on:
            device.states[outlet] = on
            await notify(device, None if device.channels is None else outlet, on)
    return envelope()


def _switch_changes(state: CloudState, device: SimDevice, params: dict[str, Any]) -> list[tuple[int, bool]]:
    words = {"on": True, "off": False}
    if "switch" in params:
        if device.channels is not None or not isinstance(params["switch"], str) or params["switch"] not in words:
            raise fail(4002, "control failed: bad switch parameter")
        return [(0, words[params["switch"]])]
    if "switches" not in params:
        return []
    entries = params["switches"]
    count = device.outlet_count
    if device.channels is None or not isinstance(entries, list):
        raise fail(4002, "control failed: bad switches parameter")
    changes = [
        (e["outlet"], words[e["switch"]])
        for e in entries
        if isinstance(e, dict)
        and isinstance(e.get("switch"), str)
        and e["switch"] in words
        and type(e.get("outlet")) is int
        and e["outlet"] in range(count)
    ]
    if len(changes) != len(entries) or len({o for o, _ in changes}) != len(changes):
        raise fail(4002, "control failed: bad switches parameter")
    if state.config.require_full_switches and len(changes) != count:
        raise fail(4002, "control failed: every outlet must be sent")
    return changes
