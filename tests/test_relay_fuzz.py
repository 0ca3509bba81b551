"""Schema-driven fuzzing of the relay API (schemathesis, from the service's own OpenAPI document).

With a valid API token and valid eWeLink tokens, no generated request may produce a 5xx, and every JSON
error has the documented shape. Bounded for CI: `PBXWATCH_FUZZ_EXAMPLES` examples per operation (default 20).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from pbxwatch.ewelink import RateLimiter
from tests.relay_fixtures import RelayEnv

MAX_EXAMPLES = int(os.environ.get("PBXWATCH_FUZZ_EXAMPLES", "20"))


@pytest.fixture
def fuzzed_relay(relay_env: RelayEnv) -> RelayEnv:
    relay_env.add_unit("101", "1000aaaa01", last_status="online")
    relay_env.start(client_options={"rate_limiter": RateLimiter(min_interval=0, max_calls=1_000_000)})
    relay_env.authorize()
    return relay_env


def test_no_input_produces_a_server_error(fuzzed_relay: RelayEnv) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_relay.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:
        fuzz_operation(operation, fuzzed_relay)


def fuzz_operation(operation: Any, relay: RelayEnv) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        response = case.call(base_url=relay.url, headers=relay.headers(), timeout=30)
        where = (case.method, case.formatted_path, response.status_code, response.text[:300])
        assert response.status_code < 500, where
        content_type = " ".join(response.headers.get("content-type") or [])
        if response.status_code >= 400 and content_type.startswith("text/html"):  # the browser's OAuth page
            assert case.formatted_path.startswith("/ewelink-callback"), where
            assert "Traceback" not in response.text, where
        elif response.status_code >= 400:  # every other refusal has the service's one error shape
            assert content_type.startswith("application/json"), where
            body = response.json()
            assert set(body) == {"error", "message", "cloud_code"}, where
            assert isinstance(body["error"], str) and body["error"] and isinstance(body["message"], str), where

    check()
