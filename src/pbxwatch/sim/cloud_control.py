"""The simulated cloud's control surface (``/_sim/...``). JSON in, JSON out; a bad body gives 400 with a
one-line message. Nothing here needs a token.

========================================  ==========================================================
``GET /_sim/devices``                     every device: id, name, online, channels, states, home, timers,
                                          itemType (1 own, 2 shared, 5 via home), uiid, brand, settings
``POST /_sim/devices``                    add one device or a list (devices-file entries)
``GET|POST|PATCH /_sim/devices/{id}``     read / change ``online``, ``states``, ``name``; ``DELETE`` removes
``POST /_sim/homes``                      ``{"id", "name", "groups": N}`` — a home, with N groups mixed in
``POST /_sim/faults``                     ``{"kind", "path": "/v2/", "count": 1, "delay": 0, "code", "msg"}``;
                                          kinds: http_500, html_503, slow, drop, error (JSON ``code``),
                                          http_403, http_429; ``DELETE`` clears them
``GET /_sim/requests?path=/v2/user``      the request log (method, path, query, headers, raw body);
                                          ``DELETE`` clears it
``POST /_sim/code``                       ``{"redirectUrl", "region"}`` -> ``{"code", "region"}`` (no browser)
``POST /_sim/tokens/expire``              ``{"access": true, "refresh": false}`` — expire issued tokens now
``POST /_sim/tokens/revoke``              access tokens become unknown (401), refresh tokens still work
``POST /_sim/tokens/logout``              every token dies (401, then 405 on refresh): "logged in from
                                          another place"
``GET /_sim/stats``                       ``api_calls``, ``refreshes``, ``grants``, ``codes``
``POST /_sim/config``                     change limits: code_ttl, access_ttl, refresh_ttl, min_interval,
                                          window, window_max_calls, quota, quota_style (412|http403),
                                          auto_approve, require_full_switches
========================================  ==========================================================
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pbxwatch.sim.cloud_state import FAULT_KINDS, CloudState, Fault, SimDevice


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def _json(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw.strip() else {}


def device_view(device: SimDevice) -> dict[str, Any]:
    return {
        "id": device.id,
        "name": device.name,
        "online": device.online,
        "channels": device.channels,
        "states": list(device.states),
        "home": device.home_id,
        "timers": list(device.timers),
        "hosts": {str(k): v for k, v in device.hosts.items()},
        "itemType": device.item_type,
        "uiid": device.uiid,
        "brand": device.brand,
        "settings": dict(device.settings),
    }


class _Control:
    """The ``/_sim`` handlers, one method per route, on one simulated cloud's state."""

    def __init__(self, state: CloudState) -> None:
        self._state = state

    async def devices(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse([device_view(d) for d in self._state.devices.values()])
        try:
            body = await _json(request)
            entries = body if isinstance(body, list) else [body]
            added = [self._state.add_device(SimDevice.from_json(d)) for d in entries]
        except (ValueError, TypeError, AttributeError) as err:
            return _bad(f"bad device: {err}")
        return JSONResponse([device_view(d) for d in added], status_code=201)

    async def one_device(self, request: Request) -> Response:
        device = self._state.devices.get(request.path_params["device_id"])
        if device is None:
            return JSONResponse({"error": "no such device"}, status_code=404)
        if request.method == "DELETE":
            del self._state.devices[device.id]
            return JSONResponse({"deleted": device.id})
        if request.method in ("POST", "PATCH"):
            try:
                body = await _json(request)
                if "online" in body:
                    device.online = bool(body["online"])
                if "states" in body:
                    device.states = [bool(s) for s in body["states"]][: device.channels or 1]
                if "name" in body:
                    device.name = str(body["name"])
            except (ValueError, TypeError, AttributeError) as err:
                return _bad(f"bad change: {err}")
        return JSONResponse(device_view(device))

    async def homes(self, request: Request) -> Response:
        try:
            body = await _json(request)
            self._state.homes[str(body["id"])] = str(body.get("name") or body["id"])
            self._state.groups[str(body["id"])] = int(body.get("groups", 0))
        except (ValueError, TypeError, KeyError) as err:
            return _bad(f"bad home: {err}")
        return JSONResponse({"homes": self._state.homes}, status_code=201)

    async def faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self._state.faults.clear()
            return JSONResponse({"faults": 0})
        try:
            body = await _json(request)
            if body.get("kind") not in FAULT_KINDS:
                return _bad(f"kind must be one of {', '.join(FAULT_KINDS)}")
            self._state.faults.append(
                Fault(
                    kind=body["kind"],
                    path=str(body.get("path", "/v2/")),
                    count=int(body.get("count", 1)),
                    delay=float(body.get("delay", 0)),
                    code=int(body.get("code", 500)),
                    msg=str(body.get("msg", "injected fault")),
                )
            )
        except (ValueError, TypeError, AttributeError) as err:
            return _bad(f"bad fault: {err}")
        return JSONResponse({"faults": len(self._state.faults)}, status_code=201)

    async def requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self._state.requests.clear()
            return JSONResponse({"requests": 0})
        prefix = request.query_params.get("path", "")
        return JSONResponse([r.to_json() for r in self._state.requests if r.path.startswith(prefix)])

    async def code(self, request: Request) -> Response:
        body = await _json(request)
        issued = self._state.issue_code(region=body.get("region"), redirect_url=str(body.get("redirectUrl", "")))
        return JSONResponse({"code": issued, "region": body.get("region") or self._state.config.region})

    async def tokens(self, request: Request) -> Response:
        body = await _json(request)
        if request.path_params["action"] == "revoke":
            self._state.revoke_access_tokens()
        elif request.path_params["action"] == "logout":
            self._state.grants.clear()  # the account logged in from another place: every token is dead
        else:
            self._state.expire_tokens(access=bool(body.get("access", True)), refresh=bool(body.get("refresh", False)))
        return JSONResponse({"grants": len(self._state.grants)})

    async def stats(self, request: Request) -> Response:
        return JSONResponse(
            {
                "api_calls": self._state.api_calls,
                "refreshes": self._state.refreshes,
                "grants": len(self._state.grants),
                "codes": len(self._state.codes),
            }
        )

    async def config(self, request: Request) -> Response:
        try:
            self._state.config.update(await _json(request))
        except (ValueError, TypeError, AttributeError) as err:
            return _bad(str(err))
        return JSONResponse({k: v for k, v in vars(self._state.config).items() if k != "app_secret"})


def control_routes(state: CloudState) -> list[Route]:
    control = _Control(state)
    return [
        Route("/_sim/devices", control.devices, methods=["GET", "POST"]),
        Route("/_sim/devices/{device_id}", control.one_device, methods=["GET", "POST", "PATCH", "DELETE"]),
        Route("/_sim/homes", control.homes, methods=["POST"]),
        Route("/_sim/faults", control.faults, methods=["POST", "DELETE"]),
        Route("/_sim/requests", control.requests, methods=["GET", "DELETE"]),
        Route("/_sim/code", control.code, methods=["POST"]),
        Route("/_sim/tokens/{action:str}", control.tokens, methods=["POST"]),
        Route("/_sim/stats", control.stats, methods=["GET"]),
        Route("/_sim/config", control.config, methods=["POST"]),
    ]
