"""Request and response bodies of the relay API (kept apart from tables and wire models)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Text that reaches the database: no control characters (PostgreSQL text cannot hold NUL).
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
DEVICE_ID = r"^[A-Za-z0-9_.:-]+$"
DeviceId = Annotated[str, Field(min_length=1, max_length=64, pattern=DEVICE_ID)]
UnitNumber = Annotated[str, Field(min_length=1, max_length=64, pattern=PRINTABLE)]
Outlet = Annotated[int, Field(ge=0, le=31, description="0-based channel of a multi-channel relay")]
InitiatorName = Literal["api", "user", "auto"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ToggleRequest(_Request):
    device_id: DeviceId
    state: bool | None = Field(default=None, description="true = on, false = off, absent = flip")
    outlet: Outlet | None = None
    enterprise_number: UnitNumber | None = None
    initiator: InitiatorName = "api"


class PowerCycleRequest(_Request):
    device_id: DeviceId | None = None
    enterprise_number: UnitNumber | None = None
    outlet: Outlet | None = None
    off_seconds: float | None = Field(default=None, ge=1, le=300, allow_inf_nan=False)
    idempotency_key: Annotated[str, Field(min_length=1, max_length=200, pattern=PRINTABLE)] | None = None
    initiator: InitiatorName = "api"

    @model_validator(mode="after")
    def _one_target(self) -> PowerCycleRequest:
        if self.device_id is None and self.enterprise_number is None:
            raise ValueError("device_id or enterprise_number is required")
        return self


class ErrorBody(BaseModel):
    error: str
    message: str
    cloud_code: int | None = None


BUDGET_429: dict[int | str, dict[str, object]] = {
    429: {
        "model": ErrorBody,
        "description": "`call_budget_exceeded`: the eWeLink call budget cannot serve it within relay.caller_wait; "
        "retry after the `Retry-After` seconds (nothing was sent). Also `cloud_quota_exceeded`.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    }
}


class AuthUrl(BaseModel):
    auth_url: str


class ToggleResult(BaseModel):
    device_id: str
    outlet: int | None
    enterprise_number: str | None
    state: bool | None = Field(description="the state requested (null = flip)")
    state_after: bool | None = Field(
        description="the state the cloud accepted (error 0); GET /devices/{id}?fresh=true reads it back"
    )
    result: Literal["success"] = "success"


class CycleAccepted(BaseModel):
    cycle_id: str
    on_due_at: datetime


class CycleView(BaseModel):
    cycle_id: str
    device_id: str
    outlet: int | None
    enterprise_number: str | None
    state: str
    mode: str
    off_seconds: float
    on_due_at: datetime
    attempts: int
    last_error: str | None


class ChannelOut(BaseModel):
    outlet: int | None
    on: bool | None = Field(description="null when the relay did not report its state")


class DeviceOut(BaseModel):
    device_id: str
    name: str
    online: bool
    multi_channel: bool
    channels: list[ChannelOut]
    checked_at: datetime


class DeviceList(BaseModel):
    devices: list[DeviceOut]
    checked_at: datetime


class UnitOut(BaseModel):
    number: str
    name: str | None
    host: str | None
    ssh_port: int | None
    parameter_option_2: bool | None
    ewelink_device_id: str | None
    ewelink_outlet: int | None
    active: bool | None
    cycle_mode: str | None
    last_status: str | None
    last_checked_at: datetime | None
    failure_counter: int | None
    last_error_message: str | None
    disk_usage_percent: int | None
    sip_peers: int | None
    ewelink_action_done: bool | None
    line_stats: dict[str, Any] | None
    # the state as `pbxwatch status` shows it (pbxwatch.domain.unit_status)
    state: str | None = None  # online | offline | unknown | held | cycling | boot grace | paused
    reason: str | None = None  # host_key_mismatch, relay_offline, mass_outage, stale_check, …
    check_age_s: float | None = None
    incident_since: datetime | None = None


class UnitList(BaseModel):
    units: list[UnitOut]


class HistoryRow(BaseModel):
    id: int
    enterprise_number: str | None
    prev_status: str | None
    new_status: str | None
    change_time: datetime | None
    failure_counter: int | None
    error_message: str | None
    action_type: str | None
    action_result: str | None
    action_time: datetime | None
    user_initiator: str | None
    extra_info: dict[str, Any] | None


class HistoryPage(BaseModel):
    rows: list[HistoryRow]
    next_before_id: int | None = Field(description="pass as before_id for the next (older) page")


class LastCloudCall(BaseModel):
    at: datetime
    ok: bool
    error: str | None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "down"]
    token: Literal["valid", "expiring", "expired", "missing"]
    last_cloud_call: LastCloudCall | None
    overdue_on: int
    #: the monitor on this host by its heartbeat and pid: active, standby, stopped, dead, stale, none
    monitor: Literal["active", "standby", "stopped", "dead", "stale", "none"] = "none"
    problems: list[str]
