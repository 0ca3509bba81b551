"""Power-cycles (docs/design.md §5): durable intent, 202, idempotency, 409, cancel by toggle, device timer, reconciler."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.relay_fixtures import CLOUD_TIMEOUT_S, RelayEnv, ServiceProcess, wait_for


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
    health = wait_for(
        lambda: (h := relay.http.get(relay.url + "/health").json())["overdue_on"] and h,
        "health to report the overdue relay",
    )
    assert health["status"] == "degraded"
    assert "pbxwatch_relay_overdue_on 1.0" in relay.get("/metrics").text
    wait_for(
        lambda: len([r for r in relay.audit_rows("ewelink_toggle_on") if r["action_result"] == "fail"]) >= 2,
        "at least two audited failed attempts",
    )
    assert relay.sim.device("1000aaaa01").states == [False]
    relay.sim.state.faults.clear()
    done(relay, ticket["cycle_id"])
    assert relay.sim.device("1000aaaa01").states == [True]
    assert relay.http.get(relay.url + "/health").json()["status"] == "ok"
    assert "OVERDUE: relay 1000aaaa01" in caplog.text
    succeeded = [r for r in relay.audit_rows("ewelink_toggle_on") if r["action_result"] == "success"]
    assert len(succeeded) == 1 and succeeded[0]["extra_info"]["cycle_id"] == ticket["cycle_id"]


# ---- the real `pbxwatch relay serve` process: crash and shutdown --------------------------------------


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
    assert f"power-cycle {ticket['cycle_id']} of relay 1000aaaa01 resumed from its journal" in log


@pytest.mark.slow
def test_sigterm_finishes_the_pending_on_before_exiting(relay_env: RelayEnv, service_process: ServiceProcess) -> None:
    service_process.start()
    relay_env.authorize()
    ticket = cycle(relay_env, enterprise_number="101", off_seconds=120)
    wait_for(lambda: relay_env.cycle_state(ticket["cycle_id"]) == "off", "the relay to be off")
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells how it ended
    assert service_process.signal(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert relay_env.sim.device("1000aaaa01").states == [True]
    # the relay was read back on; the rest of its verification window is the next start's
    state = relay_env.sql("SELECT state FROM pbxwatch_power_cycles WHERE id = $1", ticket["cycle_id"])
    assert state[0]["state"] == "verifying"
    service_process.start()
    done(relay_env, ticket["cycle_id"])
    assert relay_env.sim.device("1000aaaa01").states == [True]
    assert len(relay_env.audit_rows("ewelink_toggle_on")) == 1


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
            await conn.execute(
                text(
                    "INSERT INTO enterprises (number, name, ewelink_device_id) VALUES ('101', 'Unit 101', '1000aaaa01')"
                )
            )
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
    assert rows == [
        ("ewelink_power_cycle", "success"),
        ("ewelink_toggle_off", "fail"),
        ("ewelink_toggle_on", "success"),
    ]


# ---- the off time, the settings behind it, and the verification window -------------------------------


def switch_times(relay: RelayEnv, device_id: str) -> list[tuple[float, bool]]:
    """(arrival time, on?) of every switch command the simulated cloud received for one relay."""
    out = []
    for req in relay.sim.requests("/v2/device/thing/status"):
        body = json.loads(req.body or b"{}")
        params = body.get("params", {})
        if req.method == "POST" and body.get("id") == device_id and ("switch" in params or "switches" in params):
            state = params.get("switch") or params["switches"][-1]["switch"]
            out.append((req.at, state == "on"))
    return out


def test_the_off_time_is_really_waited_and_on_due_at_honours_it(relay: RelayEnv) -> None:
    sent = datetime.now(UTC)
    ticket = cycle(relay, enterprise_number="101", off_seconds=2)
    assert datetime.fromisoformat(ticket["on_due_at"]) >= sent + timedelta(seconds=2)
    done(relay, ticket["cycle_id"])
    [(off_at, off), (on_at, on)] = switch_times(relay, "1000aaaa01")  # the cloud's own record
    assert (off, on) == (False, True)
    assert on_at - off_at >= 2
    metrics = relay.get("/metrics").text
    assert "pbxwatch_relay_on_confirm_seconds_count 1.0" in metrics


def test_the_monitor_off_seconds_default_reaches_the_relay_service(relay_env: RelayEnv) -> None:
    relay_env.off_seconds = 2
    relay_env.add_unit("101", "1000aaaa01")
    relay_env.start()
    relay_env.authorize()
    sent = datetime.now(UTC)
    ticket = cycle(relay_env, enterprise_number="101")
    assert datetime.fromisoformat(ticket["on_due_at"]) >= sent + timedelta(seconds=2)
    assert relay_env.get(f"/power-cycle/{ticket['cycle_id']}").json()["off_seconds"] == 2
    done(relay_env, ticket["cycle_id"])
    [(off_at, _), (on_at, _)] = switch_times(relay_env, "1000aaaa01")
    assert on_at - off_at >= 2


def test_a_late_off_is_caught_in_the_verification_window_and_answered_with_on(
    relay: RelayEnv, caplog: pytest.LogCaptureFixture
) -> None:
    """The cloud answers the "off" after the client's timeout but applies it later, after the "on"."""
    from pbxwatch.sim.cloud_state import Fault

    late = Fault("late_apply", path="/v2/device/thing/status", delay=CLOUD_TIMEOUT_S + 2)
    relay.sim.inject(late)
    ticket = cycle(relay, enterprise_number="101")
    done(relay, ticket["cycle_id"])
    wait_for(lambda: late.applied == 1, "the late off to land")
    assert relay.sim.device("1000aaaa01").states == [True]
    rows = [(r["action_type"], r["action_result"]) for r in relay.audit_rows()]
    assert rows == [
        ("ewelink_power_cycle", "success"),
        ("ewelink_toggle_off", "fail"),
        ("ewelink_toggle_on", "success"),
        ("ewelink_toggle_on", "success"),
    ]
    assert "read back OFF inside the verification window" in caplog.text


def test_device_timer_mode_is_verified_the_same_way(relay: RelayEnv) -> None:
    relay.add_unit("104", "1000dddd04", cycle_mode="device_timer")
    ticket = cycle(relay, enterprise_number="104")
    wait_for(lambda: relay.cycle_state(ticket["cycle_id"]) == "verifying", "the verification window")
    again = relay.post("/power-cycle", json={"enterprise_number": "104"})
    assert again.status_code == 409 and again.json()["error"] == "cycle_running"  # the window is the cycle's
    relay.sim.device("1000dddd04").states = [False]  # an "off" landing late
    done(relay, ticket["cycle_id"])
    assert relay.sim.device("1000dddd04").states == [True]
    assert len([r for r in relay.audit_rows("ewelink_toggle_on") if r["action_result"] == "success"]) == 2


def test_the_reconciler_finishes_an_overdue_intent_still_pending(relay_env: RelayEnv) -> None:
    """A crash after the "off" reached the relay but before the intent moved on: `pending`, relay off."""
    relay_env.add_unit("101", "1000aaaa01")
    relay_env.sim.device("1000aaaa01").states = [False]
    created = datetime.now(UTC) - timedelta(seconds=30)
    relay_env.sql(
        "INSERT INTO pbxwatch_power_cycles (id, device_id, outlet, enterprise_number, initiator, mode, "
        "state, off_seconds, created_at, on_due_at, attempts) VALUES ('c0ffee', '1000aaaa01', NULL, "
        "'101', 'auto', 'cloud', 'pending', 1, $1, $2, 0)",
        created,
        created + timedelta(seconds=1),
    )
    relay_env.start()
    relay_env.authorize()
    done(relay_env, "c0ffee")
    assert relay_env.sim.device("1000aaaa01").states == [True]
    rows = [(r["action_type"], r["action_result"], r["extra_info"].get("reason")) for r in relay_env.audit_rows()]
    assert rows == [("ewelink_toggle_off", "success", "settled_by_read_back"), ("ewelink_toggle_on", "success", None)]


def test_on_retries_stay_a_few_seconds_apart_while_the_relay_is_off() -> None:
    from pbxwatch.relay.cycle_run import CyclePolicy, on_retry_delay

    policy = CyclePolicy()
    delays = [on_retry_delay(policy, n, failing_for=n * 5.0) for n in range(1, 100)]
    assert delays[:4] == [1.0, 2.0, 4.0, 5.0]
    assert max(d for n, d in enumerate(delays, 1) if n * 5.0 < policy.slow_after) <= 5.0
    assert on_retry_delay(policy, 500, failing_for=policy.slow_after) == policy.slow_retry


def test_after_a_cloud_outage_the_relay_is_on_within_seconds(relay_env: RelayEnv) -> None:
    """The production retry policy: four failed "on"s cost 1 + 2 + 4 s, not 5 + 10 + 20 s."""
    from pbxwatch.relay.cycle_run import CyclePolicy
    from pbxwatch.sim.cloud_state import Fault

    relay_env.add_unit("101", "1000aaaa01")
    relay_env.start(cycle_policy=CyclePolicy(verify_poll=0.2))
    relay_env.authorize()
    relay_env.clock.hold()
    ticket = cycle(relay_env, enterprise_number="101")
    wait_for(lambda: relay_env.cycle_state(ticket["cycle_id"]) == "off", "the relay to be off")
    outage = Fault("http_500", path="/v2/device/thing", count=4)
    relay_env.sim.inject(outage)
    relay_env.clock.release()
    wait_for(lambda: outage not in relay_env.sim.state.faults, "the outage to be over")
    wait_for(lambda: relay_env.sim.device("1000aaaa01").states == [True], "the relay back on", timeout=15)


def test_an_unwritable_run_dir_does_not_keep_a_relay_off(relay_env: RelayEnv, caplog: pytest.LogCaptureFixture) -> None:
    (relay_env.tmp / "run").write_text("not a directory", encoding="utf-8")  # the journal cannot be written
    relay_env.add_unit("101", "1000aaaa01")
    relay_env.start()
    relay_env.authorize()
    ticket = cycle(relay_env, enterprise_number="101")
    done(relay_env, ticket["cycle_id"])
    assert relay_env.sim.device("1000aaaa01").states == [True]
    assert [r["action_type"] for r in relay_env.audit_rows()] == [
        "ewelink_power_cycle",
        "ewelink_toggle_off",
        "ewelink_toggle_on",
    ]
    assert "journal not writable" in caplog.text
