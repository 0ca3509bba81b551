"""`reboot.sh`, `ewelink.sh`, `all.sh` (docs/design.md §8) from a fresh shell: the seed's restart line, status codes 0 / 1 / 3."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEED_RESTART = "./all.sh restart && ./reboot.sh restart && ./ewelink.sh restart"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def shell_env(pg_url: str, tmp_path: Path) -> dict[str, str]:
    """A fresh shell's environment (`env -i`) plus the settings an operator would export."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PBXWATCH_DATABASE_URL": pg_url,
        "PBXWATCH_RUN_DIR": str(tmp_path / "run"),
        "PBXWATCH_LOG_DIR": str(tmp_path / "logs"),
        "PBXWATCH_RELAY_PORT": str(port := _free_port()),
        "PBXWATCH_RELAY_URL": f"http://127.0.0.1:{port}",
        "PBXWATCH_EWELINK_TOKEN_FILE": str(tmp_path / "ewelink_token.json"),
        "PBXWATCH_SSH_USERNAME": "pbxwatch",
        "PBXWATCH_START_TIMEOUT": "60",
    }


def sh(command: str, env: dict[str, str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["env", "-i", *(f"{k}={v}" for k, v in env.items()), "bash", "-c", command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_seed_restart_line_works_from_a_fresh_shell(shell_env: dict[str, str], tmp_path: Path) -> None:
    try:
        done = sh(SEED_RESTART, shell_env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "reboot: started" in done.stdout and "ewelink: started" in done.stdout
        status = sh("./all.sh status", shell_env)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "reboot: running" in status.stdout and "ewelink: running" in status.stdout
        assert (tmp_path / "logs" / "reboot_service.log").read_text(encoding="utf-8").count("monitor starting") == 2
        # from another directory, by path
        elsewhere = sh(f"{REPO}/reboot.sh status", shell_env, cwd=tmp_path)
        assert elsewhere.returncode == 0, elsewhere.stdout
    finally:
        stopped = sh("./all.sh stop", shell_env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert sh("./reboot.sh status", shell_env).returncode == 3
    assert sh("./all.sh status", shell_env).returncode == 3


def test_status_says_stale_for_a_pid_file_without_a_process(shell_env: dict[str, str], tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (run_dir / "reboot.pid").write_text(f"{dead.pid}\n")
    status = sh("./reboot.sh status", shell_env)
    assert status.returncode == 1
    assert "stale pid file" in status.stdout
    assert sh("./all.sh status", shell_env).returncode == 1
    assert sh("./reboot.sh stop", shell_env).returncode == 0
    assert not (run_dir / "reboot.pid").exists()


def test_a_monitor_that_cannot_start_is_reported_and_leaves_no_pid_file(
    shell_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**shell_env, "PBXWATCH_POLL_INTERVAL": "-1"}
    done = sh("./reboot.sh start", env)
    assert done.returncode == 1
    assert "reboot: failed to start" in done.stderr
    assert "monitor.poll_interval" in done.stderr
    assert not (tmp_path / "run" / "reboot.pid").exists()


def test_usage_for_an_unknown_action(shell_env: dict[str, str]) -> None:
    done = sh("./reboot.sh frobnicate", shell_env)
    assert done.returncode == 2
    assert "usage: reboot.sh start|stop|restart|status" in done.stderr


def test_pbxwatch_bin_is_honoured(shell_env: dict[str, str], tmp_path: Path) -> None:
    fake = tmp_path / "fake-pbxwatch"
    fake.write_text('#!/bin/sh\necho fake pbxwatch "$@" >&2\nexit 7\n')
    fake.chmod(0o755)
    done = sh("./reboot.sh start", {**shell_env, "PBXWATCH_BIN": str(fake)})
    assert done.returncode == 1
    assert "fake pbxwatch monitor" in done.stderr


def test_a_configured_run_dir_is_where_status_finds_the_running_monitor(
    shell_env: dict[str, str], tmp_path: Path
) -> None:
    """No PBXWATCH_RUN_DIR: the scripts use the config file's run_dir (relative to the file), as the monitor does."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "pbxwatch.toml").write_text('run_dir = "state/run"\n')
    env = {k: v for k, v in shell_env.items() if k != "PBXWATCH_RUN_DIR"}
    env["PBXWATCH_CONFIG"] = str(etc / "pbxwatch.toml")
    try:
        started = sh("./reboot.sh start", env)
        assert started.returncode == 0, started.stdout + started.stderr
        assert (etc / "state" / "run" / "reboot.pid").is_file()
        status = sh(f"{REPO}/.venv/bin/pbxwatch status", env, cwd=tmp_path)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "no heartbeat" not in status.stdout
        assert "monitor: active (pid" in status.stdout
        assert sh("./reboot.sh status", env).returncode == 0
    finally:
        assert sh("./reboot.sh stop", env).returncode == 0
