"""The story the demo plays, step by step, each step checked against the database and the simulators.

1. the operator authorizes pbxwatch with eWeLink (OAuth against the simulated cloud, no account needed);
2. every PBX answers;
3. three incidents at once: Asterisk hangs at one site (and will not restart), another site loses power
   (PBX and relay dark), a third site's Asterisk stops where auto-reboot is off;
4. the hung PBX is detected, its soft restart over SSH fails, it is power-cycled and comes back;
4a. once it is back, a fourth site's Asterisk dies (one at a time, or 4 of 12 down would be a mass
   outage): it is restarted over SSH and answers again, without a power-cut;
5. the dark site is left alone and reported (`skipped_relay_offline`), no switch reaches its relay;
6. the site without auto-reboot is only reported, then repaired by hand and recorded back up;
7. an operator switches a relay on with `POST /toggle`, and the action is audited;
8. the operator was told: each incident's messages reached the notification receiver, in order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
from sqlalchemy import select

from pbxwatch.db.tables import unit_live_status, unit_status_history
from pbxwatch.demo.plan import DEMO_MONITOR, ROLE_DARK, ROLE_HANG, ROLE_MANUAL, ROLE_RESTART, ROLE_TOGGLE, unit_of
from pbxwatch.demo.stack import DemoStack
from pbxwatch.domain.policy import SWEEP_SLACK
from pbxwatch.sim.fleet import Mode

POLL = 0.5
STEP_TIMEOUT = 90.0


class StepFailed(Exception):
    """A step of the story did not happen as expected; the message says what was missing."""


@dataclass
class Step:
    title: str
    status: str = "waiting"  # waiting | running | passed | failed
    detail: str = ""


@dataclass
class Story:
    stack: DemoStack
    say: Callable[[str], None]
    steps: dict[str, Step] = field(default_factory=dict)

    def __post_init__(self) -> None:
        units = self.stack.units
        hang, dark = unit_of(units, ROLE_HANG), unit_of(units, ROLE_DARK)
        manual, toggle = unit_of(units, ROLE_MANUAL), unit_of(units, ROLE_TOGGLE)
        restart = unit_of(units, ROLE_RESTART)
        self.steps = {
            "authorize": Step("eWeLink authorization (OAuth) through the relay service"),
            "baseline": Step(f"all {len(units)} PBXes answer"),
            "hang": Step(
                f"{hang.number} {hang.name}: Asterisk hangs, its restart fails → its shared relay "
                "power-cycled, back online"
            ),
            "restart": Step(f"{restart.number} {restart.name}: Asterisk dies → restarted over SSH, no power-cut"),
            "dark": Step(f"{dark.number} {dark.name}: site dark, relay offline → left alone and reported"),
            "manual": Step(f"{manual.number} {manual.name}: auto-reboot off → outage reported only"),
            "toggle": Step(f"{toggle.number} {toggle.name}: operator's POST /toggle is audited"),
            "messages": Step("the operator was told: one thread of messages per incident"),
        }

    @property
    def passed(self) -> bool:
        return all(s.status == "passed" for s in self.steps.values())

    async def run(self) -> None:
        await self._step("authorize", self._authorize)
        await self._step("baseline", self._baseline)
        await self._incidents()
        await asyncio.gather(
            self._step("hang", self._hang),
            self._step("restart", self._restart),
            self._step("dark", self._dark),
            self._step("manual", self._manual),
            self._step("toggle", self._toggle),
        )
        await self._step("messages", self._messages)

    async def _step(self, key: str, body: Callable[[], Awaitable[str]]) -> None:
        step = self.steps[key]
        step.status = "running"
        try:
            step.detail = await asyncio.wait_for(body(), STEP_TIMEOUT)
            step.status = "passed"
            self.say(f"✔ {step.title}: {step.detail}")
        except (StepFailed, TimeoutError, httpx.HTTPError) as err:
            step.status, step.detail = "failed", str(err) or f"not within {STEP_TIMEOUT:.0f} s"
            self.say(f"✘ {step.title}: {step.detail}")

    async def _authorize(self) -> str:
        relay = self.stack.relay_url
        async with httpx.AsyncClient(timeout=10.0) as http:
            auth_url = (await http.get(f"{relay}/ewelink-auth-url")).json()["auth_url"]
            self.say(f"GET /ewelink-auth-url → {auth_url.split('?')[0]}?…")
            page = await http.get(auth_url)  # the simulated login approves at once and redirects
            callback = page.headers.get("location", "")
            if page.status_code != 302 or "/ewelink-callback" not in callback:
                raise StepFailed(f"the authorization page answered {page.status_code}, not a redirect")
            answer = await http.get(callback)
            if answer.status_code != 200:
                raise StepFailed(f"GET /ewelink-callback/ answered {answer.status_code}: {answer.text[:200]}")
            health = (await http.get(f"{relay}/health")).json()
        if health["token"] != "valid":  # noqa: S105 - a token *state* word, not a secret
            raise StepFailed(f"after the callback the token is {health['token']}")
        return "token saved, /health says the token is valid"

    async def _baseline(self) -> str:
        numbers = {u.number for u in self.stack.units}
        while True:
            live = await self._live()
            online = {n for n, row in live.items() if row["last_status"] == "online"}
            if numbers <= online:
                return f"{len(online)} online"
            await asyncio.sleep(POLL)

    async def _incidents(self) -> None:
        fleet, cloud, units = self.stack.fleet, self.stack.cloud, self.stack.units
        assert fleet is not None and cloud is not None
        hang, dark, manual = unit_of(units, ROLE_HANG), unit_of(units, ROLE_DARK), unit_of(units, ROLE_MANUAL)
        self.say(f"! {hang.number}: Asterisk hangs (the CLI stops answering) and will not restart")
        await fleet.set_mode(hang.host_name, Mode.CLI_HUNG, restart_cures=False)
        self.say(f"! {dark.number}: the site loses power — PBX unreachable and its relay offline")
        assert dark.device_id is not None
        cloud.set_online(dark.device_id, False)
        await fleet.set_power(dark.host_name, False)
        self.say(f"! {manual.number}: Asterisk stops (auto-reboot is off for this enterprise)")
        await fleet.set_mode(manual.host_name, Mode.ASTERISK_NOT_RUNNING)

    async def _hang(self) -> str:
        unit = unit_of(self.stack.units, ROLE_HANG)
        expected = ["on→off", "asterisk_restart:fail", "ewelink_power_cycle:success", "ewelink_toggle_off:success",
                    "ewelink_toggle_on:success", "off→on"]  # fmt: skip
        while True:
            kinds = [k for k in await self._history_kinds(unit.number) if k in expected]
            live = (await self._live()).get(unit.number, {})
            if kinds == expected and live.get("last_status") == "online" and live.get("ewelink_action_done") is False:
                break
            await asyncio.sleep(POLL)
        switches = self._switch_requests(unit.device_id)
        if switches != [False, True]:
            raise StepFailed(f"the cloud saw switches {switches}, expected exactly one off then one on")
        if unit.shared_relay and not self._read_as_shared(unit.device_id):
            raise StepFailed("the shared relay was never read fresh as a shared device (itemType 2)")
        return (
            "history on→off, asterisk_restart fail, power_cycle, toggle_off, toggle_on, off→on; "
            "one off and one on reached the cloud"
        )

    async def _restart(self) -> str:
        unit, hang = unit_of(self.stack.units, ROLE_RESTART), unit_of(self.stack.units, ROLE_HANG)
        await self._wait_kind(hang.number, "off→on")
        assert self.stack.fleet is not None
        self.say(f"! {unit.number}: Asterisk dies (the box itself is fine)")
        await self.stack.fleet.set_mode(unit.host_name, Mode.ASTERISK_NOT_RUNNING)
        expected = ["on→off", "asterisk_restart:success", "off→on"]
        while [k for k in await self._history_kinds(unit.number) if not k.startswith("held")] != expected:  # noqa: ASYNC110 - another process writes it
            await asyncio.sleep(POLL)
        if self._switch_requests(unit.device_id):
            raise StepFailed("a switch request reached the relay of a unit whose Asterisk was restarted")
        return "history on→off, asterisk_restart success, off→on; nothing switched"

    def _read_as_shared(self, device_id: str | None) -> bool:
        """The cloud was asked for this relay as a device shared to the account (POST /v2/device/thing)."""
        assert self.stack.cloud is not None
        for request in self.stack.cloud.requests("/v2/device/thing"):
            if request.method == "POST" and request.path == "/v2/device/thing":
                items = json.loads(request.body or b"{}").get("thingList", [])
                if {"itemType": 2, "id": device_id} in items:
                    return True
        return False

    async def _dark(self) -> str:
        unit = unit_of(self.stack.units, ROLE_DARK)
        await self._wait_kind(unit.number, "skipped_relay_offline")
        if self._switch_requests(unit.device_id):
            raise StepFailed("a switch request reached the offline relay")
        return "skipped_relay_offline recorded, nothing switched"

    async def _manual(self) -> str:
        unit = unit_of(self.stack.units, ROLE_MANUAL)
        await self._wait_kind(unit.number, "on→off")
        await asyncio.sleep(self.stack_retry_window())
        kinds = await self._history_kinds(unit.number)
        if any(k.startswith(("ewelink_", "skipped_")) for k in kinds):
            raise StepFailed(f"unexpected relay action for a unit without auto-reboot: {kinds}")
        assert self.stack.fleet is not None
        self.say(f"! {unit.number}: an engineer restarts Asterisk by hand")
        await self.stack.fleet.set_mode(unit.host_name, Mode.HEALTHY)
        await self._wait_kind(unit.number, "off→on")
        return "outage recorded (on→off), never switched, recovery recorded (off→on)"

    async def _toggle(self) -> str:
        unit = unit_of(self.stack.units, ROLE_TOGGLE)
        body = {"device_id": unit.device_id, "state": True, "enterprise_number": unit.number, "initiator": "user"}
        self.say(f"POST /toggle {json.dumps(body)}")
        async with httpx.AsyncClient(timeout=15.0) as http:
            answer = await http.post(f"{self.stack.relay_url}/toggle", json=body)
        if answer.status_code != 200:
            raise StepFailed(f"POST /toggle answered {answer.status_code}: {answer.text[:200]}")
        while True:
            rows = await self._history(unit.number)
            if any(r["action_type"] == "ewelink_toggle_on" and r["action_result"] == "success"
                   and r["user_initiator"] == "user" for r in rows):  # fmt: skip
                return "ewelink_toggle_on / success / user recorded in unit_status_history"
            await asyncio.sleep(POLL)

    async def _messages(self) -> str:
        """Each incident's messages, in order, exactly once (the relay's "back ON" may come in between)."""
        units = self.stack.units
        hang, dark, manual = unit_of(units, ROLE_HANG), unit_of(units, ROLE_DARK), unit_of(units, ROLE_MANUAL)
        expected = {
            hang.number: ["АТС не отвечает", "перезагрузка по питанию", "АТС снова в сети"],
            dark.number: ["АТС не отвечает", "перезагрузка отложена"],
            manual.number: ["АТС не отвечает", "АТС снова в сети"],
        }
        names = {u.number: u.name for u in units}
        assert self.stack.inbox is not None
        while True:
            got = {n: self._told(n, names[n]) for n in expected}
            if all(got[n] == want for n, want in expected.items()):
                break
            if any(got[n][: len(want)] != want[: len(got[n])] for n, want in expected.items()):
                raise StepFailed(f"messages out of order or repeated: {got}")
            await asyncio.sleep(POLL)
        bodies = [m.body for m in self.stack.inbox.messages if m.title.startswith(f"pbxwatch: {manual.number} ")]
        if "автоперезагрузка для этого предприятия выключена" not in bodies[0]:
            raise StepFailed("the outage message of the unit without auto-reboot does not say so")
        return f"{len(self.stack.inbox.messages)} messages, each incident told in order"

    def _told(self, number: str, name: str) -> list[str]:
        """The titles of one unit's messages, without the relay's "back ON" read-back."""
        assert self.stack.inbox is not None
        prefix = f"pbxwatch: {number} {name} — "
        return [
            t.removeprefix(prefix)
            for t in self.stack.inbox.titles()
            if t.startswith(prefix) and not t.endswith("реле снова включено")
        ]

    def stack_retry_window(self) -> float:
        """Long enough for a wrongly scheduled cycle to show up after the outage was confirmed. A cycle waits
        for the mass-outage guard's sweep (poll_interval x SWEEP_SLACK from the first failed check), which ends
        that much after the confirming check ((failure_threshold - 1) retries after the first)."""
        poll, retry, threshold = (
            cast(float, DEMO_MONITOR[k]) for k in ("poll_interval", "retry_interval", "failure_threshold")
        )
        return 6.0 + max(0.0, poll * SWEEP_SLACK - (threshold - 1) * retry)

    def _switch_requests(self, device_id: str | None) -> list[bool]:
        assert self.stack.cloud is not None
        states = []
        for request in self.stack.cloud.requests("/v2/device/thing/status"):
            if request.method != "POST":
                continue
            body = json.loads(request.body or b"{}")
            if body.get("id") != device_id:
                continue
            params = body.get("params", {})
            switch = params.get("switch") or next((s.get("switch") for s in params.get("switches", [])), None)
            states.append(switch == "on")
        return states

    async def _live(self) -> dict[str, dict[str, Any]]:
        async with self.stack.database.connect() as conn:
            rows = (await conn.execute(select(unit_live_status))).mappings().all()
        return {r["enterprise_number"]: dict(r) for r in rows}

    async def _history(self, number: str) -> list[dict[str, Any]]:
        h = unit_status_history.c
        async with self.stack.database.connect() as conn:
            rows = (await conn.execute(select(unit_status_history).where(h.enterprise_number == number)
                                       .order_by(h.id))).mappings().all()  # fmt: skip
        return [dict(r) for r in rows]

    async def _wait_kind(self, number: str, kind: str) -> None:
        """Poll the database the services write until the unit has a history row of this kind."""
        while kind not in await self._history_kinds(number):  # noqa: ASYNC110 - another process writes it
            await asyncio.sleep(POLL)

    async def _history_kinds(self, number: str) -> list[str]:
        return [history_kind(r) for r in await self._history(number)]


def history_kind(row: dict[str, Any]) -> str:
    """`on→off` for a status change, `action:result` (or just `action` for a hold) otherwise."""
    if row["action_type"] is None:
        return f"{row['prev_status']}→{row['new_status']}"
    return f"{row['action_type']}:{row['action_result']}" if row["action_result"] else row["action_type"]
