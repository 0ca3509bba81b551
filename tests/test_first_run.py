"""A new operator's first steps: config paths, `db upgrade` messages, `--help`, the demo's closing hint."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from pbxwatch.config import load
from pbxwatch.demo.runner import _print_where, status_hint
from tests.cli_helpers import clean_env, pbxwatch


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    """A config directory and, beside it, the directory the operator happens to be in."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "elsewhere").mkdir()
    return tmp_path / "etc"


def test_relative_paths_in_the_file_are_beside_the_file(etc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = etc / "pbxwatch.toml"
    (etc / "secret.txt").write_text("app-secret-from-file\n")
    config.write_text(
        'log_dir = "logs"\n[ewelink]\ntoken_file = "state/tok.json"\napp_secret_file = "secret.txt"\n'
        '[ssh]\nknown_hosts = "known_hosts"\n'
    )
    monkeypatch.chdir(etc.parent / "elsewhere")
    loaded = load(Path("../etc/pbxwatch.toml"), environ={"PBXWATCH_RUN_DIR": "run-here"})
    s = loaded.settings
    assert loaded.config_file == etc / "pbxwatch.toml"
    assert s.log_dir == etc / "logs"
    assert s.ewelink.token_file == etc / "state" / "tok.json"
    assert s.ssh.known_hosts == etc / "known_hosts"
    assert s.ewelink.app_secret is not None and s.ewelink.app_secret.get_secret_value() == "app-secret-from-file"
    # from the environment: relative to where the command runs
    assert s.run_dir == etc.parent / "elsewhere" / "run-here"


def test_config_show_prints_absolute_paths_and_the_token_file_beside_the_config(etc: Path) -> None:
    (etc / "pbxwatch.toml").write_text('log_dir = "logs"\n')
    env = {"PBXWATCH_CONFIG": str(etc / "pbxwatch.toml")}
    shown = pbxwatch("config", "show", "--json", cwd=etc.parent / "elsewhere", env=env)
    assert shown.returncode == 0, shown.stderr
    settings = json.loads(shown.stdout)["settings"]
    assert settings["log_dir"]["value"] == str(etc / "logs")
    assert settings["run_dir"]["value"] == str(etc / "run")
    # the default token file: the one the services (started with this config) use, wherever the CLI runs
    assert settings["ewelink.token_file"]["value"] == str(etc / "ewelink_token.json")
    token = pbxwatch("ewelink", "token", "--json", cwd=etc.parent / "elsewhere", env=env)
    assert json.loads(token.stdout)["token_file"] == str(etc / "ewelink_token.json")


def test_db_upgrade_says_what_it_did(tmp_path: Path, pg_empty_url: str) -> None:
    env = {"PBXWATCH_DATABASE_URL": pg_empty_url}
    first = pbxwatch("db", "upgrade", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "created the schema" in first.stdout
    assert "up to date" not in first.stdout
    again = pbxwatch("db", "upgrade", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert "schema is up to date" in again.stdout
    assert "created" not in again.stdout


def test_help_is_clean_and_imports_no_command_module(tmp_path: Path) -> None:
    probe = (
        "import sys\nfrom pbxwatch.cli import main\nsys.argv = ['pbxwatch', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'fastapi', 'asyncssh', 'pydantic'})\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr
    assert "units" in done.stdout and "Manage units" in done.stdout
    for words in ([], ["units", "add"], ["status"], ["relay", "serve"], ["demo"]):
        shown = pbxwatch(*words, "--help", cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert "<bool>" not in shown.stdout
        assert not re.search(r"\w \.(\s|$)", shown.stdout), shown.stdout  # "of the PBX ." = a swallowed [default: …]
    assert "[default: 22]" in pbxwatch("units", "add", "--help", cwd=tmp_path).stdout


def test_the_demo_hint_works_as_printed_in_a_plain_shell(tmp_path: Path) -> None:
    config = tmp_path / "demo config.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "demo.db"}"\nrun_dir = "run"\n')
    assert pbxwatch("db", "upgrade", cwd=tmp_path, env={"PBXWATCH_CONFIG": str(config)}).returncode == 0
    screen = io.StringIO()
    _print_where(SimpleNamespace(workdir=tmp_path, config_file=config), Console(file=screen, width=60))
    printed = next(line for line in screen.getvalue().splitlines() if line.startswith("look around: "))
    assert printed.removeprefix("look around: ") == status_hint(config)  # one line, even on a narrow terminal
    shell = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "COLUMNS": "200"}
    done = subprocess.run(
        ["env", "-i", *(f"{k}={v}" for k, v in shell.items()), "bash", "-c", status_hint(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr  # it ran: Nagios CRITICAL, no monitor is running
    assert "monitor: no heartbeat" in done.stdout and "Traceback" not in done.stderr


def test_db_upgrade_says_it_adopted_the_seed_tables(tmp_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "seed.db") as seed:
        seed.execute("CREATE TABLE enterprises (number TEXT PRIMARY KEY, name TEXT)")
        seed.execute("INSERT INTO enterprises VALUES ('0100', 'Acme')")
    env = {"PBXWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'seed.db'}"}
    done = pbxwatch("db", "upgrade", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "adopted the existing tables enterprises; created " in done.stdout
