"""The sections of the configuration file (`[ewelink]`, `[relay]`, `[ssh]`, `[monitor]`, `[ui]`, `[notify]`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from pbxwatch.config.keys import LOOPBACK_HOSTS, ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EwelinkSettings(_Section):
    app_id: str | None = None
    app_secret: SecretStr | None = None
    redirect_url: str | None = None
    region: Literal["cn", "as", "us", "eu"] = "eu"
    token_file: Path = Path("ewelink_token.json")
    api_url: str | None = None
    oauth_url: str | None = None

    @field_validator("api_url", "oauth_url", "redirect_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


MIN_API_TOKEN_CHARS = 16


class RelaySettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8010, ge=1, le=65535)
    api_token: SecretStr | None = None
    # how long one eWeLink call may take before the relay service gives up on its answer
    cloud_timeout: float = Field(default=10.0, gt=0, le=120)
    # a power-cycle is done once its relay was read back on and stayed on this long: longer than
    # `cloud_timeout`, so an "off" the cloud answered too late but still applied is caught
    verify_seconds: float = Field(default=30.0, gt=0, le=3600)
    # the longest an API caller waits for the eWeLink call budget before it gets 429 + Retry-After
    # (a power-cycle's "on" is never refused: it waits, ahead of everything else)
    caller_wait: float = Field(default=5.0, gt=0, le=60)

    @model_validator(mode="after")
    def _window_outlasts_timeout(self) -> RelaySettings:
        if self.verify_seconds <= self.cloud_timeout:
            raise ValueError(
                f"verify_seconds ({self.verify_seconds:g}) must be longer than cloud_timeout "
                f'({self.cloud_timeout:g}): a late "off" would go unseen'
            )
        return self

    @field_validator("api_token", mode="before")
    @classmethod
    def _strong_token(cls, value: Any) -> Any:
        """An empty value means "no token"; anything else must be guessable by nobody (never echoed)."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(text, str):
            return value
        if text == "":
            return None
        if sum(not c.isspace() for c in text) < MIN_API_TOKEN_CHARS:
            raise ValueError(
                f"must be at least {MIN_API_TOKEN_CHARS} non-blank characters (generate one: openssl rand -hex 24)"
            )
        return text.strip()


class SshSettings(_Section):
    username: str | None = Field(default=None, min_length=1)
    key_file: Path | None = None
    password: SecretStr | None = None
    known_hosts: Path | None = None
    accept_new_host_keys: bool = False
    connect_timeout: float = Field(default=5.0, gt=0, le=600)
    command_timeout: float = Field(default=10.0, gt=0, le=600)
    concurrency: int = Field(default=200, ge=1, le=10_000)
    asterisk_command: str = Field(default="asterisk", min_length=1)


class MonitorSettings(_Section):
    relay_url: str = "http://127.0.0.1:8010"
    poll_interval: float = Field(default=60.0, gt=0)
    retry_interval: float = Field(default=15.0, gt=0)
    failure_threshold: int = Field(default=3, ge=1, le=1000)
    boot_grace: float = Field(default=300.0, ge=0)
    off_seconds: float = Field(default=10.0, ge=1, le=300)
    relay_recheck_interval: float = Field(default=300.0, gt=0)
    mass_outage_percent: float = Field(default=30.0, gt=0, le=100)
    mass_outage_min_units: int = Field(default=5, ge=1)
    max_cycles_per_unit_per_day: int = Field(default=3, ge=0)
    max_auto_cycles_per_hour: int = Field(default=20, ge=0)
    dry_run: bool = False
    metrics: bool = True  # Prometheus /metrics of the monitor
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65535)  # 0: any free port (written to the heartbeat)
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"  # "asyncio": Python's own loop (uvloop's is faster)

    @field_validator("metrics_host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        if not value.startswith(LOOPBACK_HOSTS):
            raise ValueError("the monitor's /metrics has no authentication: bind it to a loopback address")
        return value

    # Maintenance windows, flap hold and the soft restart ladder (README "Smarter remediation").
    time_zone: str = Field(default="UTC", min_length=1)  # weekly maintenance windows are read in it
    flap_window: float = Field(default=21600.0, gt=0)  # seconds: the sliding window of the flap rule (6 h)
    flap_max_outages: int = Field(default=3, ge=0)  # confirmed outages in the window that hold a unit (0: off)
    flap_max_cycles: int = Field(default=2, ge=0)  # automatic power-cycles in the window that hold it (0: off)
    flap_failed_percent: float = Field(default=30.0, ge=0, le=100)  # failed share of the last checks (0: off)
    flap_sample: int = Field(default=20, ge=1, le=10_000)  # how many last checks the share looks at
    flap_stable_for: float = Field(default=3600.0, ge=0)  # seconds without a failed check that end a hold
    restart_command: str | None = Field(default=None, min_length=1)  # e.g. "sudo -n systemctl restart asterisk"
    restart_grace: float = Field(default=60.0, ge=0)  # seconds after a soft restart before the power rung

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Moscow)") from None
        return value

    @field_validator("restart_command")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and any(ch in value for ch in "\r\n\x00"):
            raise ValueError("must be one line")
        return value

    @field_validator("relay_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class UiSettings(_Section):
    """The web dashboard (served by the relay service under `/`)."""

    language: Literal["ru", "en"] = "ru"


NotifyLevel = Literal["info", "warning", "critical"]


def _url_list(value: Any) -> Any:
    """URLs from TOML (a list), an environment variable or a `*_FILE` (one per line, or comma-separated)."""
    if isinstance(value, str):
        return [u.strip() for line in value.splitlines() for u in line.split(",") if u.strip()]
    return value


class NotifyRoute(_Section):
    """Which events go to which URLs: an empty `events` / `units` list means all of them."""

    urls: list[str] = Field(default_factory=list)
    urls_file: Path | None = None  # one URL per line, for secrets kept out of the TOML
    events: list[str] = Field(default_factory=list)
    units: list[str] = Field(default_factory=list)
    min_level: NotifyLevel = "info"

    _split = field_validator("urls", mode="before")(_url_list)

    def all_urls(self) -> list[str]:
        if self.urls_file is None:
            return list(self.urls)
        try:
            return [*self.urls, *_url_list(self.urls_file.read_text(encoding="utf-8"))]
        except OSError as err:
            raise ConfigError(f"notify.routes urls_file {self.urls_file}: cannot read it: {err.strerror}") from err


class NotifySettings(_Section):
    urls: list[str] = Field(default_factory=list)  # every event at min_level or above goes to these
    min_level: NotifyLevel = "warning"
    routes: list[NotifyRoute] = Field(default_factory=list)
    language: Literal["ru", "en"] = "ru"
    reminder_interval: float = Field(default=3600.0, ge=0)  # repeats of a still-open incident; 0: never
    unit_max_per_hour: int = Field(default=6, ge=1)  # a flapping unit cannot flood the channels
    retry_attempts: int = Field(default=8, ge=1, le=100)
    retry_backoff: float = Field(default=5.0, gt=0)  # doubles per attempt, capped at 15 minutes
    send_timeout: float = Field(default=20.0, gt=0)
    poll_interval: float = Field(default=1.0, gt=0)

    _split = field_validator("urls", mode="before")(_url_list)
