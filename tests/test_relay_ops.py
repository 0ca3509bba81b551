"""Operations: `pbxwatch relay …` commands as clients of the service, `ewelink.sh`, the bind rule."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import pbxwatch
from tests.relay_fixtures import RelayEnv, wait_for

REPO = Path(__file__).resolve().parents[1]


def cli_env(relay: RelayEnv, **more: str) -> dict[str, str]:
    return {"PBXWATCH_RELAY_URL": relay.url, "PBXWATCH_RELAY_API_TOKEN": relay.api_token or "", **more}


def test_relay_off_on_and_devices_go_through_the_service(relay: RelayEnv, tmp_path: Path) -> None:
    off = pbxwatch("relay", "off", "1000aaaa01", cwd=tmp_path, env=cli_env(relay))
    assert off.returncode == 0, off.stderr
    assert "now off" in off.stdout
    assert relay.sim.device("1000aaaa01").states == [False]
    on = pbxwatch("relay", "on", "1000bbbb02", "--outlet", "0", cwd=tmp_path, env=cli_env(relay))
    assert on.returncode == 0, on.stderr
    rows = relay.audit_rows()
    assert [(r["action_type"], r["user_initiator"]) for r in rows] == [
        ("ewelink_toggle_off", "user"),
        ("ewelink_toggle_on", "user"),
    ]
    listed = pbxwatch("relay", "devices", "--json", cwd=tmp_path, env=cli_env(relay))
    assert listed.returncode == 0, listed.stderr
    devices = {d["device_id"]: d for d in json.loads(listed.stdout)}
    assert devices["1000cccc03"]["online"] is False
    table = pbxwatch("relay", "devices", cwd=tmp_path, env=cli_env(relay))
    assert "1000bbbb02" in table.stdout and "0:on, 1:on" in table.stdout


def test_relay_cycle_by_unit(relay: RelayEnv, tmp_path: Path) -> None:
    done = pbxwatch("relay", "cycle", "--unit", "101", "--off-seconds", "1", cwd=tmp_path, env=cli_env(relay))
    assert done.returncode == 0, done.stderr
    assert "accepted" in done.stdout
    wait_for(lambda: relay.sql("SELECT 1 FROM pbxwatch_power_cycles WHERE state = 'done'"), "the cycle to end")
    assert relay.audit_rows("ewelink_power_cycle")[0]["user_initiator"] == "user"


def test_relay_commands_print_one_line_errors(relay: RelayEnv, tmp_path: Path) -> None:
    wrong = pbxwatch(
        "relay",
        "off",
        "1000aaaa01",
        cwd=tmp_path,
        env=cli_env(relay, PBXWATCH_RELAY_API_TOKEN="a-wrong-api-token-0123456789"),
    )
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines() == [
        "error: relay service: missing or wrong API token (send Authorization: Bearer <token>) (unauthorized)"
    ]
    offline = pbxwatch("relay", "off", "1000cccc03", cwd=tmp_path, env=cli_env(relay))
    assert offline.returncode == 1 and "offline" in offline.stderr and "Traceback" not in offline.stderr
    gone = pbxwatch(
        "relay",
        "devices",
        cwd=tmp_path,
        env={"PBXWATCH_RELAY_URL": f"http://127.0.0.1:{relay.port + 1 if relay.port < 65535 else 1}"},
    )
    assert gone.returncode == 1 and "unreachable" in gone.stderr and "Traceback" not in gone.stderr
    neither = pbxwatch("relay", "cycle", cwd=tmp_path, env=cli_env(relay))
    assert neither.returncode == 1 and "--unit" in neither.stderr


def test_serve_refuses_a_non_loopback_address_without_an_api_token(tmp_path: Path) -> None:
    refused = pbxwatch("relay", "serve", "--host", "0.0.0.0", cwd=tmp_path)
    assert refused.returncode == 1
    assert "refusing to listen on 0.0.0.0 without an API token" in refused.stderr
    assert "Traceback" not in refused.stderr


# ---- ewelink.sh ----------------------------------------------------------------------------------------


def fresh_shell(relay: RelayEnv, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ewelink.sh the way an operator does after logging in: a clean environment, another directory."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(cwd),
        "LANG": "C.UTF-8",
        "PBXWATCH_START_TIMEOUT": "30",
        **relay.env_vars(),
    }
    return subprocess.run(
        [str(REPO / "ewelink.sh"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=90, check=False
    )


@pytest.mark.slow
def test_ewelink_sh_start_status_restart_stop(relay_env: RelayEnv, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pid_file = Path(relay_env.env_vars()["PBXWATCH_RUN_DIR"]) / "ewelink.pid"
    try:
        assert fresh_shell(relay_env, "status", cwd=elsewhere).returncode == 3
        started = fresh_shell(relay_env, "start", cwd=elsewhere)
        assert started.returncode == 0, started.stdout + started.stderr
        assert relay_env.http.get(relay_env.url + "/health").status_code == 200  # answered when start returned
        first_pid = pid_file.read_text().strip()
        assert fresh_shell(relay_env, "status", cwd=elsewhere).returncode == 0
        restarted = fresh_shell(relay_env, "restart", cwd=elsewhere)
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        assert pid_file.read_text().strip() != first_pid
        assert relay_env.http.get(relay_env.url + "/health").status_code == 200
        assert fresh_shell(relay_env, "stop", cwd=elsewhere).returncode == 0
        assert fresh_shell(relay_env, "status", cwd=elsewhere).returncode == 3
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{_dead_pid()}\n")
        stale = fresh_shell(relay_env, "status", cwd=elsewhere)
        assert stale.returncode == 1 and "stale" in stale.stdout
    finally:
        fresh_shell(relay_env, "stop", cwd=elsewhere)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_ewelink_sh_usage(tmp_path: Path) -> None:
    usage = subprocess.run(
        [str(REPO / "ewelink.sh")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"], "PBXWATCH_RUN_DIR": str(tmp_path / "run")},
    )
    assert usage.returncode == 2 and "start|stop|restart|status" in usage.stderr
