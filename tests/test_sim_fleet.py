"""The simulated fleet itself: real Asterisk layouts, the HTTP control surface, the standalone command."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from pbxwatch.asterisk import parse_pjsip_endpoints, parse_sip_peers
from pbxwatch.sim.fleet import FleetError, Mode, SimFleet, SimPeer
from pbxwatch.sim.fleet_scripts import pjsip_show_endpoints, sip_show_peers
from tests import loopback
from tests.cli_helpers import pbxwatch
from tests.fleet_fixtures import PBXWATCH, FleetProcess

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "asterisk"


def test_generated_chan_sip_rows_are_byte_identical_to_the_real_capture() -> None:
    real = (FIXTURES / "sip_show_peers_ast20_all_states.txt").read_text(encoding="utf-8").splitlines()
    peers = [
        SimPeer("201", status="unknown", host=None, port=0),
        SimPeer("202", status="unmonitored", host=None, port=0, description="Reception desk"),
        SimPeer("dead-trunk", status="unreachable", host="127.0.0.2", port=25999),
        SimPeer("slow-carrier", status="lagged", host="127.0.0.1", port=25093, latency_ms=70),
    ]
    generated = sip_show_peers(peers).splitlines()
    assert generated[:-1] == [real[0], real[1], real[2], real[3], real[6]]
    assert generated[-1] == "4 sip peers [Monitored: 1 online, 2 offline Unmonitored: 0 online, 1 offline]"
    stats = parse_sip_peers("\n".join(generated))
    assert (stats["total"], stats["parse_mismatch"], stats["unparsed"]) == (4, False, [])


def test_generated_pjsip_blocks_follow_the_real_layout() -> None:
    real = (FIXTURES / "pjsip_show_endpoints_ast20_in_use.txt").read_text(encoding="utf-8").splitlines()
    text = pjsip_show_endpoints([SimPeer("dead-carrier", status="unreachable", host="127.0.0.2", port=25999)])
    lines = text.splitlines()
    assert lines[:12] == real[:12]  # blank line, legend, rule, blank line
    assert lines[12] in real  # the endpoint row
    assert lines[14].startswith("      Contact:  dead-carrier/sip:127.0.0.2:25999           ")
    assert lines[14].endswith(" Unavail         nan")
    stats = parse_pjsip_endpoints(text)
    assert (stats["total"], stats["unreachable"], stats["parse_mismatch"], stats["unparsed"]) == (1, 1, False, [])


async def test_bad_fleet_parameters_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match="loopback only"):
        SimFleet(2, state_dir=tmp_path, base_address="10.0.0.1")
    with pytest.raises(FleetError, match="between 1 and"):
        SimFleet(0, state_dir=tmp_path)
    async with SimFleet(1, state_dir=tmp_path / "f", base_address=loopback.address()) as sim:
        with pytest.raises(FleetError, match="no simulated host"):
            await sim.set_mode("nope", Mode.HEALTHY)
        with pytest.raises(FleetError, match="unknown mode"):
            await sim.set_mode("pbx001", "sleepy")


async def test_the_control_surface_drives_modes_and_power(fleet: SimFleet) -> None:
    port = await fleet.serve_control()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        hosts = (await http.get("/hosts")).json()
        assert [h["name"] for h in hosts] == ["pbx001", "pbx002", "pbx003"]
        assert hosts[0]["host"] == fleet.host("pbx001").address
        changed = await http.post("/hosts/pbx002/mode", json={"mode": "cli_hung"})
        assert (changed.status_code, changed.json()["mode"]) == (200, "cli_hung")
        off = await http.post("/hosts/pbx003/power", json={"on": False})
        assert (off.json()["powered"], off.json()["effective_mode"]) == (False, "unreachable")
        assert (await http.post("/hosts/pbx009/power", json={"on": True})).status_code == 404
        bad = await http.post("/hosts/pbx001/mode", json={"mode": "sleepy"})
        assert bad.status_code == 422
        assert "unknown mode" in bad.json()["error"]
        missing = await http.post("/hosts/pbx001/power", json={})
        assert (missing.status_code, missing.json()["error"]) == (422, "bad request: on: Field required")
        known = await http.get("/known_hosts")
        assert known.text.count("ssh-ed25519") == 3
    assert fleet.host("pbx002").mode is Mode.CLI_HUNG


def test_the_standalone_fleet_and_pbxwatch_probe(fleet_process: FleetProcess) -> None:
    (name, address, port), (name2, address2, port2) = fleet_process.hosts
    assert (name, address, name2, address2) == ("pbx001", loopback.address(1), "pbx002", loopback.address(2))
    shown = subprocess.run(
        [str(PBXWATCH), "probe", address, "--port", str(port)],
        capture_output=True,
        text=True,
        env=fleet_process.env(COLUMNS="120"),
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"{address}:{port}  up  reason: ok" in shown.stdout
    assert "disk:    42% used" in shown.stdout
    assert "sip: 4 peers (ok 3, lagged 0, unreachable 0, unknown 1, unmonitored 0)" in shown.stdout
    assert "192.0.2.10" in shown.stdout  # the peer table

    httpx.post(f"{fleet_process.control}/hosts/{name2}/mode", json={"mode": "asterisk_not_running"}).raise_for_status()
    down = subprocess.run(
        [str(PBXWATCH), "probe", address2, "-p", str(port2), "--json"],
        capture_output=True,
        text=True,
        env=fleet_process.env(),
        timeout=60,
        check=False,
    )
    assert down.returncode == 1, down.stderr
    result = json.loads(down.stdout)
    assert (result["verdict"], result["reason"], result["line_stats"]) == ("down", "asterisk_not_running", None)


def test_pbxwatch_probe_trusts_a_new_key_only_when_asked(fleet_process: FleetProcess, tmp_path: Path) -> None:
    _, address, port = fleet_process.hosts[0]
    env = fleet_process.env(PBXWATCH_SSH_KNOWN_HOSTS=str(tmp_path / "kh"))
    refused = subprocess.run(
        [str(PBXWATCH), "probe", address, "--port", str(port), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 3
    assert json.loads(refused.stdout)["reason"] == "host_key_mismatch"
    trusted = subprocess.run(
        [str(PBXWATCH), "probe", address, "--port", str(port), "--trust-new-key", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert trusted.returncode == 0, trusted.stderr
    assert "trusting the new host key" in trusted.stderr
    assert (tmp_path / "kh").read_text().startswith(f"[{address}]:{port} ssh-ed25519 ")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["probe", "bad host"], {}, "error: bad host 'bad host'"),
        (["probe", "127.0.0.1"], {"PBXWATCH_SSH_USERNAME": ""}, "ssh.username"),
        (["probe", "127.0.0.1"], {"PBXWATCH_SSH_KEY_FILE": "/nonexistent/key"}, "ssh.key_file"),
        (["sim", "fleet", "--base-address", "10.1.1.1"], {}, "loopback only"),
    ],
)
def test_bad_arguments_give_a_clear_error_and_no_traceback(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    environment = {"PBXWATCH_SSH_USERNAME": "pbxwatch", "PBXWATCH_LOG_DIR": str(tmp_path / "logs"), **env}
    environment = {k: v for k, v in environment.items() if v}
    done = pbxwatch(*args, cwd=tmp_path, env=environment, timeout=60)
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
