"""Finding, reading and validating the configuration (the rules are in the `pbxwatch.config` docstring)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from pbxwatch.config.keys import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATHS,
    ENV_KEYS,
    MASKED_KEYS,
    SECRET_KEYS,
    SYSTEM_CONFIG_ENV,
    ConfigError,
)
from pbxwatch.config.settings import LOAD_VALUES, Settings


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
    token = LOAD_VALUES.set((_nest(env_flat), _nest(file_flat)))
    try:
        settings = Settings(**overrides)
    except ValidationError as err:
        raise ConfigError(_describe(err, sources)) from None
    finally:
        LOAD_VALUES.reset(token)
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
