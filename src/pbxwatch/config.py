"""Configuration (docs/design.md §9): one TOML file, overridden by environment variables.

Search order for the file: `--config`, else `PBXWATCH_CONFIG`, else `./pbxwatch.toml`, else
the system file `/etc/pbxwatch/pbxwatch.toml` (`PBXWATCH_SYSTEM_CONFIG` names another one, or none when
empty: the test suite uses it so that no test ever reads an operator's file); with none the defaults work.
Environment variables (exact names in `ENV_KEYS`) override the file. Secrets may also come from
`<NAME>_FILE` paths. Every value is validated at start; each problem is reported as one line naming the
setting and where it came from.
Requirements are checked per command (`Settings.require_*`), so `db upgrade` needs no eWeLink app.

Relative paths (`log_dir`, `run_dir`, `ewelink.token_file`, `ssh.key_file`, ...) are made absolute once, at
load: a value from the file, and a default when there is a file, is relative to the file's directory; a value
from the environment is relative to the working directory. So the services, the CLI and the seed's
one-liners agree on one token file and one run directory wherever they are started from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_PATHS = (Path("pbxwatch.toml"), Path("/etc/pbxwatch/pbxwatch.toml"))
CONFIG_ENV = "PBXWATCH_CONFIG"
SYSTEM_CONFIG_ENV = "PBXWATCH_SYSTEM_CONFIG"
REGIONS = ("cn", "as", "us", "eu")

# The exact environment names of docs/design.md §9 and the TOML key each one overrides.
ENV_KEYS: dict[str, str] = {
    "PBXWATCH_DATABASE_URL": "database_url",
    "PBXWATCH_LOG_DIR": "log_dir",
    "PBXWATCH_LOG_LEVEL": "log_level",
    "PBXWATCH_RUN_DIR": "run_dir",
    "PBXWATCH_EWELINK_APP_ID": "ewelink.app_id",
    "PBXWATCH_EWELINK_APP_SECRET": "ewelink.app_secret",
    "PBXWATCH_EWELINK_REDIRECT_URL": "ewelink.redirect_url",
    "PBXWATCH_EWELINK_REGION": "ewelink.region",
    "PBXWATCH_EWELINK_TOKEN_FILE": "ewelink.token_file",
    "PBXWATCH_EWELINK_API_URL": "ewelink.api_url",
    "PBXWATCH_EWELINK_OAUTH_URL": "ewelink.oauth_url",
    "PBXWATCH_RELAY_HOST": "relay.host",
    "PBXWATCH_RELAY_PORT": "relay.port",
    "PBXWATCH_RELAY_API_TOKEN": "relay.api_token",
    "PBXWATCH_RELAY_CLOUD_TIMEOUT": "relay.cloud_timeout",
    "PBXWATCH_RELAY_VERIFY_SECONDS": "relay.verify_seconds",
    "PBXWATCH_RELAY_URL": "monitor.relay_url",
    "PBXWATCH_SSH_USERNAME": "ssh.username",
    "PBXWATCH_SSH_KEY_FILE": "ssh.key_file",
    "PBXWATCH_SSH_PASSWORD": "ssh.password",
    "PBXWATCH_SSH_KNOWN_HOSTS": "ssh.known_hosts",
    "PBXWATCH_SSH_ACCEPT_NEW_HOST_KEYS": "ssh.accept_new_host_keys",
    "PBXWATCH_SSH_CONNECT_TIMEOUT": "ssh.connect_timeout",
    "PBXWATCH_SSH_COMMAND_TIMEOUT": "ssh.command_timeout",
    "PBXWATCH_SSH_CONCURRENCY": "ssh.concurrency",
    "PBXWATCH_ASTERISK_COMMAND": "ssh.asterisk_command",
    "PBXWATCH_POLL_INTERVAL": "monitor.poll_interval",
    "PBXWATCH_RETRY_INTERVAL": "monitor.retry_interval",
    "PBXWATCH_FAILURE_THRESHOLD": "monitor.failure_threshold",
    "PBXWATCH_BOOT_GRACE": "monitor.boot_grace",
    "PBXWATCH_OFF_SECONDS": "monitor.off_seconds",
    "PBXWATCH_RELAY_RECHECK_INTERVAL": "monitor.relay_recheck_interval",
    "PBXWATCH_MASS_OUTAGE_PERCENT": "monitor.mass_outage_percent",
    "PBXWATCH_MASS_OUTAGE_MIN_UNITS": "monitor.mass_outage_min_units",
    "PBXWATCH_MAX_CYCLES_PER_UNIT_PER_DAY": "monitor.max_cycles_per_unit_per_day",
    "PBXWATCH_MAX_AUTO_CYCLES_PER_HOUR": "monitor.max_auto_cycles_per_hour",
    "PBXWATCH_DRY_RUN": "monitor.dry_run",
    "PBXWATCH_UI_LANGUAGE": "ui.language",
    "PBXWATCH_METRICS": "monitor.metrics",
    "PBXWATCH_METRICS_PORT": "monitor.metrics_port",
    "PBXWATCH_NOTIFY_URLS": "notify.urls",
    "PBXWATCH_NOTIFY_LANGUAGE": "notify.language",
    "PBXWATCH_NOTIFY_MIN_LEVEL": "notify.min_level",
}
KEY_ENV = {key: env for env, key in ENV_KEYS.items()}
SECRET_KEYS = frozenset({"ewelink.app_secret", "relay.api_token", "ssh.password", "notify.urls"})
MASKED_KEYS = SECRET_KEYS | {"notify.routes"}  # apprise URLs carry bot tokens and passwords
LOOPBACK_HOSTS = ("127.", "::1", "localhost")


class ConfigError(Exception):
    """Bad configuration. `str(err)` is one line per problem, each naming the setting."""


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
            raise ValueError(f"verify_seconds ({self.verify_seconds:g}) must be longer than cloud_timeout "
                             f"({self.cloud_timeout:g}): a late \"off\" would go unseen")
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
            raise ValueError(f"must be at least {MIN_API_TOKEN_CHARS} non-blank characters "
                             "(generate one: openssl rand -hex 24)")
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


# Values read by `load_settings` and handed to the sources below (a context variable, not a global:
# `Settings.model_validate(...)` in tests never reads the environment or a file).
_LOAD: ContextVar[tuple[Mapping[str, Any], Mapping[str, Any]]] = ContextVar("_LOAD", default=({}, {}))


class _NestedSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], data: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class Settings(BaseSettings):
    """The whole configuration. Build with `load_settings()`, or `Settings.model_validate({...})` in tests."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    database_url: str = "sqlite:///pbxwatch.db"
    log_dir: Path = Path("logs")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    run_dir: Path = Path("run")
    ewelink: EwelinkSettings = EwelinkSettings()
    relay: RelaySettings = RelaySettings()
    ssh: SshSettings = SshSettings()
    monitor: MonitorSettings = MonitorSettings()
    ui: UiSettings = UiSettings()
    notify: NotifySettings = NotifySettings()

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://", "sqlite://")):
            raise ValueError("must start with postgresql:// or sqlite:///")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env_data, file_data = _LOAD.get()
        return init_settings, _NestedSource(settings_cls, env_data), _NestedSource(settings_cls, file_data)

    # ---- per-command requirements ----------------------------------------------------------

    def require_ewelink_app(self) -> None:
        """The eWeLink developer app is needed to build auth URLs, exchange codes and call the cloud."""
        missing = [k for k in ("app_id", "app_secret", "redirect_url") if getattr(self.ewelink, k) is None]
        if missing:
            raise ConfigError(
                "\n".join(
                    f"ewelink.{k} is required for this command (set {KEY_ENV['ewelink.' + k]} or the TOML key)"
                    for k in missing
                )
            )

    def require_ssh_credentials(self) -> None:
        if self.ssh.username is None:
            raise ConfigError("ssh.username is required to probe hosts (set PBXWATCH_SSH_USERNAME)")


@dataclass
class LoadedSettings:
    """Settings plus where each value came from (for `pbxwatch config show`)."""

    settings: Settings
    config_file: Path | None
    sources: dict[str, str] = field(default_factory=dict)

    def flat_items(self) -> Iterator[tuple[str, Any, str]]:
        """(dotted key, display value with secrets masked, source) for every setting."""
        for key, value in _flatten(self.settings.model_dump()).items():
            shown = "" if value is None else str(value)
            if key in MASKED_KEYS and value:
                shown = "********"
            if key == "database_url":
                shown = mask_url(shown)
            yield key, shown, self.sources.get(key, "default")


def mask_url(url: str) -> str:
    """Hide the password of a database URL: `postgresql://u:***@host/db`."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user, colon, _ = creds.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{dotted}."))
        elif isinstance(value, SecretStr):
            out[dotted] = value.get_secret_value()
        else:
            out[dotted] = value
    return out


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def find_config_file(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} (--config) does not exist")
        return explicit
    if environ.get(CONFIG_ENV):
        path = Path(environ[CONFIG_ENV])
        if not path.is_file():
            raise ConfigError(f"config file {path} ({CONFIG_ENV}) does not exist")
        return path
    return next((p for p in _search_paths(environ) if p.is_file()), None)


def _search_paths(environ: Mapping[str, str]) -> tuple[Path, ...]:
    """`./pbxwatch.toml`, then the system file (`PBXWATCH_SYSTEM_CONFIG` replaces it; empty = none)."""
    local, system = DEFAULT_CONFIG_PATHS
    if SYSTEM_CONFIG_ENV in environ:
        return (local, Path(environ[SYSTEM_CONFIG_ENV])) if environ[SYSTEM_CONFIG_ENV] else (local,)
    return (local, system)


def _read_secret_file(path_text: str, origin: str) -> str:
    try:
        return Path(path_text).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"{origin}: cannot read secret file {path_text}: {err.strerror}") from err


def _file_values(path: Path | None) -> tuple[dict[str, Any], dict[str, str]]:
    if path is None:
        return {}, {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {path}: cannot read it: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path}: invalid TOML: {err}") from err
    flat = _flatten(data)
    for key in [k for k in flat if k.endswith("_file") and k[: -len("_file")] in SECRET_KEYS]:
        secret_path = path.parent / str(flat.pop(key))
        flat[key[: -len("_file")]] = _read_secret_file(str(secret_path), f"{key} in {path}")
    return flat, dict.fromkeys(flat, f"file {path}")


def _env_values(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    flat: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for env, key in ENV_KEYS.items():
        if key in SECRET_KEYS and environ.get(f"{env}_FILE"):
            flat[key] = _read_secret_file(environ[f"{env}_FILE"], f"{env}_FILE")
            sources[key] = f"env {env}_FILE"
        if env in environ:
            flat[key] = environ[env]
            sources[key] = f"env {env}"
    return flat, sources


def _describe(err: ValidationError, sources: Mapping[str, str]) -> str:
    lines = []
    for problem in err.errors():
        key = ".".join(str(p) for p in problem["loc"])
        origin = sources.get(key, "default")
        where = f" ({origin})" if origin != "default" else ""
        if problem["type"] == "extra_forbidden":
            lines.append(f"config error: unknown setting {key}{where}")
        else:
            lines.append(f"config error: {key}{where}: {problem['msg']}")
    return "\n".join(lines)


def load(
    config_file: Path | None = None, *, environ: Mapping[str, str] | None = None, **overrides: Any
) -> LoadedSettings:
    """Find, read and validate the configuration; raise `ConfigError` with one line per problem."""
    env = os.environ if environ is None else environ
    path = find_config_file(config_file, env)
    file_flat, file_sources = _file_values(path)
    env_flat, env_sources = _env_values(env)
    sources = {**file_sources, **env_sources, **dict.fromkeys(_flatten(overrides), "override")}
    token = _LOAD.set((_nest(env_flat), _nest(file_flat)))
    try:
        settings = Settings(**overrides)
    except ValidationError as err:
        raise ConfigError(_describe(err, sources)) from None
    finally:
        _LOAD.reset(token)
    found = None if path is None else path.resolve()
    settings = _absolute_paths(settings, "", found.parent if found else Path.cwd(), sources)
    return LoadedSettings(settings=settings, config_file=found, sources=sources)


ModelT = TypeVar("ModelT", bound=BaseModel)


def _absolute_paths(model: ModelT, prefix: str, file_dir: Path, sources: Mapping[str, str]) -> ModelT:
    """Every relative `Path` setting made absolute (see the module docstring for which base)."""
    update: dict[str, Any] = {}
    for name, value in model:
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            update[name] = _absolute_paths(value, f"{key}.", file_dir, sources)
        elif isinstance(value, Path) and not value.is_absolute():
            from_here = sources.get(key, "default").startswith(("env ", "override"))
            update[name] = ((Path.cwd() if from_here else file_dir) / value.expanduser()).resolve()
    return model.model_copy(update=update)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """The validated `Settings` (see `load`)."""
    return load(config_file, **overrides).settings
