"""HTTP client of the relay service, used by the CLI (`pbxwatch relay …`) and the monitor.

    RelayServiceError            any failure; `.status` (HTTP status or None), `.code`, `.message`, `.cloud_code`
    ├── RelayServiceUnreachable  the service did not answer (connection refused, timeout)
    └── RelayServiceConflict     409: relay offline, or a cycle already running on it
        ├── CycleRunningConflict   `cycle_running`: a power-cycle is already running on that relay
        └── RelayOfflineConflict   `relay_offline`: the relay is not connected to the cloud

An error answer becomes one of these by its `error` code (`ERROR_BY_CODE`, the service's own codes).

Imports nothing of FastAPI (the 202 body is the API's own pydantic `CycleAccepted`), so
`from pbxwatch.relay.client import RelayServiceClient` is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from pbxwatch.relay.errors import CycleRunning, RelayOffline
from pbxwatch.relay.schemas import CycleAccepted

DEFAULT_TIMEOUT_S = 30.0


class RelayServiceError(Exception):
    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None, cloud_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.cloud_code = cloud_code


class RelayServiceUnreachable(RelayServiceError):
    """The relay service did not answer."""


class RelayServiceConflict(RelayServiceError):
    """409: the relay is offline, or a power-cycle is already running on it (`.code` says which)."""


class CycleRunningConflict(RelayServiceConflict):
    """409 `cycle_running`: a power-cycle is already running on that relay."""


class RelayOfflineConflict(RelayServiceConflict):
    """409 `relay_offline`: the relay is not connected to the cloud."""


ERROR_BY_CODE: dict[str, type[RelayServiceError]] = {
    CycleRunning.code: CycleRunningConflict,
    RelayOffline.code: RelayOfflineConflict,
}


@dataclass(frozen=True)
class DeviceStatus:
    device_id: str
    name: str
    online: bool
    channels: list[dict[str, Any]]
    checked_at: datetime

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeviceStatus:
        return cls(
            device_id=data["device_id"],
            name=data["name"],
            online=bool(data["online"]),
            channels=list(data["channels"]),
            checked_at=datetime.fromisoformat(data["checked_at"]),
        )


class RelayServiceClient:
    """`RelayServiceClient(base_url, api_token, http=...)`; the `httpx.AsyncClient` is injectable."""

    def __init__(
        self,
        base_url: str,
        api_token: str | None = None,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_token}"} if api_token else {}
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)

    async def __aenter__(self) -> RelayServiceClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def _request(
        self, method: str, path: str, *, json: dict[str, Any] | None = None, params: dict[str, Any] | None = None
    ) -> Any:
        try:
            reply = await self._http.request(
                method, f"{self.base_url}{path}", json=json, params=params, headers=self._headers
            )
        except httpx.TimeoutException as err:
            raise RelayServiceUnreachable(f"relay service at {self.base_url} did not answer in time") from err
        except httpx.HTTPError as err:
            raise RelayServiceUnreachable(f"relay service at {self.base_url} is unreachable: {err}") from err
        if reply.is_success:
            return reply.json()
        raise _error(reply)

    async def get_device(self, device_id: str, *, fresh: bool = False) -> DeviceStatus:
        """`GET /devices/{id}`: the relay's `online` flag and channel states (`fresh`: read from the cloud now)."""
        params = {"fresh": "true"} if fresh else None
        return DeviceStatus.from_json(await self._request("GET", f"/devices/{device_id}", params=params))

    async def list_devices(self) -> list[DeviceStatus]:
        data = await self._request("GET", "/devices")
        return [DeviceStatus.from_json(d) for d in data["devices"]]

    async def power_cycle(
        self,
        *,
        device_id: str | None = None,
        enterprise_number: str | None = None,
        outlet: int | None = None,
        off_seconds: float | None = None,
        idempotency_key: str | None = None,
        initiator: str = "api",
    ) -> CycleAccepted:
        """`POST /power-cycle` → 202 `{cycle_id, on_due_at}`; `RelayServiceConflict` when already cycling."""
        body = _without_none(
            device_id=device_id,
            enterprise_number=enterprise_number,
            outlet=outlet,
            off_seconds=off_seconds,
            idempotency_key=idempotency_key,
            initiator=initiator,
        )
        data = await self._request("POST", "/power-cycle", json=body)
        return CycleAccepted.model_validate(data)

    async def toggle(
        self,
        device_id: str,
        *,
        state: bool | None = None,
        outlet: int | None = None,
        enterprise_number: str | None = None,
        initiator: str = "api",
    ) -> dict[str, Any]:
        """`POST /toggle`: `state` True = on, False = off, None = flip."""
        body = _without_none(
            device_id=device_id, state=state, outlet=outlet, enterprise_number=enterprise_number, initiator=initiator
        )
        result: dict[str, Any] = await self._request("POST", "/toggle", json=body)
        return result

    async def cycle(self, cycle_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", f"/power-cycle/{cycle_id}")
        return result

    async def health(self) -> dict[str, Any]:
        try:
            reply = await self._http.get(f"{self.base_url}/health")
        except httpx.HTTPError as err:
            raise RelayServiceUnreachable(f"relay service at {self.base_url} is unreachable: {err}") from err
        result: dict[str, Any] = reply.json()
        return result


def _without_none(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _error(reply: httpx.Response) -> RelayServiceError:
    try:
        body = reply.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("message") or f"HTTP {reply.status_code}")
    code = body.get("error")
    kind = ERROR_BY_CODE.get(str(code), RelayServiceConflict if reply.status_code == 409 else RelayServiceError)
    cloud_code = body.get("cloud_code")
    return kind(
        message, status=reply.status_code, code=code, cloud_code=cloud_code if isinstance(cloud_code, int) else None
    )
