"""What the demo sets up: the units, their relays, the short timings, and the roles in the story.

Pure data, so a reader sees the whole cast in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEMO_APP_ID = "demoappid0001"
DEMO_APP_SECRET = "demo-app-secret-not-a-real-one"  # noqa: S105 - the simulated cloud's made-up secret
MIN_HOSTS = 6
MAX_HOSTS = 200

# Timings short enough that the story plays in about two minutes, long enough to watch it happen.
DEMO_MONITOR = {
    "poll_interval": 5.0,
    "retry_interval": 2.0,
    "failure_threshold": 3,
    "boot_grace": 40.0,
    "off_seconds": 3.0,
    "relay_recheck_interval": 10.0,
    # the remediation ladder: restart Asterisk over SSH first, power-cycle only if it does not come back
    "restart_command": "sudo -n systemctl restart asterisk",
    "restart_grace": 10.0,
}
DEMO_SSH = {"connect_timeout": 2.0, "command_timeout": 3.0, "concurrency": 50}
BOOT_DELAY = 4.0


@dataclass(frozen=True)
class DemoUnit:
    number: str
    name: str
    host_name: str  # the simulated PBX (pbx01 ...)
    device_id: str | None
    auto_cycle: bool
    role: str  # what happens to it in the story
    # the relay is shared to the demo's eWeLink account by its owner (itemType 2), as the README recommends
    shared_relay: bool = False


ROLE_HANG = "hang"  # Asterisk hangs and its restart fails: detected, power-cycled, comes back
ROLE_RESTART = "restart"  # Asterisk dies: restarted over SSH, back without a power-cut
ROLE_DARK = "dark"  # the site loses power: relay offline too, left alone and reported
ROLE_MANUAL = "manual"  # parameter_option_2 off: outage only reported, never switched
ROLE_TOGGLE = "toggle"  # an operator switches its relay on by hand through POST /toggle
ROLE_CALM = "calm"

_NAMES = [
    "Acme Foods",
    "Dark Harbor Shipping",
    "Manual Works",
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark Freight",
    "Wayne Clinics",
    "Tyrell Farms",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
]


def demo_units(hosts: int) -> list[DemoUnit]:
    """Unit 1001 hangs, 1002 goes dark, 1003 has auto-reboot off, 1004's relay is toggled by hand, 1005's
    Asterisk dies and is restarted over SSH.

    1001's relay (and every fifth one) is shared to the demo account by its owner, the recommended setup:
    the hang story then proves that a shared relay is read fresh, power-cycled and recovered.

    The rest are healthy: every third one has no relay and every fourth has auto-reboot off, so the
    table shows the variety a real fleet has.
    """
    units = []
    width = max(3, len(str(hosts)))  # the fleet names its hosts pbx001, pbx002, ...
    for i in range(1, hosts + 1):
        role = {1: ROLE_HANG, 2: ROLE_DARK, 3: ROLE_MANUAL, 4: ROLE_TOGGLE, 5: ROLE_RESTART}.get(i, ROLE_CALM)
        has_relay = role != ROLE_CALM or i % 3 != 0
        auto = role in (ROLE_HANG, ROLE_DARK, ROLE_TOGGLE, ROLE_RESTART) or (role == ROLE_CALM and i % 4 != 0)
        units.append(
            DemoUnit(
                number=f"{1000 + i}",
                name=_NAMES[(i - 1) % len(_NAMES)],
                host_name=f"pbx{i:0{width}d}",
                device_id=f"10000{i:05d}" if has_relay else None,
                auto_cycle=auto,
                role=role,
                shared_relay=role == ROLE_HANG or (has_relay and i % 5 == 0),
            )
        )
    return units


def unit_of(units: list[DemoUnit], role: str) -> DemoUnit:
    return next(u for u in units if u.role == role)


def config_toml(
    workdir: Path,
    *,
    relay_port: int,
    cloud_url: str,
    oauth_url: str,
    ssh: dict[str, Any],
    level: str,
    notify_url: str | None = None,
) -> str:
    """The demo's pbxwatch.toml: SQLite and logs in `workdir`, the simulators wired in, short timings."""
    relay_url = f"http://127.0.0.1:{relay_port}"
    lines = [
        f'database_url = "sqlite:///{workdir / "pbxwatch.db"}"',
        f'log_dir = "{workdir / "logs"}"',
        f'run_dir = "{workdir / "run"}"',
        f'log_level = "{level}"',
        "",
        "[ewelink]",
        f'app_id = "{DEMO_APP_ID}"',
        f'app_secret = "{DEMO_APP_SECRET}"',
        f'redirect_url = "{relay_url}/ewelink-callback/"',
        'region = "eu"',
        f'token_file = "{workdir / "ewelink_token.json"}"',
        f'api_url = "{cloud_url}"',
        f'oauth_url = "{oauth_url}"',
        "",
        "[relay]",
        'host = "127.0.0.1"',
        f"port = {relay_port}",
        "",
        "[ssh]",
        *(f"{k} = {_toml(v)}" for k, v in {**DEMO_SSH, **ssh}.items()),
        "",
        "[monitor]",
        f'relay_url = "{relay_url}"',
        *(f"{k} = {_toml(v)}" for k, v in DEMO_MONITOR.items()),
        "metrics_port = 0",  # any free port: the heartbeat names it
    ]
    if notify_url:
        lines += ["", "[notify]", f"urls = [{_toml(notify_url)}]", 'min_level = "info"', "poll_interval = 0.5"]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
