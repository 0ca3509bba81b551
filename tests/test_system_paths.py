"""No test reads or writes the machine's pbxwatch paths: the suite points the system config file away
(`PBXWATCH_SYSTEM_CONFIG`, kept by the subprocess helpers), gives each test its own HOME, and fails a test
that touches /etc/pbxwatch, /run/pbxwatch or /var/log/pbxwatch. The last test proves it with a real
/etc/pbxwatch/pbxwatch.toml, created in a private mount namespace (the real /etc is never written)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbxwatch.config import SYSTEM_CONFIG_ENV, load
from tests import conftest
from tests.cli_helpers import clean_env, pbxwatch


def test_every_test_gets_no_system_config_and_its_own_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_system_paths: Path
) -> None:
    assert os.environ[SYSTEM_CONFIG_ENV] == ""
    assert Path.home() == private_system_paths
    assert clean_env()[SYSTEM_CONFIG_ENV] == ""  # subprocesses inherit it
    monkeypatch.chdir(tmp_path)
    assert load().config_file is None


def test_the_system_config_path_is_injectable(tmp_path: Path) -> None:
    system = tmp_path / "system-pbxwatch.toml"
    system.write_text("[monitor]\npoll_interval = 42\n", encoding="utf-8")
    loaded = load(environ={SYSTEM_CONFIG_ENV: str(system)})
    assert (loaded.config_file, loaded.settings.monitor.poll_interval) == (system, 42)
    assert load(environ={SYSTEM_CONFIG_ENV: ""}).config_file is None


def test_the_guard_refuses_and_reports_a_system_path() -> None:
    with pytest.raises(PermissionError, match=r"system path /etc/pbxwatch/pbxwatch\.toml"):
        Path("/etc/pbxwatch/pbxwatch.toml").read_text(encoding="utf-8")
    with pytest.raises(PermissionError):
        os.mkdir("/run/pbxwatch")
    assert conftest.touched == ["open /etc/pbxwatch/pbxwatch.toml", "os.mkdir /run/pbxwatch"]
    conftest.touched.clear()  # seen: the autouse guard would fail this test otherwise


def _can_overlay_etc(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", _overlay(tmp_path / "probe")],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0


def _overlay(scratch: Path) -> str:
    """Shell lines that lay a private, writable layer over /etc (this mount namespace only)."""
    return (
        f"mkdir -p {scratch}/upper {scratch}/work && mount -t overlay overlay "
        f"-o lowerdir=/etc,upperdir={scratch}/upper,workdir={scratch}/work /etc"
    )


def test_a_tests_monitor_ignores_an_existing_etc_pbxwatch_toml(tmp_path: Path) -> None:
    if not _can_overlay_etc(tmp_path):
        pytest.skip("needs root and unshare to lay a private /etc in a mount namespace")
    operator = tmp_path / "operator"  # where the operator's file sends logs and run files
    work = tmp_path / "work"
    work.mkdir()
    system_toml = f'log_dir = "{operator}/log"\nrun_dir = "{operator}/run"\n'
    script = "; ".join(
        [
            _overlay(tmp_path / "etc-layer"),
            "mkdir -p /etc/pbxwatch",
            f"printf '%s' '{system_toml}' > /etc/pbxwatch/pbxwatch.toml",
            # the control: without the suite's guard this very file is found
            f"env -u {SYSTEM_CONFIG_ENV} {sys.executable} -m pbxwatch config show --json > {tmp_path}/control.json",
            f"exec {sys.executable} -m pbxwatch monitor",
        ]
    )
    env = clean_env({"PBXWATCH_SSH_USERNAME": "monitor", "PBXWATCH_POLL_INTERVAL": "1"})
    proc = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (work / "run" / "monitor.heartbeat").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "the monitor never wrote its heartbeat"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    control = json.loads((tmp_path / "control.json").read_text(encoding="utf-8"))
    assert control["config_file"] == "/etc/pbxwatch/pbxwatch.toml"  # the file was there to be read
    assert (work / "logs" / "reboot_service.log").is_file()  # the test's own dirs
    assert not operator.exists(), "the test's monitor followed /etc/pbxwatch/pbxwatch.toml"
    assert not Path("/etc/pbxwatch").exists()  # nothing left in the real /etc
    shown = pbxwatch("config", "show", "--json", cwd=work)
    assert json.loads(shown.stdout)["config_file"] is None
