"""The relay service's endpoints against the simulated cloud and real PostgreSQL (docs/design.md §6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.relay_fixtures import RelayEnv, free_port, wait_for


def test_toggle_off_switches_the_relay_and_audits_it(relay: RelayEnv) -> None:
    reply = relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
    assert reply.status_code == 200, reply.text
    assert reply.json()["state_after"] is False
    assert relay.sim.device("1000aaaa01").states == [False]
    [row] = relay.audit_rows("ewelink_toggle_off")
    assert row["enterprise_number"] == "101"
    assert (row["prev_status"], row["new_status"]) == ("on", "on")
    assert row["action_result"] == "success"
    assert row["user_initiator"] == "api"
    assert row["extra_info"] == {"device_id": "1000aaaa01", "outlet": None, "state": False, "state_after": False}
    # an action reads its own device, not the whole account (quota: 50,000 calls a month)
    assert relay.sim.requests("/v2/family") == []
    # two calls: a fresh read (online? which state?) and the switch the cloud accepted, no read-back
    assert [(r.method, r.path) for r in relay.sim.requests("/v2/device/thing")] == [
        ("POST", "/v2/device/thing"),
        ("POST", "/v2/device/thing/status"),
    ]


def test_toggle_accepts_query_parameters_and_flips_without_state(relay: RelayEnv) -> None:
    reply = relay.post("/toggle", params={"device_id": "1000aaaa01", "initiator": "user"})
    assert reply.status_code == 200, reply.text
    assert relay.sim.device("1000aaaa01").states == [False]
    [row] = relay.audit_rows("ewelink_toggle")
    assert row["user_initiator"] == "user"
    assert row["extra_info"]["state"] is None and row["extra_info"]["state_after"] is False


def test_toggle_of_one_outlet_keeps_the_other_outlet(relay: RelayEnv) -> None:
    reply = relay.post("/toggle", json={"device_id": "1000bbbb02", "outlet": 1, "state": False})
    assert reply.status_code == 200, reply.text
    assert relay.sim.device("1000bbbb02").states == [True, False]
    [row] = relay.audit_rows("ewelink_toggle_off")
    # unit 102 is fed by outlet 1 and its PBX is offline: "PBX status now" is off
    assert row["enterprise_number"] == "102"
    assert (row["prev_status"], row["new_status"]) == ("off", "off")
    assert row["extra_info"]["outlet"] == 1


def test_toggle_of_a_relay_feeding_no_unit_has_no_enterprise(relay: RelayEnv) -> None:
    assert relay.post("/toggle", json={"device_id": "1000dddd04", "state": True}).status_code == 200
    [row] = relay.audit_rows("ewelink_toggle_on")
    assert row["enterprise_number"] is None
    assert row["action_result"] == "success"


def test_devices_list_and_one_device(relay: RelayEnv) -> None:
    listed = relay.get("/devices")
    assert listed.status_code == 200
    ids = {d["device_id"]: d for d in listed.json()["devices"]}
    assert set(ids) == {"1000aaaa01", "1000bbbb02", "1000cccc03", "1000dddd04"}
    assert ids["1000cccc03"]["online"] is False
    assert ids["1000bbbb02"]["channels"] == [{"outlet": 0, "on": True}, {"outlet": 1, "on": True}]
    one = relay.get("/devices/1000aaaa01").json()
    assert one["online"] is True and one["channels"] == [{"outlet": None, "on": True}]
    assert "checked_at" in one


def test_device_list_is_served_from_cache(relay: RelayEnv) -> None:
    relay.get("/devices")
    before = len(relay.sim.requests("/v2/device/thing"))
    for _ in range(3):
        assert relay.get("/devices").status_code == 200
        assert relay.get("/devices/1000aaaa01").status_code == 200
    assert len(relay.sim.requests("/v2/device/thing")) == before


def test_fresh_device_read_sees_a_relay_come_back_at_once(relay: RelayEnv) -> None:
    """The monitor asks `?fresh=true` before it decides: a relay back online is seen without the 60 s cache."""
    assert relay.get("/devices/1000cccc03").json()["online"] is False
    relay.sim.set_online("1000cccc03", True)
    assert relay.get("/devices/1000cccc03").json()["online"] is False  # the cached list still says offline
    assert relay.get("/devices/1000cccc03", params={"fresh": "true"}).json()["online"] is True
    assert relay.get("/devices/1000cccc03", params={"fresh": "maybe"}).status_code == 422


def test_units_unit_and_history_pages(relay: RelayEnv) -> None:
    units = relay.get("/units").json()["units"]
    assert [u["number"] for u in units] == ["101", "102"]
    unit = relay.get("/units/102").json()
    assert unit["ewelink_device_id"] == "1000bbbb02" and unit["ewelink_outlet"] == 1
    assert unit["last_status"] == "offline"
    for state in (False, True, False):
        relay.post("/toggle", json={"device_id": "1000aaaa01", "state": state})
    first = relay.get("/units/101/history", params={"limit": 2}).json()
    assert [r["action_type"] for r in first["rows"]] == ["ewelink_toggle_off", "ewelink_toggle_on"]
    rest = relay.get("/units/101/history", params={"limit": 2, "before_id": first["next_before_id"]}).json()
    assert [r["action_type"] for r in rest["rows"]] == ["ewelink_toggle_off"]
    assert rest["next_before_id"] is None
    assert relay.get("/units/999").status_code == 404
    assert relay.get("/units/999/history").status_code == 404


def test_health_is_ok_with_database_and_token(relay: RelayEnv) -> None:
    relay.get("/devices")
    health = relay.http.get(relay.url + "/health")  # no API token needed
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok", body
    assert body["database"] == "ok" and body["token"] == "valid" and body["overdue_on"] == 0
    assert body["last_cloud_call"]["ok"] is True


def test_metrics_and_docs(relay: RelayEnv) -> None:
    relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
    text = relay.get("/metrics").text
    assert 'pbxwatch_relay_actions_total{action="off",result="success"} 1.0' in text
    assert "pbxwatch_relay_overdue_on 0.0" in text
    assert relay.http.get(relay.url + "/docs").status_code == 200
    paths = relay.http.get(relay.url + "/openapi.json").json()["paths"]
    for path in (
        "/toggle",
        "/power-cycle",
        "/devices",
        "/devices/{device_id}",
        "/units",
        "/units/{number}",
        "/units/{number}/history",
        "/health",
        "/metrics",
        "/ewelink-auth-url",
        "/ewelink-callback/",
    ):
        assert path in paths


def test_cloud_calls_are_counted_per_month(relay: RelayEnv) -> None:
    relay.get("/devices")
    # token exchange, homes, devices: at least 3 calls reach the monthly counter
    wait_for(
        lambda: [r for r in relay.sql("SELECT calls FROM pbxwatch_cloud_calls") if r["calls"] >= 3], "the call counter"
    )
    assert "pbxwatch_relay_cloud_calls_month" in relay.get("/metrics").text


# ---- docs/design.md §6 status table ---------------------------------------------------------------------------


def error_of(reply: object) -> dict[str, object]:
    import httpx

    assert isinstance(reply, httpx.Response)
    body = reply.json()
    assert set(body) == {"error", "message", "cloud_code"}, body
    return dict(body)


def test_no_token_is_503_with_the_seed_message_and_a_fail_row(
    relay_env: RelayEnv, caplog: pytest.LogCaptureFixture
) -> None:
    relay_env.add_unit("101", "1000aaaa01")
    relay_env.start()
    reply = relay_env.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
    assert reply.status_code == 503
    assert error_of(reply)["error"] == "ewelink_not_authorized"
    assert "Нет access_token для управления устройствами!" in caplog.messages
    [row] = relay_env.audit_rows("ewelink_toggle_off")
    assert row["action_result"] == "fail" and row["enterprise_number"] == "101"
    assert row["extra_info"]["reason"] == "ewelink_not_authorized"
    cycle = relay_env.post("/power-cycle", json={"enterprise_number": "101"})
    assert cycle.status_code == 503
    [cycle_row] = relay_env.audit_rows("ewelink_power_cycle")
    assert cycle_row["action_result"] == "fail"
    assert cycle_row["extra_info"]["device_id"] == "1000aaaa01"
    assert relay_env.get("/devices").status_code == 503
    assert relay_env.http.get(relay_env.url + "/health").json()["token"] == "missing"


def test_expired_tokens_are_503(relay: RelayEnv, caplog: pytest.LogCaptureFixture) -> None:
    relay.sim.state.expire_tokens(access=True, refresh=True)
    reply = relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
    assert reply.status_code == 503, reply.text
    assert "Токены истекли, нужна повторная авторизация" in caplog.messages
    assert error_of(reply)["error"] == "ewelink_tokens_expired"
    [row] = relay.audit_rows("ewelink_toggle_off")
    assert row["action_result"] == "fail"


def test_api_token_missing_or_wrong_is_401(relay: RelayEnv) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        reply = relay.http.post(relay.url + "/toggle", json={"device_id": "1000aaaa01"}, headers=headers)
        assert reply.status_code == 401
        assert error_of(reply)["error"] == "unauthorized"
        assert relay.http.get(relay.url + "/units", headers=headers).status_code == 401
    assert relay.audit_rows() == []
    assert relay.http.get(relay.url + "/health").status_code == 200


def test_bad_body_or_parameter_is_422_naming_the_field(relay: RelayEnv) -> None:
    cases = [
        ("/toggle", {"state": True}, "device_id"),
        ("/toggle", {"device_id": "1000aaaa01", "outlet": -1}, "outlet"),
        ("/toggle", {"device_id": "1000aaaa01", "initiator": "robot"}, "initiator"),
        ("/power-cycle", {"device_id": "1000aaaa01", "off_seconds": 0}, "off_seconds"),
        ("/power-cycle", {"device_id": "1000aaaa01", "off_seconds": 301}, "off_seconds"),
        ("/power-cycle", {}, "enterprise_number"),
    ]
    for path, body, field in cases:
        reply = relay.post(path, json=body)
        assert reply.status_code == 422, (path, body, reply.text)
        assert field in str(error_of(reply)["message"]), reply.text
    bad_json = relay.post("/toggle", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 422
    assert relay.get("/units/101/history", params={"limit": 0}).status_code == 422
    # control characters never reach the database (PostgreSQL text cannot hold NUL)
    assert relay.get("/units/a%00b").status_code == 422
    assert relay.get("/power-cycle/a%00b").status_code == 422
    assert relay.post("/toggle", json={"device_id": "1000aaaa01", "enterprise_number": "1\u0000"}).status_code == 422
    assert relay.post("/power-cycle", json={"device_id": "1000aaaa01", "idempotency_key": "k\u0000"}).status_code == 422
    assert relay.post("/toggle", json={"device_id": "1000aaaa01", "outlet": 5}).status_code == 422


def test_unknown_device_is_404(relay: RelayEnv) -> None:
    reply = relay.post("/toggle", json={"device_id": "1000ffff99", "state": False})
    assert reply.status_code == 404
    assert error_of(reply)["error"] == "not_found"
    [row] = relay.audit_rows("ewelink_toggle_off")
    assert row["action_result"] == "fail" and row["enterprise_number"] is None
    assert relay.get("/devices/1000ffff99").status_code == 404
    assert relay.post("/power-cycle", json={"enterprise_number": "999"}).status_code == 404


def test_offline_relay_is_409_and_fails_fast(relay: RelayEnv) -> None:
    reply = relay.post("/toggle", json={"device_id": "1000cccc03", "state": False})
    assert reply.status_code == 409
    assert error_of(reply)["error"] == "relay_offline"
    set_calls = [r for r in relay.sim.requests("/v2/device/thing/status") if r.method == "POST"]
    assert set_calls == []
    [row] = relay.audit_rows("ewelink_toggle_off")
    assert row["action_result"] == "fail" and row["extra_info"]["reason"] == "relay_offline"
    cycle = relay.post("/power-cycle", json={"device_id": "1000cccc03"})
    assert cycle.status_code == 409
    [cycle_row] = relay.audit_rows("ewelink_power_cycle")
    assert cycle_row["action_result"] == "fail" and "offline" in cycle_row["error_message"]


def test_quota_exhausted_is_429_with_the_cloud_code(relay: RelayEnv) -> None:
    relay.sim.config.quota = 0
    reply = relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
    assert reply.status_code == 429
    body = error_of(reply)
    assert body["error"] == "cloud_quota_exceeded" and body["cloud_code"] == 412
    [row] = relay.audit_rows("ewelink_toggle_off")
    assert row["extra_info"]["cloud_error"] == 412
    relay.sim.config.quota_style = "http403"
    assert relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False}).status_code == 429


def test_cloud_5xx_is_502_and_degrades_health(relay: RelayEnv) -> None:
    from pbxwatch.sim.cloud_state import Fault

    relay.sim.inject(Fault("http_500", path="/v2/", count=100))
    reply = relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
    assert reply.status_code == 502
    assert error_of(reply)["error"] == "cloud_unavailable"
    health = relay.http.get(relay.url + "/health").json()
    assert health["status"] == "degraded" and health["last_cloud_call"]["ok"] is False
    relay.sim.state.faults.clear()


def test_cloud_timeout_is_504(relay_env: RelayEnv) -> None:
    from pbxwatch.ewelink import RateLimiter
    from pbxwatch.sim.cloud_state import Fault

    relay_env.add_unit("101", "1000aaaa01")
    relay_env.start(client_options={"rate_limiter": RateLimiter(min_interval=0), "timeout": 0.3})
    relay_env.authorize()
    relay_env.sim.inject(Fault("slow", path="/v2/device/thing", count=1, delay=2.0))
    reply = relay_env.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
    assert reply.status_code == 504
    assert error_of(reply)["error"] == "cloud_timeout"


def test_unknown_path_and_method_are_json_errors(relay: RelayEnv) -> None:
    missing = relay.get("/nope")
    assert missing.status_code == 404 and error_of(missing)["error"] == "not_found"
    wrong = relay.http.delete(relay.url + "/toggle", headers=relay.headers())
    assert wrong.status_code == 405 and error_of(wrong)["error"] == "method_not_allowed"


def test_a_warning_at_80_percent_of_the_monthly_quota(relay: RelayEnv, caplog: pytest.LogCaptureFixture) -> None:
    wait_for(lambda: relay.sql("SELECT month FROM pbxwatch_cloud_calls"), "the first counted calls")
    month = relay.sql("SELECT month FROM pbxwatch_cloud_calls")[0]["month"]
    relay.sql("UPDATE pbxwatch_cloud_calls SET calls = 39999 WHERE month = $1", month)
    relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
    wait_for(lambda: "of the quota" in caplog.text, "the quota warning")
    assert "eWeLink cloud calls this month: 4" in caplog.text
    ratio = [
        line
        for line in relay.get("/metrics").text.splitlines()
        if line.startswith("pbxwatch_relay_cloud_quota_used_ratio ")
    ]
    assert float(ratio[0].split()[1]) >= 0.8


def test_health_is_503_only_when_the_database_is_down(relay_env: RelayEnv) -> None:
    relay_env.pg_url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    relay_env.start()
    health = relay_env.http.get(relay_env.url + "/health")
    assert health.status_code == 503
    assert health.json()["database"] == "down" and health.json()["status"] == "degraded"
    units = relay_env.get("/units")
    assert units.status_code == 503 and error_of(units)["error"] == "database_unavailable"


def test_4002_from_an_online_relay_is_a_parameter_error_not_offline(relay: RelayEnv) -> None:
    from pbxwatch.sim.cloud_state import Fault

    relay.sim.inject(Fault("error", path="/v2/device/thing/status", count=1, code=4002, msg="控制失败"))
    reply = relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
    assert reply.status_code == 422
    body = error_of(reply)
    assert body["error"] == "invalid_request" and body["cloud_code"] == 4002
    [row] = relay.audit_rows("ewelink_toggle_off")
    assert row["extra_info"]["cloud_error"] == 4002 and row["action_result"] == "fail"


def test_auth_url_without_the_ewelink_app_configured_says_so(relay_env: RelayEnv) -> None:
    from pbxwatch.config import Settings
    from pbxwatch.relay.app import create_app
    from tests.relay_fixtures import ServerThread

    data = relay_env.settings_data()
    data["ewelink"] = {"token_file": data["ewelink"]["token_file"]}
    relay_env.server = ServerThread(create_app(Settings.model_validate(data)), relay_env.port)
    relay_env.server.start()
    reply = relay_env.get("/ewelink-auth-url")
    assert reply.status_code == 503
    body = error_of(reply)
    assert body["error"] == "ewelink_not_configured" and "app_id" in str(body["message"])


def test_a_toggle_naming_an_unknown_unit_is_404_and_still_audited(relay: RelayEnv) -> None:
    reply = relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False, "enterprise_number": "nope"})
    assert reply.status_code == 404 and "nope" in str(error_of(reply)["message"])
    assert relay.sim.device("1000aaaa01").states == [True]
    [row] = relay.audit_rows("ewelink_toggle_off")
    assert row["enterprise_number"] is None and row["action_result"] == "fail"


def test_writes_to_one_relay_are_serialized(relay: RelayEnv) -> None:
    """Two outlets of one relay switched at once: each command carries the full `switches` array, so
    without serialization the second would switch the first outlet back on."""
    from concurrent.futures import ThreadPoolExecutor

    from pbxwatch.sim.cloud_state import Fault

    # slow switch commands: both requests are in flight together unless the service serializes them
    relay.sim.inject(Fault("slow", path="/v2/device/thing/status", count=2, delay=0.3))
    with ThreadPoolExecutor(max_workers=2) as pool:
        replies = list(
            pool.map(
                lambda outlet: relay.post(
                    "/toggle", json={"device_id": "1000bbbb02", "outlet": outlet, "state": False}
                ),
                [0, 1],
            )
        )
    assert [r.status_code for r in replies] == [200, 200]
    assert relay.sim.device("1000bbbb02").states == [False, False]


def test_an_adopted_database_with_naive_timestamps_is_audited_in_naive_utc(relay_env: RelayEnv) -> None:
    """docs/design.md §2: adopted `timestamp without time zone` columns are accepted and written as naive UTC."""
    relay_env.sql(
        "ALTER TABLE unit_status_history ALTER COLUMN change_time TYPE timestamp, "
        "ALTER COLUMN action_time TYPE timestamp"
    )
    relay_env.add_unit("101", "1000aaaa01", last_status="online")
    relay_env.start()
    relay_env.authorize()
    before = datetime.now(UTC).replace(tzinfo=None)
    reply = relay_env.post("/toggle", json={"device_id": "1000aaaa01", "state": True, "enterprise_number": "101"})
    assert reply.status_code == 200, reply.text
    [row] = relay_env.sql("SELECT change_time, action_result FROM unit_status_history")
    assert row["action_result"] == "success"
    assert row["change_time"].tzinfo is None
    assert (
        before - timedelta(minutes=5)
        <= row["change_time"]
        <= datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=5)
    )
