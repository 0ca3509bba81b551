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

from pbxwatch.config.keys import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATHS,
    ENV_KEYS,
    KEY_ENV,
    LOOPBACK_HOSTS,
    MASKED_KEYS,
    REGIONS,
    SECRET_KEYS,
    SYSTEM_CONFIG_ENV,
    ConfigError,
)
from pbxwatch.config.loading import LoadedSettings, find_config_file, load, load_settings, mask_url
from pbxwatch.config.sections import (
    MIN_API_TOKEN_CHARS,
    EwelinkSettings,
    MonitorSettings,
    NotifyLevel,
    NotifyRoute,
    NotifySettings,
    RelaySettings,
    SshSettings,
    UiSettings,
)
from pbxwatch.config.settings import Settings

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATHS",
    "ENV_KEYS",
    "KEY_ENV",
    "LOOPBACK_HOSTS",
    "MASKED_KEYS",
    "MIN_API_TOKEN_CHARS",
    "REGIONS",
    "SECRET_KEYS",
    "SYSTEM_CONFIG_ENV",
    "ConfigError",
    "EwelinkSettings",
    "LoadedSettings",
    "MonitorSettings",
    "NotifyLevel",
    "NotifyRoute",
    "NotifySettings",
    "RelaySettings",
    "Settings",
    "SshSettings",
    "UiSettings",
    "find_config_file",
    "load",
    "load_settings",
    "mask_url",
]
