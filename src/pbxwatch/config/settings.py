"""The whole configuration as one model, and the settings sources `load` feeds it through."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from pbxwatch.config.keys import KEY_ENV, ConfigError
from pbxwatch.config.sections import (
    EwelinkSettings,
    MonitorSettings,
    NotifySettings,
    RelaySettings,
    SshSettings,
    UiSettings,
)

# Values read by `load_settings` and handed to the sources below (a context variable, not a global:
# `Settings.model_validate(...)` in tests never reads the environment or a file).
LOAD_VALUES: ContextVar[tuple[Mapping[str, Any], Mapping[str, Any]]] = ContextVar("load_values", default=({}, {}))


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
        env_data, file_data = LOAD_VALUES.get()
        return init_settings, _NestedSource(settings_cls, env_data), _NestedSource(settings_cls, file_data)

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
