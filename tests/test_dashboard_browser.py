"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against a running stack:
the simulated fleet (real SSH) and cloud, `pbxwatch relay serve` and `pbxwatch monitor` as processes,
real PostgreSQL. Screenshots of each page go to the test's tmp dir (`screenshots/`).

Chromium comes from the system (`apt-get install chromium`), never from Playwright's downloads.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import insert

from pbxwatch.db.tables import enterprises, unit_live_status
from pbxwatch.sim.fleet import Mode
from tests.test_monitor_e2e import API_TOKEN, World, _answers, device_id, eventually, world_on

pytestmark = pytest.mark.slow

CHROMIUM = Path(os.environ.get("PBXWATCH_CHROMIUM", "/usr/bin/chromium"))
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
OFF_SECONDS = "5"  # long enough for a 2 s poll to see "cycling" at least twice
WAIT_MS = 90_000
# Every state the fleet row of a unit shows, recorded as htmx swaps the table in (no reload).
RECORD_STATES = """(number) => {
  const seen = window["seen_" + number] = [];
  const note = () => {
    const row = document.querySelector(`tr[data-unit="${number}"]`);
    const state = row && row.dataset.state;
    if (state && seen[seen.length - 1] !== state) seen.push(state);
  };
  note();
  new MutationObserver(note).observe(document.body, {childList: true, subtree: true});
}"""


async def start_stack(w: World) -> None:
    """The relay service shares the monitor's run dir, so the system page sees the heartbeat."""
    env = w.env(run_dir="run-monitor", PBXWATCH_OFF_SECONDS=OFF_SECONDS)
    w.spawn("relay", ["relay", "serve"], env)
    async with httpx.AsyncClient(timeout=5) as http:
        await eventually(lambda: _answers(http, f"{w.relay_url}/health"), what="relay service up")
        code = w.cloud.issue_code(f"{w.relay_url}/ewelink-callback/", region="eu")
        issued = await http.get(f"{w.relay_url}/ewelink-auth-url", headers={"Authorization": f"Bearer {API_TOKEN}"})
        state = parse_qs(urlsplit(issued.json()["auth_url"]).query)["state"][0]  # the callback needs it
        reply = await http.get(
            f"{w.relay_url}/ewelink-callback/", params={"code": code, "region": "eu", "state": state}
        )
        assert reply.status_code == 200, reply.text
    w.start_monitor(PBXWATCH_OFF_SECONDS=OFF_SECONDS)


async def add_probe_unit(w: World) -> None:
    """An inactive unit (never probed) whose name and last probe error carry markup."""
    async with w.db.begin() as conn:
        await conn.execute(insert(enterprises).values(number="599", name=XSS, host="probe.invalid", active=False))
        await conn.execute(
            insert(unit_live_status).values(
                enterprise_number="599", last_status="offline", last_error_message=XSS, failure_counter=3
            )
        )


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (Playwright's own downloads are not used)")
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def shot(page: Any, tmp_path: Path, name: str) -> None:
    folder = tmp_path / "screenshots"
    folder.mkdir(exist_ok=True)
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def test_the_dashboard_tells_the_story_live(pg_url: str, tmp_path: Path, browser: Any) -> None:
    async with world_on(pg_url, tmp_path, 3, relay_offline=(1,)) as w:
        [hung] = await w.add_units(1, start=1)
        [manual, other] = await w.add_units(2, auto=False, start=2)
        await add_probe_unit(w)
        await start_stack(w)
        await eventually(lambda: w.all_online([hung, manual, other]), what="baseline online")
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        fleet = await context.new_page()
        dialogs: list[str] = []
        fleet.on("dialog", lambda d: dialogs.append(d.message))
        await fleet.goto(w.relay_url + "/")
        await fleet.wait_for_selector(f'tr[data-unit="{hung}"][data-state="online"]')
        await fleet.evaluate(RECORD_STATES, hung)

        # a hung PBX: red (held: its relay is offline), then cycling once the relay is back, then green
        await w.fleet.set_mode("pbx001", Mode.CLI_HUNG)
        await fleet.wait_for_selector(f'tr[data-unit="{hung}"][data-state="held"]', timeout=WAIT_MS)
        await shot(fleet, tmp_path, "fleet-held")
        w.cloud.set_online(device_id(1), True)
        await fleet.wait_for_selector(f'tr[data-unit="{hung}"][data-state="cycling"]', timeout=WAIT_MS)
        await fleet.wait_for_selector(f'tr[data-unit="{hung}"][data-state="online"]', timeout=WAIT_MS)
        seen = await fleet.evaluate(f"window.seen_{hung}")
        assert seen[0] == "online" and seen[-1] == "online", seen
        assert seen.index("held") < seen.index("cycling") < len(seen) - 1, seen
        assert w.switches(device_id(1)) == [False, True]
        await shot(fleet, tmp_path, "fleet")

        await search_and_filter(fleet, w, manual, other, tmp_path)
        await probe_renders_as_text(context, w, tmp_path)
        assert dialogs == [] and await fleet.evaluate("window.__xss === undefined")

        # a hung PBX whose auto-reboot is off stays red until an operator power-cycles it from its page
        await fleet.goto(w.relay_url + "/")
        await fleet.evaluate(RECORD_STATES, manual)
        await w.fleet.set_mode("pbx002", Mode.CLI_HUNG)
        await fleet.wait_for_selector(f'tr[data-unit="{manual}"][data-state="offline"]', timeout=WAIT_MS)
        await shot(fleet, tmp_path, "fleet-offline")
        await refused_without_token(browser, w, manual)
        await power_cycle_button(context, w, manual, tmp_path)
        await fleet.wait_for_selector(f'tr[data-unit="{manual}"][data-state="online"]', timeout=WAIT_MS)
        seen = await fleet.evaluate(f"window.seen_{manual}")
        assert seen[:2] == ["online", "offline"] and seen[-1] == "online" and "cycling" in seen, seen
        await system_and_events(context, w, tmp_path)
        await context.close()


async def click_and_load(page: Any, selector: str) -> None:
    async with page.expect_navigation():
        await page.click(selector)


async def search_and_filter(page: Any, w: World, manual: str, other: str, tmp_path: Path) -> None:
    await page.fill("#q", "E2E 3")  # by name
    await click_and_load(page, "#search-submit")
    await page.wait_for_selector(f'tr[data-unit="{other}"]')
    assert await page.locator("tbody tr[data-unit]").count() == 1
    host = w.fleet.host("pbx002").address
    await page.fill("#q", host)  # by host
    await click_and_load(page, "#search-submit")
    await page.wait_for_selector(f'tr[data-unit="{manual}"]')
    assert await page.locator("tbody tr[data-unit]").count() == 1
    await page.fill("#q", "")
    await page.select_option("#state-filter", "paused")  # the inactive probe unit only
    await click_and_load(page, "#search-submit")
    await page.wait_for_selector('tr[data-unit="599"]')
    assert await page.locator("tbody tr[data-unit]").count() == 1
    await click_and_load(page, 'a[data-state="online"]')  # the count badge filters too
    await page.wait_for_selector(f'tr[data-unit="{manual}"]')
    states = await page.locator("tbody tr[data-unit]").evaluate_all("rows => rows.map(r => r.dataset.state)")
    assert states and set(states) == {"online"}, states
    await shot(page, tmp_path, "fleet-filtered")


async def probe_renders_as_text(context: Any, w: World, tmp_path: Path) -> None:
    page = await context.new_page()
    await page.goto(f"{w.relay_url}/unit/599")
    assert await page.text_content("#unit-name") == XSS
    assert await page.text_content("#unit-error") == XSS
    assert await page.evaluate("window.__xss === undefined")
    await shot(page, tmp_path, "unit-xss")
    await page.close()


async def refused_without_token(browser: Any, w: World, manual: str) -> None:
    """A browser without a session sees the button but the service refuses it (401) and switches nothing."""
    anonymous = await browser.new_context()
    page = await anonymous.new_page()
    await page.goto(f"{w.relay_url}/unit/{manual}/confirm/power-cycle")
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.click("#confirm")
    assert (await answer.value).status == 401
    assert w.switches(device_id(2)) == []
    reply = await page.request.post(f"{w.relay_url}/unit/{manual}/switch-on", form={"csrf": "guess"})
    assert reply.status == 401
    await anonymous.close()
    assert w.switches(device_id(2)) == []
    assert not [r for r in await w.history(manual) if r["action_type"]]


async def power_cycle_button(context: Any, w: World, manual: str, tmp_path: Path) -> None:
    page = await context.new_page()
    await page.goto(f"{w.relay_url}/login?next=/unit/{manual}")
    await page.fill("#token", API_TOKEN)
    await click_and_load(page, "#login-submit")
    await page.wait_for_url(f"**/unit/{manual}")
    before = await page.locator('#history tr[data-initiator="user"]').count()
    await click_and_load(page, "#power-cycle")
    text = await page.text_content("#confirm-text")
    assert manual in text and device_id(2) in text, text  # the confirmation names the unit and the relay
    await shot(page, tmp_path, "confirm")
    await click_and_load(page, "#confirm")
    await page.wait_for_selector("#done")
    # the live part polls: the rows of the cycle appear without a reload
    await page.wait_for_selector('#history tr[data-action="ewelink_toggle_on"][data-initiator="user"]', timeout=WAIT_MS)
    assert await page.locator('#history tr[data-initiator="user"]').count() == before + 3
    assert w.switches(device_id(2)) == [False, True]
    await eventually(lambda: w.all_online([manual]), what="the cycled unit back online")
    await shot(page, tmp_path, "unit")
    await page.close()


async def system_and_events(context: Any, w: World, tmp_path: Path) -> None:
    page = await context.new_page()
    await page.goto(f"{w.relay_url}/system")
    assert await page.text_content("#token-state") == "действителен"
    assert "active" in (await page.text_content("#sys-monitor") or "")
    assert await page.locator("#reauth").count() == 1  # logged in: the re-authorization link
    await shot(page, tmp_path, "system")
    await page.goto(f"{w.relay_url}/events")
    await page.select_option("#f-initiator", "user")
    await click_and_load(page, "#filter-submit")
    await page.wait_for_selector('tr[data-initiator="user"]')
    initiators = await page.locator("tbody tr[data-id]").evaluate_all("rows => rows.map(r => r.dataset.initiator)")
    assert set(initiators) == {"user"} and len(initiators) == 3, initiators
    await shot(page, tmp_path, "events")
    await page.close()
