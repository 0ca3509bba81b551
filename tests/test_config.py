"""Configuration: search order, exact environment names, *_FILE secrets, validation (docs/design.md §9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbxwatch.config import ENV_KEYS, ConfigError, Settings, load


@pytest.fixture(autouse=True)
def _no_stray_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`./pbxwatch.toml` is part of the search order: run every test where there is none."""
    monkeypatch.chdir(tmp_path)


def test_defaults_work_for_the_quick_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = load(environ={})
    s = loaded.settings
    assert loaded.config_file is None
    here = Path.cwd()
    assert (s.database_url, s.log_dir, s.run_dir, s.log_level) == (
        "sqlite:///pbxwatch.db",
        here / "logs",
        here / "run",
        "INFO",
    )
    assert (s.relay.host, s.relay.port, s.monitor.relay_url) == ("127.0.0.1", 8010, "http://127.0.0.1:8010")
    assert (s.ssh.connect_timeout, s.ssh.command_timeout, s.ssh.concurrency, s.ssh.asterisk_command) == (
        5,
        10,
        200,
        "asterisk",
    )
    m = s.monitor
    assert (m.poll_interval, m.retry_interval, m.failure_threshold, m.boot_grace, m.off_seconds) == (60, 15, 3, 300, 10)
    assert (m.relay_recheck_interval, m.mass_outage_percent, m.mass_outage_min_units) == (300, 30, 5)
    assert (m.max_cycles_per_unit_per_day, m.max_auto_cycles_per_hour, m.dry_run) == (3, 20, False)
    assert m.event_loop == "uvloop"
    assert (s.ewelink.region, s.ewelink.token_file) == ("eu", here / "ewelink_token.json")


def test_every_environment_name_of_the_spec_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    values = {
        "PBXWATCH_DATABASE_URL": "postgresql://db/pbx",
        "PBXWATCH_LOG_DIR": "/var/log/pbx",
        "PBXWATCH_LOG_LEVEL": "debug",
        "PBXWATCH_RUN_DIR": "/run/pbx",
        "PBXWATCH_EWELINK_APP_ID": "appid",
        "PBXWATCH_EWELINK_APP_SECRET": "secret",
        "PBXWATCH_EWELINK_REDIRECT_URL": "https://example.org/cb",
        "PBXWATCH_EWELINK_REGION": "us",
        "PBXWATCH_EWELINK_TOKEN_FILE": "/etc/pbx/tok.json",
        "PBXWATCH_EWELINK_API_URL": "http://127.0.0.1:9000",
        "PBXWATCH_EWELINK_OAUTH_URL": "http://127.0.0.1:9001/oauth",
        "PBXWATCH_RELAY_HOST": "127.0.0.2",
        "PBXWATCH_RELAY_PORT": "8011",
        "PBXWATCH_RELAY_API_TOKEN": "apitoken-0123456789",
        "PBXWATCH_RELAY_URL": "http://127.0.0.2:8011/",
        "PBXWATCH_SSH_USERNAME": "monitor",
        "PBXWATCH_SSH_KEY_FILE": "/k",
        "PBXWATCH_SSH_PASSWORD": "pw",
        "PBXWATCH_SSH_KNOWN_HOSTS": "/kh",
        "PBXWATCH_SSH_ACCEPT_NEW_HOST_KEYS": "true",
        "PBXWATCH_SSH_CONNECT_TIMEOUT": "2.5",
        "PBXWATCH_SSH_COMMAND_TIMEOUT": "7",
        "PBXWATCH_SSH_CONCURRENCY": "50",
        "PBXWATCH_ASTERISK_COMMAND": "sudo -n asterisk",
        "PBXWATCH_POLL_INTERVAL": "30",
        "PBXWATCH_RETRY_INTERVAL": "5",
        "PBXWATCH_FAILURE_THRESHOLD": "4",
        "PBXWATCH_BOOT_GRACE": "120",
        "PBXWATCH_OFF_SECONDS": "12",
        "PBXWATCH_RELAY_RECHECK_INTERVAL": "60",
        "PBXWATCH_MASS_OUTAGE_PERCENT": "40",
        "PBXWATCH_MASS_OUTAGE_MIN_UNITS": "8",
        "PBXWATCH_MAX_CYCLES_PER_UNIT_PER_DAY": "2",
        "PBXWATCH_MAX_AUTO_CYCLES_PER_HOUR": "10",
        "PBXWATCH_DRY_RUN": "yes",
        "PBXWATCH_UI_LANGUAGE": "en",
        "PBXWATCH_METRICS": "false",
        "PBXWATCH_METRICS_PORT": "9500",
        "PBXWATCH_EVENT_LOOP": "asyncio",
        "PBXWATCH_NOTIFY_URLS": "json://127.0.0.1:9/a, mailto://127.0.0.1:25?to=ops@example.com",
        "PBXWATCH_NOTIFY_LANGUAGE": "en",
        "PBXWATCH_NOTIFY_MIN_LEVEL": "critical",
        "PBXWATCH_RELAY_CLOUD_TIMEOUT": "4",
        "PBXWATCH_RELAY_VERIFY_SECONDS": "12",
    }
    assert set(values) == set(ENV_KEYS)
    loaded = load(environ=values)
    s = loaded.settings
    assert s.log_level == "DEBUG"
    assert s.ewelink.app_secret is not None and s.ewelink.app_secret.get_secret_value() == "secret"
    assert (s.relay.port, s.monitor.relay_url, s.ssh.asterisk_command) == (
        8011,
        "http://127.0.0.2:8011",
        "sudo -n asterisk",
    )
    assert (s.ssh.accept_new_host_keys, s.monitor.dry_run, s.ssh.connect_timeout) == (True, True, 2.5)
    assert s.ui.language == "en"
    assert (s.monitor.metrics, s.monitor.metrics_port, s.monitor.event_loop) == (False, 9500, "asyncio")
    assert s.notify.urls == ["json://127.0.0.1:9/a", "mailto://127.0.0.1:25?to=ops@example.com"]
    assert (s.notify.language, s.notify.min_level) == ("en", "critical")
    assert all(source.startswith("env PBXWATCH_") for source in loaded.sources.values())
    assert len(loaded.sources) == len(ENV_KEYS)


def test_search_order_and_environment_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pbxwatch.toml").write_text("[monitor]\npoll_interval = 11\nretry_interval = 3\n")
    other = tmp_path / "other.toml"
    other.write_text("[monitor]\npoll_interval = 22\n")
    assert load(environ={}).settings.monitor.poll_interval == 11
    assert load(environ={"PBXWATCH_CONFIG": str(other)}).settings.monitor.poll_interval == 22
    assert load(other, environ={"PBXWATCH_CONFIG": "/nope"}).settings.monitor.poll_interval == 22
    env_wins = load(environ={"PBXWATCH_POLL_INTERVAL": "33"})
    assert (env_wins.settings.monitor.poll_interval, env_wins.settings.monitor.retry_interval) == (33, 3)
    with pytest.raises(ConfigError, match=r"config file /nope \(PBXWATCH_CONFIG\) does not exist"):
        load(environ={"PBXWATCH_CONFIG": "/nope"})


def test_secret_files(tmp_path: Path) -> None:
    (tmp_path / "api").write_text("from-file-0123456789\n")
    conf = tmp_path / "c.toml"
    conf.write_text(f'[ssh]\npassword_file = "{tmp_path / "api"}"\n')
    s = load(conf, environ={"PBXWATCH_RELAY_API_TOKEN_FILE": str(tmp_path / "api")}).settings
    assert s.relay.api_token is not None and s.relay.api_token.get_secret_value() == "from-file-0123456789"
    assert s.ssh.password is not None and s.ssh.password.get_secret_value() == "from-file-0123456789"
    with pytest.raises(ConfigError, match="PBXWATCH_SSH_PASSWORD_FILE: cannot read secret file /missing"):
        load(conf, environ={"PBXWATCH_SSH_PASSWORD_FILE": "/missing"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PBXWATCH_OFF_SECONDS": "0.5"}, "monitor.off_seconds (env PBXWATCH_OFF_SECONDS): Input should be greater than or equal to 1"),
        ({"PBXWATCH_OFF_SECONDS": "301"}, "monitor.off_seconds (env PBXWATCH_OFF_SECONDS): Input should be less than or equal to 300"),
        ({"PBXWATCH_DATABASE_URL": "mysql://x"}, "database_url (env PBXWATCH_DATABASE_URL): Value error, must start with postgresql:// or sqlite:///"),
        ({"PBXWATCH_RELAY_URL": "127.0.0.1:8010"}, "monitor.relay_url (env PBXWATCH_RELAY_URL): Value error, must be an http:// or https:// URL"),
        ({"PBXWATCH_LOG_LEVEL": "loud"}, "log_level (env PBXWATCH_LOG_LEVEL): Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
    ],
)  # fmt: skip
def test_bad_values_name_the_setting_and_its_source(env: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(environ=env)
    assert str(err.value) == f"config error: {message}"


def test_requirements_are_checked_per_command() -> None:
    s = Settings.model_validate({})
    with pytest.raises(ConfigError) as err:
        s.require_ewelink_app()
    assert str(err.value).splitlines() == [
        "ewelink.app_id is required for this command (set PBXWATCH_EWELINK_APP_ID or the TOML key)",
        "ewelink.app_secret is required for this command (set PBXWATCH_EWELINK_APP_SECRET or the TOML key)",
        "ewelink.redirect_url is required for this command (set PBXWATCH_EWELINK_REDIRECT_URL or the TOML key)",
    ]
