"""Power-cycles (SPEC §5): durable intent, 202, idempotency, 409, cancel by toggle, device timer, reconciler."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.cli_helpers import clean_env
from tests.relay_fixtures import RelayEnv, wait_for


def cycle(relay: RelayEnv, **body: object) -> dict[str, str]:
    reply = relay.post("/power-cycle", json=body)
    assert reply.status_code == 202, reply.text
    data: dict[str, str] = reply.json()
    assert set(data) == {"cycle_id", "on_due_at"}
    return data


def done(relay: RelayEnv, cycle_id: str) -> None:
    wait_for(lambda: relay.cycle_state(cycle_id) == "done", f"cycle {cycle_id} to finish")


def switch_calls(relay: RelayEnv) -> list[bytes]:
    return [r.body for r in relay.sim.requests("/v2/device/thing/status") if r.method == "POST"]


def test_power_cycle_switches_off_then_on_and_audits_three_rows(relay: RelayEnv) -> None:
    ticket = cycle(relay, enterprise_number="101", initiator="auto", idempotency_key="outage-101-1")
    done(relay, ticket["cycle_id"])
    assert relay.sim.device("1000aaaa01").states == [True]
    calls = switch_calls(relay)
    assert len(calls) == 2 and b'"off"' in calls[0] and b'"on"' in calls[1]
    rows = relay.audit_rows()
    assert [r["action_type"] for r in rows] == ["ewelink_power_cycle", "ewelink_toggle_off", "ewelink_toggle_on"]
    for row in rows:
        assert row["enterprise_number"] == "101"
        assert row["user_initiator"] == "auto"
        assert row["action_result"] == "success"
        assert row["extra_info"]["cycle_id"] == ticket["cycle_id"]
        assert row["extra_info"]["device_id"] == "1000aaaa01"
    assert rows[2]["extra_info"]["state_after"] is True
    intent = relay.sql("SELECT state, off_at, on_at FROM pbxwatch_power_cycles")[0]
    assert intent["state"] == "done" and intent["off_at"] is not None and intent["on_at"] is not None


def test_same_idempotency_key_returns_the_same_cycle(relay: RelayEnv) -> None:
    first = cycle(relay, device_id="1000aaaa01", idempotency_key="k-1")
    again = cycle(relay, device_id="1000aaaa01", idempotency_key="k-1")
    assert again["cycle_id"] == first["cycle_id"]
    done(relay, first["cycle_id"])
    assert cycle(relay, device_id="1000aaaa01", idempotency_key="k-1")["cycle_id"] == first["cycle_id"]
    assert len(relay.audit_rows("ewelink_power_cycle")) == 1


def test_a_relay_already_cycling_gets_409(relay: RelayEnv) -> None:
    relay.clock.hold()
    ticket = cycle(relay, enterprise_number="101")
    wait_for(lambda: relay.cycle_state(ticket["cycle_id"]) == "off", "the relay to be off")
    assert relay.sim.device("1000aaaa01").states == [False]
    second = relay.post("/power-cycle", json={"device_id": "1000aaaa01", "idempotency_key": "other"})
    assert second.status_code == 409
    assert second.json()["error"] == "cycle_running"
    refused = [r for r in relay.audit_rows("ewelink_power_cycle") if r["action_result"] == "fail"]
    assert len(refused) == 1 and refused[0]["extra_info"]["reason"] == "cycle_running"
    # another relay is not blocked by it
    other = cycle(relay, device_id="1000dddd04")
    relay.clock.release()
    done(relay, ticket["cycle_id"])
    done(relay, other["cycle_id"])


def test_a_toggle_cancels_the_pending_cycle(relay: RelayEnv) -> None:
    relay.clock.hold()
    ticket = cycle(relay, enterprise_number="101")
    wait_for(lambda: relay.cycle_state(ticket["cycle_id"]) == "off", "the relay to be off")
    assert relay.post("/toggle", json={"device_id": "1000aaaa01", "state": True}).status_code == 200
    assert relay.cycle_state(ticket["cycle_id"]) == "cancelled"
    relay.clock.release()
    relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False})  # the operator's own choice
    assert relay.cycle_state(ticket["cycle_id"]) == "cancelled"
    assert relay.sim.device("1000aaaa01").states == [False]  # the cancelled cycle did not switch it back on
    on_rows = [r for r in relay.audit_rows("ewelink_toggle_on") if "cycle_id" in r["extra_info"]]
    assert on_rows == []


def test_power_cycle_of_one_outlet_keeps_the_other(relay: RelayEnv) -> None:
    ticket = cycle(relay, enterprise_number="102", off_seconds=1)
    done(relay, ticket["cycle_id"])
    assert relay.sim.device("1000bbbb02").states == [True, True]
    off_body = switch_calls(relay)[0]
    assert b'"outlet":0' in off_body.replace(b" ", b"") and b'"outlet":1' in off_body.replace(b" ", b"")


def test_device_timer_mode_arms_the_countdown_before_switching_off(relay: RelayEnv) -> None:
    relay.add_unit("104", "1000dddd04", cycle_mode="device_timer")
    ticket = cycle(relay, enterprise_number="104")
    done(relay, ticket["cycle_id"])
    calls = switch_calls(relay)
    assert b"timers" in calls[0] and b'"off"' in calls[1]
    assert relay.sim.device("1000dddd04").timers, "the device keeps its countdown timer"
    assert relay.sql("SELECT mode FROM pbxwatch_power_cycles")[0]["mode"] == "device_timer"


def test_a_failed_on_is_retried_until_on_and_health_is_degraded_meanwhile(
    relay: RelayEnv, caplog: pytest.LogCaptureFixture
) -> None:
    from pbxwatch.sim.cloud_state import Fault

    relay.clock.hold()
    ticket = cycle(relay, enterprise_number="101")
    wait_for(lambda: relay.cycle_state(ticket["cycle_id"]) == "off", "the relay to be off")
    relay.sim.inject(Fault("http_500", path="/v2/device/thing/status", count=10_000))
    relay.clock.release()
    health = wait_for(lambda: (h := relay.http.get(relay.url + "/health").json())["overdue_on"] and h,
                      "health to report the overdue relay")
    assert health["status"] == "degraded"
    assert "pbxwatch_relay_overdue_on 1.0" in relay.get("/metrics").text
    wait_for(lambda: len([r for r in relay.audit_rows("ewelink_toggle_on") if r["action_result"] == "fail"]) >= 2,
             "at least two audited failed attempts")
    assert relay.sim.device("1000aaaa01").states == [False]
    relay.sim.state.faults.clear()
    done(relay, ticket["cycle_id"])
    assert relay.sim.device("1000aaaa01").states == [True]
    assert relay.http.get(relay.url + "/health").json()["status"] == "ok"
    assert "OVERDUE: relay 1000aaaa01" in caplog.text
    succeeded = [r for r in relay.audit_rows("ewelink_toggle_on") if r["action_result"] == "success"]
    assert len(succeeded) == 1 and succeeded[0]["extra_info"]["cycle_id"] == ticket["cycle_id"]


# ---- the real `pbxwatch relay serve` process: crash and shutdown --------------------------------------


class ServiceProcess:
    def __init__(self, relay: RelayEnv) -> None:
        self.relay = relay
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = clean_env(self.relay.env_vars())
        self.proc = subprocess.Popen([sys.executable, "-m", "pbxwatch", "relay", "serve"], cwd=self.relay.tmp,
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def answers() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "relay serve exited"
            try:
                return self.relay.http.get(self.relay.url + "/health").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answers, "relay serve to answer /health")

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def service_process(relay_env: RelayEnv) -> Iterator[ServiceProcess]:
    relay_env.add_unit("101", "1000aaaa01", last_status="offline")
    process = ServiceProcess(relay_env)
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.slow
def test_sigkill_between_off_and_on_then_restart_turns_the_relay_on(
    relay_env: RelayEnv, service_process: ServiceProcess
) -> None:
    service_process.start()
    relay_env.authorize()
    ticket = cycle(relay_env, enterprise_number="101", off_seconds=3, initiator="auto")
    wait_for(lambda: relay_env.cycle_state(ticket["cycle_id"]) == "off", "the relay to be off")
    service_process.signal(signal.SIGKILL)
    assert relay_env.sim.device("1000aaaa01").states == [False]
    service_process.start()
    done(relay_env, ticket["cycle_id"])
    assert relay_env.sim.device("1000aaaa01").states == [True]
    [on_row] = [r for r in relay_env.audit_rows("ewelink_toggle_on") if r["action_result"] == "success"]
    assert on_row["extra_info"]["cycle_id"] == ticket["cycle_id"]
    assert on_row["user_initiator"] == "auto" and on_row["enterprise_number"] == "101"
    assert (on_row["prev_status"], on_row["new_status"]) == ("off", "off")
    log = relay_env.log_file.read_text(encoding="utf-8")
    assert "reconciler: turning relay 1000aaaa01" in log


@pytest.mark.slow
def test_sigterm_finishes_the_pending_on_before_exiting(
    relay_env: RelayEnv, service_process: ServiceProcess
) -> None:
    service_process.start()
    relay_env.authorize()
    ticket = cycle(relay_env, enterprise_number="101", off_seconds=120)
    wait_for(lambda: relay_env.cycle_state(ticket["cycle_id"]) == "off", "the relay to be off")
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells how it ended
    assert service_process.signal(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert relay_env.sim.device("1000aaaa01").states == [True]
    state = relay_env.sql("SELECT state FROM pbxwatch_power_cycles WHERE id = $1", ticket["cycle_id"])
    assert state[0]["state"] == "done"


def test_no_token_at_start_logs_the_seed_message(relay_env: RelayEnv, service_process: ServiceProcess) -> None:
    service_process.start()
    assert relay_env.post("/toggle", json={"device_id": "1000aaaa01", "state": False}).status_code == 503
    log = relay_env.log_file.read_text(encoding="utf-8")
    assert "Не удалось загрузить токены eWeLink! Авторизация требуется через CLI или callback." in log
    assert "Нет access_token для управления устройствами!" in log
    assert relay_env.api_token not in log  # never a secret in the log
    assert os.stat(relay_env.log_file).st_size > 0


def test_the_embedded_sqlite_database_works_too(relay_env: RelayEnv, sqlite_url: str) -> None:
    """The quick start's default database: the same cycle, checked through the API only."""
    import asyncio

    from sqlalchemy import text

    from pbxwatch.db.engine import Database

    async def add_unit() -> None:
        db = Database.from_url(sqlite_url)
        async with db.begin() as conn:
            await conn.execute(text("INSERT INTO enterprises (number, name, ewelink_device_id) "
                                    "VALUES ('101', 'Unit 101', '1000aaaa01')"))
        await db.dispose()

    asyncio.run(add_unit())
    relay_env.pg_url = sqlite_url
    relay_env.start()
    relay_env.authorize()
    ticket = cycle(relay_env, enterprise_number="101", idempotency_key="sqlite-1")
    done(relay_env, ticket["cycle_id"])
    assert cycle(relay_env, enterprise_number="101", idempotency_key="sqlite-1")["cycle_id"] == ticket["cycle_id"]
    rows = relay_env.get("/units/101/history").json()["rows"]
    assert [r["action_type"] for r in rows] == ["ewelink_toggle_on", "ewelink_toggle_off", "ewelink_power_cycle"]
    assert all(r["extra_info"]["cycle_id"] == ticket["cycle_id"] for r in rows)
    assert relay_env.http.get(relay_env.url + "/health").json()["status"] == "ok"


def test_a_failed_toggle_does_not_cancel_the_pending_cycle(relay: RelayEnv) -> None:
    relay.clock.hold()
    ticket = cycle(relay, enterprise_number="101")
    wait_for(lambda: relay.cycle_state(ticket["cycle_id"]) == "off", "the relay to be off")
    relay.sim.set_online("1000aaaa01", False)
    assert relay.post("/toggle", json={"device_id": "1000aaaa01", "state": True}).status_code == 409
    assert relay.cycle_state(ticket["cycle_id"]) == "off"
    relay.sim.set_online("1000aaaa01", True)
    relay.clock.release()
    done(relay, ticket["cycle_id"])
    assert relay.sim.device("1000aaaa01").states == [True]


def test_an_off_lost_in_a_cloud_failure_still_ends_with_the_relay_on(relay: RelayEnv) -> None:
    """A 5xx on "off" may hide a command that reached the relay: the intent is treated as off, so its
    "on" still happens."""
    from pbxwatch.sim.cloud_state import Fault

    relay.sim.inject(Fault("http_500", path="/v2/device/thing/status", count=1))
    ticket = cycle(relay, enterprise_number="101")
    done(relay, ticket["cycle_id"])
    assert relay.sim.device("1000aaaa01").states == [True]
    rows = [(r["action_type"], r["action_result"]) for r in relay.audit_rows()]
    assert rows == [("ewelink_power_cycle", "success"), ("ewelink_toggle_off", "fail"),
                    ("ewelink_toggle_on", "success")]

