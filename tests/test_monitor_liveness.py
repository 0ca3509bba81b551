"""`pbxwatch status` and the relay service's `/health` tell a running monitor from a dead one: a real
`pbxwatch monitor` killed with SIGKILL is not `active`, nor is a heartbeat whose pid now runs another
program; and the judgement itself, sentence by sentence."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pbxwatch.domain.liveness import judge
from tests.cli_helpers import clean_env, pbxwatch
from tests.relay_fixtures import RelayEnv, wait_for


def _monitor_env(relay: RelayEnv) -> dict[str, str]:
    return {**relay.env_vars(), "PBXWATCH_SSH_USERNAME": "monitor", "PBXWATCH_POLL_INTERVAL": "1"}


def _heartbeat(relay: RelayEnv) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((relay.tmp / "run" / "monitor.heartbeat").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data


def _status_line(relay: RelayEnv, tmp_path: Path, *, code: int | None = None) -> str:
    """What `pbxwatch status` says of the monitor (the end of its summary line); `code`: its exit code too."""
    result = pbxwatch("status", cwd=tmp_path, env=_monitor_env(relay))
    assert "Traceback" not in result.stderr, result.stderr
    assert code is None or result.returncode == code, (result.returncode, result.stdout)
    line = next(line for line in result.stdout.splitlines() if "monitor: " in line)
    return line[line.index("monitor: ") :]


def _health(relay: RelayEnv) -> dict[str, Any]:
    body: dict[str, Any] = relay.http.get(relay.url + "/health").json()
    return body


@pytest.fixture
def monitor(relay: RelayEnv, tmp_path: Path) -> Any:
    out = (tmp_path / "monitor.out").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pbxwatch", "monitor"],
        cwd=tmp_path,
        env=clean_env(_monitor_env(relay)),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    out.close()
    try:
        wait_for(
            lambda: _heartbeat(relay).get("pid") == proc.pid and _heartbeat(relay).get("role") == "active",
            "the monitor's active heartbeat",
            timeout=60,
        )
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


def test_a_monitor_killed_with_sigkill_is_shown_dead(relay: RelayEnv, monitor: Any, tmp_path: Path) -> None:
    assert _status_line(relay, tmp_path).startswith(f"monitor: active (pid {monitor.pid}, heartbeat ")
    assert _health(relay)["monitor"] == "active"
    monitor.send_signal(signal.SIGKILL)
    # not reaped yet: a zombie still has its pid, but is no monitor
    wait_for(lambda: _health(relay)["monitor"] == "dead", "health to see the zombie as dead")
    monitor.wait(30)
    line = _status_line(relay, tmp_path, code=2)  # Nagios CRITICAL: the monitor is not running
    assert line.startswith(f"monitor: NOT RUNNING: pid {monitor.pid} is gone"), line
    assert "active (pid" not in line
    health = _health(relay)
    assert (health["monitor"], health["status"]) == ("dead", "degraded")
    assert any(f"pid {monitor.pid} is gone" in p for p in health["problems"]), health["problems"]
    assert _heartbeat(relay)["role"] == "active"  # the file still claims it: the pid check is what tells


def test_a_heartbeat_whose_pid_runs_another_program_is_not_active(
    relay: RelayEnv, monitor: Any, tmp_path: Path
) -> None:
    monitor.send_signal(signal.SIGKILL)
    monitor.wait(30)
    beat_file = relay.tmp / "run" / "monitor.heartbeat"
    beat = _heartbeat(relay)
    with subprocess.Popen(["sleep", "300"]) as other:  # the pid, reused by some other program
        try:
            beat.update(pid=other.pid, at=datetime.now(UTC).isoformat())
            beat_file.write_text(json.dumps(beat), encoding="utf-8")
            line = _status_line(relay, tmp_path, code=2)
            assert line.startswith(f"monitor: NOT RUNNING: pid {other.pid} is now another program"), line
            assert _health(relay)["monitor"] == "dead"
        finally:
            other.kill()


def test_a_clean_stop_is_stopped_not_dead(relay: RelayEnv, monitor: Any, tmp_path: Path) -> None:
    monitor.send_signal(signal.SIGTERM)
    assert monitor.wait(30) == 0
    assert _status_line(relay, tmp_path).startswith("monitor: stopped (exited cleanly")
    health = _health(relay)
    assert (health["monitor"], health["status"]) == ("stopped", "ok")


# ---- the judgement --------------------------------------------------------------------------------

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MINE, OTHER, GONE = 100, 200, 300


def beat(role: str = "active", pid: Any = MINE, age: float = 5) -> dict[str, Any]:
    return {"pid": pid, "role": role, "at": (NOW - timedelta(seconds=age)).isoformat()}


JUDGED = [
    ("no heartbeat file is none", None, "none"),
    ("an active monitor with a fresh beat is active", beat(), "active"),
    ("a standby with an old beat is still standby (it beats on role changes)", beat("standby", age=3600), "standby"),
    ("a clean stop is stopped", beat("stopped", pid=GONE), "stopped"),
    ("a vanished pid is dead", beat(pid=GONE), "dead"),
    ("a pid running another program is dead", beat(pid=OTHER), "dead"),
    ("an active monitor silent for longer than allowed is stale", beat(age=61), "stale"),
    ("exactly the allowed silence is still active", beat(age=60), "active"),
    ("a heartbeat without a pid is dead", beat(pid=None), "dead"),
    ("a heartbeat without a time, active, is stale", {"pid": MINE, "role": "active"}, "stale"),
]


@pytest.mark.parametrize(("sentence", "heartbeat", "state"), JUDGED, ids=[j[0] for j in JUDGED])
def test_liveness(sentence: str, heartbeat: dict[str, Any] | None, state: str) -> None:
    seen = judge(
        heartbeat, NOW, alive=lambda pid: pid in (MINE, OTHER), is_monitor=lambda pid: pid == MINE, stale_after=60
    )
    assert seen.state == state, sentence
