"""A unit: one client enterprise, its PBX and the relay that feeds it (`enterprises`, docs/design.md §2)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

CycleMode = Literal["cloud", "device_timer"]
CYCLE_MODES: tuple[CycleMode, ...] = ("cloud", "device_timer")

# The columns of `enterprises` pbxwatch manages, in display order.
UNIT_FIELDS = (
    "number",
    "name",
    "host",
    "ssh_port",
    "parameter_option_2",
    "ewelink_device_id",
    "ewelink_outlet",
    "active",
    "cycle_mode",
)
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_-]{1,63})*\.?$")
_DEVICE_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
_NUMBER = re.compile(r"^\S{1,64}$")
MAX_OUTLET = 63
# What a NULL in an adopted `enterprises` row (or an empty CSV cell) means for the non-nullable fields.
UNIT_DEFAULTS: dict[str, Any] = {"ssh_port": 22, "parameter_option_2": False, "active": True, "cycle_mode": "cloud"}


@dataclass(frozen=True)
class Unit:
    number: str
    name: str | None = None
    host: str | None = None
    ssh_port: int = 22
    parameter_option_2: bool = False
    ewelink_device_id: str | None = None
    ewelink_outlet: int | None = None
    active: bool = True
    cycle_mode: CycleMode = "cloud"

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Unit:
        """A unit from its `enterprises` row: NULLs take `UNIT_DEFAULTS`, an empty device id means no relay."""

        def stored(name: str) -> Any:
            return UNIT_DEFAULTS[name] if row[name] is None else row[name]

        return cls(
            number=row["number"],
            name=row["name"],
            host=row["host"],
            ssh_port=stored("ssh_port"),
            parameter_option_2=bool(stored("parameter_option_2")),
            ewelink_device_id=row["ewelink_device_id"] or None,
            ewelink_outlet=row["ewelink_outlet"],
            active=stored("active") is not False,
            cycle_mode="device_timer" if row["cycle_mode"] == "device_timer" else "cloud",
        )

    @property
    def has_relay(self) -> bool:
        return self.ewelink_device_id is not None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in UNIT_FIELDS}


class UnitValueError(ValueError):
    """A value that cannot go into `enterprises`; the message names the field."""


def check_number(value: str) -> str:
    if not _NUMBER.match(value):
        raise UnitValueError(f"number: {value!r} must be 1-64 characters without spaces")
    return value


def check_host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.match(value):
            raise UnitValueError(f"host: {value!r} is neither an IP address nor a DNS name") from None
    return value


def check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise UnitValueError(f"ssh_port: {value} is not a TCP port (1-65535)")
    return value


def check_device_id(value: str) -> str:
    if not _DEVICE_ID.match(value):
        raise UnitValueError(f"ewelink_device_id: {value!r} must be letters and digits (the eWeLink device id)")
    return value


def check_outlet(value: int) -> int:
    if not 0 <= value <= MAX_OUTLET:
        raise UnitValueError(f"ewelink_outlet: {value} must be 0-{MAX_OUTLET} (0 is the first channel)")
    return value


def check_cycle_mode(value: str) -> CycleMode:
    if value not in CYCLE_MODES:
        raise UnitValueError(f"cycle_mode: {value!r} must be one of {', '.join(CYCLE_MODES)}")
    return "device_timer" if value == "device_timer" else "cloud"


def validate_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Check every provided field; `None` clears a nullable field. Returns the changes unchanged."""
    checks: dict[str, Callable[[Any], Any]] = {
        "number": check_number,
        "host": check_host,
        "ssh_port": check_port,
        "ewelink_device_id": check_device_id,
        "ewelink_outlet": check_outlet,
        "cycle_mode": check_cycle_mode,
    }
    for key, value in changes.items():
        if key not in UNIT_FIELDS:
            raise UnitValueError(f"{key}: not a column of enterprises that pbxwatch manages")
        if value is not None and key in checks:
            checks[key](value)
    if changes.get("ssh_port", 0) is None:
        raise UnitValueError("ssh_port: cannot be empty")
    return changes
