"""The dashboard served by the relay service (real uvicorn, the simulated cloud, real PostgreSQL): pages,
access (login, session cookie, CSRF, non-loopback bind), autoescaping, language, the audit of its buttons."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pbxwatch.web.render import translator
from pbxwatch.web.unit_state import DashboardFacts, DashboardState, dashboard_unit_state
from tests.relay_fixtures import API_TOKEN, RelayEnv, wait_for

XSS = "<script>alert('pwned')</script>"


def login(relay: RelayEnv, client: httpx.Client) -> str:
    """Log in through the form; return the CSRF token of the session (from a page's hidden field)."""
    reply = client.post(f"{relay.url}/login", data={"token": API_TOKEN, "next": "/unit/101"})
    assert reply.status_code == 303, reply.text
    page = client.get(f"{relay.url}/unit/101/confirm/power-cycle").text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, page
    return found.group(1)


@pytest.fixture
def browser_like(relay: RelayEnv) -> httpx.Client:
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        yield client


def test_the_pages_render_on_loopback_without_login(relay: RelayEnv, browser_like: httpx.Client) -> None:
    for path, words in (
        ("/", ["101", "102", "Unit 101"]),
        ("/unit/101", ["Unit 101", "line_stats"]),
        ("/events", ["pbxwatch"]),
        ("/system", ["eWeLink"]),
    ):
        reply = browser_like.get(relay.url + path)
        assert reply.status_code == 200, (path, reply.text)
        assert all(w in reply.text for w in words), path
        assert "script-src 'self'" in reply.headers["content-security-policy"]
    assert "htmx" in browser_like.get(f"{relay.url}/static/htmx.min.js").text[:200]
    for path in ("/unit/999", "/unit/999/live", "/unit/999/confirm/rearm"):
        missing = browser_like.get(relay.url + path)
        assert missing.status_code == 404 and "Такого юнита нет." in missing.text, path
    paths = set(relay.get("/openapi.json").json()["paths"])  # the API's schema is unchanged
    assert not paths & {"/", "/unit/{number}", "/fleet/table", "/login", "/events", "/system"}
    assert "/units/{number}" in paths


def test_database_and_probe_text_render_as_text(relay: RelayEnv, browser_like: httpx.Client) -> None:
    relay.sql("UPDATE enterprises SET name = $1, host = $1 WHERE number = '101'", XSS)
    relay.sql(
        "UPDATE unit_live_status SET last_error_message = $1, last_checked_at = now(), "
        "line_stats = $2::jsonb WHERE enterprise_number = '102'",
        XSS,
        '{"ok": 1, "total": 2, "x": "<img src=x onerror=alert(2)>", "peers": [{"name": "<img src=x>", "port": 5060}]}',
    )
    for path in (
        "/",
        "/?q=script&state=",
        "/fleet/table?q=&state=&page=1",
        "/unit/101",
        "/unit/102",
        "/events",
        "/unit/101/confirm/power-cycle",
    ):
        reply = browser_like.get(relay.url + path)
        assert reply.status_code == 200, (path, reply.text)
        text = reply.text
        assert "<script>alert" not in text and "<img src=x" not in text, path
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in browser_like.get(f"{relay.url}/unit/101").text
    assert "&lt;script&gt;" in browser_like.get(f"{relay.url}/").text
    unit = browser_like.get(f"{relay.url}/unit/102").text
    assert 'data-table="peers"' in unit and "<td>&lt;img src=x&gt;</td><td>5060</td>" in unit


def test_without_a_session_nothing_changes(relay: RelayEnv, browser_like: httpx.Client) -> None:
    before = relay.sim.device("1000aaaa01").states
    for action in ("power-cycle", "switch-on", "rearm"):
        reply = browser_like.post(f"{relay.url}/unit/101/{action}", data={"csrf": "x"})
        assert reply.status_code == 401, reply.text
    bad = browser_like.post(f"{relay.url}/login", data={"token": "wrong", "next": "/"})
    assert bad.status_code == 401 and "pbxwatch_session" not in bad.headers.get("set-cookie", "")
    browser_like.cookies.set("pbxwatch_session", "1.abc.def")  # forged
    assert browser_like.post(f"{relay.url}/unit/101/power-cycle").status_code == 401
    assert relay.sim.device("1000aaaa01").states == before
    assert relay.audit_rows() == []
    assert not [r for r in relay.sim.requests("/v2/device/thing/status") if r.method == "POST"]


def test_a_session_without_its_csrf_token_is_refused(relay: RelayEnv, browser_like: httpx.Client) -> None:
    login(relay, browser_like)
    cookie = next(c for c in browser_like.cookies.jar if c.name == "pbxwatch_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    raw = browser_like.post(f"{relay.url}/login", data={"token": API_TOKEN}).headers["set-cookie"]
    assert "httponly" in raw.lower() and "samesite=strict" in raw.lower()
    for csrf in (None, "0" * 40):
        data = {"csrf": csrf} if csrf else {}
        assert browser_like.post(f"{relay.url}/unit/101/power-cycle", data=data).status_code == 403
    assert relay.audit_rows() == []


def test_the_buttons_run_the_api_code_and_are_audited_as_user(relay: RelayEnv, browser_like: httpx.Client) -> None:
    csrf = login(relay, browser_like)
    confirm = browser_like.get(f"{relay.url}/unit/101/confirm/power-cycle").text
    assert "101" in confirm and "1000aaaa01" in confirm  # the confirmation names the unit and the relay
    reply = browser_like.post(f"{relay.url}/unit/101/power-cycle", data={"csrf": csrf})
    assert reply.status_code == 303 and reply.headers["location"] == "/unit/101?done=power-cycle"
    wait_for(lambda: relay.audit_rows("ewelink_toggle_on"), "the cycle to finish")
    rows = relay.audit_rows()
    assert [r["action_type"] for r in rows] == ["ewelink_power_cycle", "ewelink_toggle_off", "ewelink_toggle_on"]
    assert {r["user_initiator"] for r in rows} == {"user"}
    assert relay.sim.device("1000aaaa01").states == [True]
    page = browser_like.get(f"{relay.url}/unit/101").text
    assert page.count('data-initiator="user"') == 3

    assert browser_like.post(f"{relay.url}/unit/101/switch-on", data={"csrf": csrf}).status_code == 303
    assert relay.audit_rows("ewelink_toggle_on")[-1]["user_initiator"] == "user"
    assert relay.audit_rows()[-1]["extra_info"]["state"] is True

    relay.sql("UPDATE unit_live_status SET ewelink_action_done = true WHERE enterprise_number = '101'")
    assert browser_like.post(f"{relay.url}/unit/101/rearm", data={"csrf": csrf}).headers["location"].endswith("rearm")
    assert relay.sql("SELECT ewelink_action_done FROM unit_live_status WHERE enterprise_number = '101'")[0][0] is False

    logout = browser_like.post(f"{relay.url}/logout", data={"csrf": csrf})
    assert logout.status_code == 303
    assert browser_like.post(f"{relay.url}/unit/101/power-cycle", data={"csrf": csrf}).status_code == 401


def test_a_refused_action_shows_the_service_error(relay: RelayEnv, browser_like: httpx.Client) -> None:
    relay.sql("UPDATE enterprises SET ewelink_device_id = '1000cccc03' WHERE number = '101'")  # relay offline
    csrf = login(relay, browser_like)
    reply = browser_like.post(f"{relay.url}/unit/101/power-cycle", data={"csrf": csrf})
    assert reply.status_code == 409, reply.status_code
    assert "offline" in reply.text
    [row] = relay.audit_rows()
    assert (row["action_type"], row["action_result"], row["user_initiator"]) == ("ewelink_power_cycle", "fail", "user")


def test_a_non_loopback_bind_needs_login_for_every_page(relay_env: RelayEnv) -> None:
    data = relay_env.settings_data()
    data["relay"]["host"] = "0.0.0.0"  # what the service was told to bind; this test still serves on loopback
    relay_env.add_unit("101", "1000aaaa01", last_status="online")
    relay_env.settings_data = lambda: data  # type: ignore[method-assign]
    relay_env.start()
    with httpx.Client(timeout=30) as client:
        for path in ("/", "/unit/101", "/events", "/system"):
            reply = client.get(relay_env.url + path, follow_redirects=False)
            assert reply.status_code == 303 and reply.headers["location"].startswith("/login"), path
        assert client.get(f"{relay_env.url}/fleet/table", headers={"HX-Request": "true"}).status_code == 401
        client.post(f"{relay_env.url}/login", data={"token": API_TOKEN, "next": "/"})
        assert "Unit 101" in client.get(f"{relay_env.url}/").text


def test_english_when_configured(relay_env: RelayEnv) -> None:
    data = relay_env.settings_data()
    data["ui"] = {"language": "en"}
    relay_env.add_unit("101", "1000aaaa01", last_status="online")
    relay_env.settings_data = lambda: data  # type: ignore[method-assign]
    relay_env.start()
    assert "The fleet" in relay_env.http.get(f"{relay_env.url}/").text


def test_russian_by_default(relay: RelayEnv) -> None:
    text = relay.http.get(f"{relay.url}/").text
    assert "Парк АТС" in text and 'lang="ru"' in text


def test_the_login_redirect_stays_on_this_site(relay: RelayEnv, browser_like: httpx.Client) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil"):
        reply = browser_like.post(f"{relay.url}/login", data={"token": API_TOKEN, "next": target})
        assert reply.headers["location"] == "/"


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def facts(**changes: object) -> DashboardFacts:
    base: dict[str, object] = {
        "active": True,
        "last_status": "online",
        "checked_at": NOW - timedelta(seconds=10),
        "failure_counter": 0,
        "error": None,
        "down_since": None,
        "last_action": None,
        "last_action_ok": False,
        "last_action_at": None,
        "last_action_error": None,
        "cycling": False,
    }
    base.update(changes)
    return DashboardFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "state"),
    [
        ({}, DashboardState.ONLINE),
        ({"active": False, "last_status": "offline"}, DashboardState.PAUSED),
        ({"cycling": True, "last_status": "offline"}, DashboardState.CYCLING),
        ({"last_status": None, "checked_at": None}, DashboardState.UNKNOWN),
        ({"checked_at": NOW - timedelta(hours=1)}, DashboardState.UNKNOWN),
        ({"last_status": "offline", "down_since": NOW - timedelta(minutes=5)}, DashboardState.OFFLINE),
        (
            {
                "last_status": "offline",
                "down_since": NOW - timedelta(minutes=5),
                "last_action": "skipped_relay_offline",
                "last_action_at": NOW - timedelta(minutes=4),
            },
            DashboardState.HELD,
        ),
        (
            {
                "last_status": "offline",
                "down_since": NOW - timedelta(minutes=5),
                "last_action": "skipped_relay_offline",
                "last_action_at": NOW - timedelta(minutes=6),
            },
            DashboardState.OFFLINE,
        ),  # a hold of an earlier outage
        (
            {
                "last_status": "offline",
                "down_since": NOW - timedelta(minutes=5),
                "last_action": "ewelink_power_cycle",
                "last_action_ok": True,
                "last_action_at": NOW - timedelta(minutes=1),
                "error": "connect_refused: Connection refused (boot grace)",
            },
            DashboardState.BOOT_GRACE,
        ),
        (
            {
                "last_status": "offline",
                "down_since": NOW - timedelta(minutes=15),
                "last_action": "ewelink_power_cycle",
                "last_action_ok": True,
                "last_action_at": NOW - timedelta(minutes=10),
            },
            DashboardState.OFFLINE,
        ),
    ],
)
def test_dashboard_unit_state(changes: dict[str, object], state: DashboardState) -> None:
    verdict = dashboard_unit_state(facts(**changes), NOW, stale_after=timedelta(minutes=3))
    assert verdict.state is state


@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        ({"failure_counter": 2}, "online: 2 failed check(s) in a row"),
        ({"checked_at": NOW - timedelta(hours=1)}, "unknown: last check 1 h 0 min ago: is the monitor running?"),
        (
            {
                "last_status": "offline",
                "down_since": NOW - timedelta(minutes=5),
                "last_action": "skipped_relay_offline",
                "last_action_at": NOW - timedelta(minutes=4),
                "last_action_error": "relay dev1 is offline",
                "error": "connect_timeout",
            },
            "held: not cycled: relay dev1 is offline",
        ),
        (
            {
                "last_status": "offline",
                "down_since": NOW - timedelta(minutes=5),
                "last_action": "held",
                "last_action_at": NOW - timedelta(minutes=4),
                "last_action_error": "flapping",
            },
            "held: not cycled: flapping",
        ),
        (
            {"last_status": "offline", "error": "host_key_mismatch: the host key changed"},
            "unknown: host_key_mismatch: the host key changed",
        ),
        (
            {
                "last_status": "offline",
                "down_since": NOW - timedelta(minutes=5),
                "last_action": "ewelink_power_cycle",
                "last_action_ok": True,
                "last_action_at": NOW - timedelta(minutes=1),
                "error": "connect_refused: Connection refused (boot grace)",
            },
            "boot_grace: cycled 1 min ago, waiting for boot",
        ),
        (
            {"last_status": "offline", "error": "cli_hung: asterisk -rx timed out"},
            "offline: cli_hung: asterisk -rx timed out",
        ),
        ({"active": False}, "paused: unit inactive (active = false)"),
        ({"maintenance": "disk swap (by ops)"}, "paused: maintenance window: disk swap (by ops)"),
    ],
)
def test_the_dashboard_tells_the_shared_state_and_its_reason(changes: dict[str, object], shown: str) -> None:
    verdict = dashboard_unit_state(facts(**changes), NOW, stale_after=timedelta(minutes=3))
    assert f"{verdict.state.value}: {translator('en')(verdict.reason, **verdict.values)}" == shown


def test_the_system_page_without_a_token_shows_the_seed_message(relay_env: RelayEnv) -> None:
    from pbxwatch.ewelink import MSG_NO_ACCESS_TOKEN

    relay_env.start()  # never authorized: no token file
    page = relay_env.http.get(f"{relay_env.url}/system").text
    assert MSG_NO_ACCESS_TOKEN in page and "нет токена" in page
    assert "нет файла пульса" in page  # no monitor runs in this test
    assert 'id="reauth"' not in page  # the link needs a login when an API token is configured
    with httpx.Client(timeout=30) as client:
        client.post(f"{relay_env.url}/login", data={"token": API_TOKEN, "next": "/system"})
        assert 'id="reauth"' in client.get(f"{relay_env.url}/system").text
