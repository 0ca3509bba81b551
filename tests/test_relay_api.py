"""The relay service's endpoints against the simulated cloud and real PostgreSQL (SPEC §6)."""

from __future__ import annotations

from tests.relay_fixtures import RelayEnv


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
