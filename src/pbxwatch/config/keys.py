"""The names of the settings: the environment variables of docs/design.md §9, which keys are secret, and
where the configuration file is looked for."""

from __future__ import annotations

from pathlib import Path

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
    "PBXWATCH_EVENT_LOOP": "monitor.event_loop",
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
