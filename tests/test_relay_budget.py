"""The eWeLink call budget seen through the relay API: a caller the budget cannot serve in time gets 429
with Retry-After (and an audit row), and a power-cycle's "on" is served ahead of reads queued before it.

The budget's clock is the test's: a call slot opens only when the test advances it, so the order of the
calls the simulated cloud receives is asserted, never a duration."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from pbxwatch.ewelink import RateLimiter
from tests.relay_fixtures import RelayEnv, wait_for


class BudgetClock:
    """Fake seconds for the limiter, advanced by the test thread; its sleep ends once they have passed."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        until = self.now + seconds
        while self.now < until:
            await asyncio.sleep(0.005)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def read_ids(relay: RelayEnv) -> list[str]:
    """The device id of every single-device read and switch the cloud received, in order, tagged."""
    out = []
    for request in relay.sim.requests("/v2/device/thing"):
        body = json.loads(request.body or b"{}")
        if request.path == "/v2/device/thing/status":
            out.append(f"switch {body['id']} {body['params']}")
        elif request.path == "/v2/device/thing" and request.method == "POST":
            out.append(f"read {body['thingList'][0]['id']}")
    return out


def test_a_toggle_beyond_the_call_budget_gets_429_with_retry_after_and_an_audit_row(relay_env: RelayEnv) -> None:
    relay_env.add_unit("101", "1000aaaa01", last_status="online")
    # three calls per 5 minutes: the login's code exchange and one toggle (a read and a switch) spend them
    relay_env.start(client_options={"rate_limiter": RateLimiter(min_interval=0, window=300, max_calls=3)})
    relay_env.authorize()
    assert relay_env.post("/toggle", json={"device_id": "1000aaaa01", "state": False}).status_code == 200
    sent = len(relay_env.sim.requests())

    reply = relay_env.post("/toggle", json={"device_id": "1000aaaa01", "state": True})

    assert reply.status_code == 429, reply.text
    assert reply.json()["error"] == "call_budget_exceeded"
    assert 1 <= int(reply.headers["Retry-After"]) <= 300
    assert len(relay_env.sim.requests()) == sent  # nothing was sent to the cloud
    assert relay_env.sim.device("1000aaaa01").states == [False]
    [row] = relay_env.audit_rows("ewelink_toggle_on")
    assert row["action_result"] == "fail"
    assert row["extra_info"]["reason"] == "call_budget_exceeded"
    assert row["enterprise_number"] == "101"
    metrics = relay_env.get("/metrics").text
    assert "pbxwatch_relay_call_budget_refusals_total 1.0" in metrics
    assert 'pbxwatch_relay_cloud_calls_per_action_sum{action="toggle",result="success"} 2.0' in metrics
    assert 'pbxwatch_relay_cloud_calls_per_action_sum{action="toggle",result="fail"} 0.0' in metrics


def test_the_on_of_a_cycle_is_served_ahead_of_reads_queued_before_it(relay_env: RelayEnv) -> None:
    relay_env.add_unit("101", "1000aaaa01", last_status="online")
    budget = BudgetClock()
    limiter = RateLimiter(min_interval=1.0, window=300, max_calls=300, clock=budget.clock, sleep=budget.sleep)
    relay_env.start(client_options={"rate_limiter": limiter})
    relay_env.authorize()

    def advance_until(done: Callable[[], bool], what: str) -> None:
        def step() -> bool:
            if done():
                return True
            if limiter.waiting:
                budget.advance(1.0)  # one more call slot
            return False

        wait_for(step, what)

    relay_env.clock.hold()  # the cycle stays off until released
    with ThreadPoolExecutor(max_workers=4) as pool:
        accepted = pool.submit(relay_env.post, "/power-cycle", json={"enterprise_number": "101"})
        advance_until(
            lambda: accepted.done() and "switch 1000aaaa01 {'switch': 'off'}" in read_ids(relay_env), "the cycle's off"
        )
        assert accepted.result().status_code == 202
        headers = relay_env.headers()
        url = f"{relay_env.url}/devices/1000dddd04"
        reads = [pool.submit(httpx.get, url, params={"fresh": "true"}, headers=headers, timeout=30) for _ in range(3)]
        wait_for(lambda: limiter.waiting == 3, "three reads queued")
        relay_env.clock.release()

        def queued(cycle_calls: int) -> bool:
            return limiter.waiting == cycle_calls + sum(not r.done() for r in reads)

        wait_for(lambda: queued(1), "the cycle's on (its fresh read) queued behind them")
        budget.advance(1.0)  # one slot: the on's read
        wait_for(lambda: "read 1000aaaa01" in read_ids(relay_env)[-1:] and queued(1), "the on's switch queued")
        budget.advance(1.0)  # one slot: the on's switch
        advance_until(lambda: all(r.done() for r in reads), "the reads answered")
        # served after the cycle's calls, or refused once the cycle's verification reads (more urgent)
        # pushed them past the caller's bound: never left waiting
        for reply in (r.result() for r in reads):
            assert reply.status_code == 200 or (reply.status_code == 429 and int(reply.headers["Retry-After"]) >= 1)

    calls = read_ids(relay_env)
    on = calls.index("switch 1000aaaa01 {'switch': 'on'}")
    first_read = calls.index("read 1000dddd04")
    assert calls[on - 1] == "read 1000aaaa01"  # the on's own fresh read, ahead of the queued reads too
    assert on < first_read
    cycle_id = accepted.result().json()["cycle_id"]
    advance_until(lambda: relay_env.cycle_state(cycle_id) == "done", "the cycle done")
