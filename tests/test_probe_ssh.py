"""The prober against simulated PBXes over real SSH: every verdict and reason, kept connections,
reconnects, power cycles, host keys and credentials."""

from __future__ import annotations

import errno
import logging
import resource
import socket
from collections.abc import Iterator

import asyncssh
import pytest

from pbxwatch.domain.vocabulary import Reason, Verdict
from pbxwatch.probe import ProbeConfigError, SshProber
from pbxwatch.probe.failures import tcp_failure
from pbxwatch.probe.known_hosts import MANY_HASHED_ENTRIES
from pbxwatch.probe.ssh import RESERVED_DESCRIPTORS
from pbxwatch.sim.fleet import Mode, SimFleet, SimPeer, hash_known_host
from tests.fleet_fixtures import probe_options
from tests.loopback import address


def first(fleet: SimFleet) -> tuple[str, str, int]:
    host = next(iter(fleet.hosts.values()))
    return host.name, host.address, host.port


async def test_a_healthy_host_is_up_with_uptime_disk_and_its_peers(fleet: SimFleet, prober: SshProber) -> None:
    _, address, port = first(fleet)
    result = await prober.check(address, port)
    assert (result.verdict, result.reason, result.detail) == (Verdict.UP, Reason.OK, "")
    assert result.uptime_seconds is not None and result.uptime_seconds >= 86400
    assert result.disk_usage_percent == 42
    assert result.line_stats is not None
    assert (result.line_stats["source"], result.line_stats["total"], result.line_stats["ok"]) == ("sip", 4, 3)
    assert result.line_stats["unparsed"] == []


async def test_a_pjsip_host_reports_its_endpoints(fleet: SimFleet, prober: SshProber) -> None:
    name, address, port = first(fleet)
    peers = [SimPeer("trunk-a", host="198.51.100.7", latency_ms=25), SimPeer("6001", status="unreachable")]
    fleet.set_peers(name, peers, stack="pjsip")
    result = await prober.check(address, port)
    assert result.reason is Reason.OK
    assert result.line_stats is not None
    assert (result.line_stats["source"], result.line_stats["total"]) == ("pjsip", 2)
    trunk = next(p for p in result.line_stats["peers"] if p["name"] == "trunk-a")
    assert (trunk["host"], trunk["status"], trunk["latency_ms"]) == ("198.51.100.7", "ok", 25.0)


@pytest.mark.parametrize(
    ("mode", "verdict", "reason"),
    [
        (Mode.ASTERISK_NOT_RUNNING, Verdict.DOWN, Reason.ASTERISK_NOT_RUNNING),
        (Mode.CLI_HUNG, Verdict.DOWN, Reason.CLI_HUNG),
        (Mode.UNREACHABLE, Verdict.DOWN, Reason.CONNECT_REFUSED),
        (Mode.ASTERISK_MISSING, Verdict.UNKNOWN, Reason.ASTERISK_MISSING),
        (Mode.PERMISSION_DENIED, Verdict.UNKNOWN, Reason.PERMISSION_DENIED),
    ],
)
async def test_each_mode_gives_its_verdict_and_reason(
    fleet: SimFleet, prober: SshProber, mode: Mode, verdict: Verdict, reason: Reason
) -> None:
    name, address, port = first(fleet)
    assert (await prober.check(address, port)).reason is Reason.OK  # a kept connection exists
    await fleet.set_mode(name, mode)
    result = await prober.check(address, port)
    assert (result.verdict, result.reason) == (verdict, reason)
    assert result.detail
    await fleet.set_mode(name, Mode.HEALTHY)
    assert (await prober.check(address, port)).reason is Reason.OK


async def test_an_ssh_hung_host_is_a_banner_timeout(fleet: SimFleet) -> None:
    name, address, port = first(fleet)
    await fleet.set_mode(name, Mode.SSH_HUNG)
    async with SshProber(probe_options(fleet, connect_timeout=0.5)) as prober:
        result = await prober.check(address, port)
    assert (result.verdict, result.reason) == (Verdict.DOWN, Reason.BANNER_TIMEOUT)


@pytest.fixture
def full_backlog() -> Iterator[tuple[str, int]]:
    """A port whose accept queue is full: the kernel drops further SYNs, so a connect times out."""
    server = socket.socket()
    server.bind((address(slot=2), 0))
    server.listen(0)
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(server.getsockname())
        fillers.append(filler)
    yield server.getsockname()
    for sock in [*fillers, server]:
        sock.close()


async def test_a_host_that_never_answers_the_syn_is_a_connect_timeout(
    fleet: SimFleet, full_backlog: tuple[str, int]
) -> None:
    async with SshProber(probe_options(fleet, connect_timeout=0.5)) as prober:
        result = await prober.check(*full_backlog)
    assert (result.verdict, result.reason) == (Verdict.DOWN, Reason.CONNECT_TIMEOUT)


async def test_a_sweep_does_not_wait_for_a_hung_host(fleet: SimFleet) -> None:
    names = list(fleet.hosts)
    await fleet.set_mode(names[0], Mode.SSH_HUNG)
    await fleet.set_mode(names[1], Mode.CLI_HUNG)
    async with SshProber(probe_options(fleet, concurrency=2)) as prober:
        results = await prober.check_many(fleet.targets())
    assert [r.reason for r in results.values()] == [Reason.BANNER_TIMEOUT, Reason.CLI_HUNG, Reason.OK]


async def test_connections_are_kept_and_reused_between_checks(fleet: SimFleet, prober: SshProber) -> None:
    name, address, port = first(fleet)
    for _ in range(3):
        assert (await prober.check(address, port)).reason is Reason.OK
    host = fleet.host(name).view()
    assert (host["execs"], host["connections"]) == (3, 1)
    assert prober.open_connections == 1


async def test_the_kept_connection_uses_aes_gcm_when_the_server_offers_it(fleet: SimFleet, prober: SshProber) -> None:
    name, address, port = first(fleet)
    assert (await prober.check(address, port)).reason is Reason.OK
    (conn,) = fleet.host(name).connections
    assert conn.get_extra_info("recv_cipher") == "aes128-gcm@openssh.com"


async def test_past_the_kept_connection_limit_hosts_are_checked_over_fresh_connections(
    fleet: SimFleet, caplog: pytest.LogCaptureFixture
) -> None:
    targets = [(host.address, host.port) for host in fleet.hosts.values()]
    async with SshProber(probe_options(fleet, max_kept_connections=1)) as prober:
        for _ in range(2):
            results = await prober.check_many(targets)
            assert {r.reason for r in results.values()} == {Reason.OK}
        assert prober.open_connections == 1
        views = [fleet.host(name).view() for name in fleet.hosts]
        assert sorted(v["execs"] for v in views) == [2, 2, 2]
    assert [r.message for r in caplog.records if "open-file limit" in r.message][:1] and len(
        [r for r in caplog.records if "open-file limit" in r.message]
    ) == 1


def test_the_kept_connection_limit_follows_the_open_file_limit(fleet: SimFleet) -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    prober = SshProber(probe_options(fleet, concurrency=100))
    assert prober.keep_limit == max(0, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 100 - RESERVED_DESCRIPTORS)
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= soft


def test_running_out_of_descriptors_is_said_plainly_and_is_never_down() -> None:
    result = tcp_failure(OSError(errno.EMFILE, "Too many open files"))
    assert (result.verdict, result.reason) == (Verdict.UNKNOWN, Reason.PROBE_ERROR)
    assert "ran out of open files" in result.detail


async def test_a_restarted_sshd_is_reconnected_transparently(fleet: SimFleet, prober: SshProber) -> None:
    name, address, port = first(fleet)
    assert (await prober.check(address, port)).reason is Reason.OK
    await fleet.restart(name)
    result = await prober.check(address, port)
    assert result.reason is Reason.OK
    assert fleet.host(name).view()["connections"] == 1


async def test_power_off_is_down_and_power_on_boots_with_a_fresh_uptime(fleet: SimFleet, prober: SshProber) -> None:
    name, address, port = first(fleet)
    await fleet.set_mode(name, Mode.CLI_HUNG)
    await fleet.set_power(name, False)
    assert (await prober.check(address, port)).reason is Reason.CONNECT_REFUSED
    await fleet.set_power(name, True)
    assert (await prober.check(address, port)).reason is Reason.CONNECT_REFUSED  # still booting
    await fleet.wait_booted(name)
    result = await prober.check(address, port)
    assert result.reason is Reason.OK  # the power-cycle cured the hung CLI
    assert result.uptime_seconds is not None and result.uptime_seconds < 60


async def test_a_persistent_fault_survives_a_power_cycle(fleet: SimFleet, prober: SshProber) -> None:
    name, address, port = first(fleet)
    await fleet.set_mode(name, Mode.ASTERISK_NOT_RUNNING, persistent=True)
    await fleet.set_power(name, False)
    await fleet.set_power(name, True)
    await fleet.wait_booted(name)
    assert (await prober.check(address, port)).reason is Reason.ASTERISK_NOT_RUNNING


async def test_a_changed_host_key_is_unknown_with_a_loud_log_line(
    fleet: SimFleet, prober: SshProber, caplog: pytest.LogCaptureFixture
) -> None:
    name, address, port = first(fleet)
    assert (await prober.check(address, port)).reason is Reason.OK
    await fleet.restart(name, new_host_key=True)
    with caplog.at_level(logging.WARNING, logger="pbxwatch.probe"):
        result = await prober.check(address, port)
    assert (result.verdict, result.reason) == (Verdict.UNKNOWN, Reason.HOST_KEY_MISMATCH)
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR and "HOST KEY MISMATCH" in r.getMessage()]
    assert len(loud) == 1
    assert f"[{address}]:{port}" in loud[0].getMessage()


async def test_a_changed_key_is_refused_even_when_new_keys_are_accepted(fleet: SimFleet) -> None:
    name, address, port = first(fleet)
    await fleet.restart(name, new_host_key=True)
    async with SshProber(probe_options(fleet, accept_new_host_keys=True)) as prober:
        assert (await prober.check(address, port)).reason is Reason.HOST_KEY_MISMATCH


async def test_an_unknown_host_is_refused_unless_new_keys_are_accepted(fleet: SimFleet, tmp_path) -> None:
    _, address, port = first(fleet)
    known = tmp_path / "empty_known_hosts"
    async with SshProber(probe_options(fleet, known_hosts=known)) as prober:
        result = await prober.check(address, port)
    assert (result.verdict, result.reason) == (Verdict.UNKNOWN, Reason.HOST_KEY_MISMATCH)
    assert "not in" in result.detail
    async with SshProber(probe_options(fleet, known_hosts=known, accept_new_host_keys=True)) as prober:
        assert (await prober.check(address, port)).reason is Reason.OK
    assert known.read_text().startswith(f"[{address}]:{port} ssh-ed25519 ")
    async with SshProber(probe_options(fleet, known_hosts=known)) as prober:  # remembered
        assert (await prober.check(address, port)).reason is Reason.OK


async def test_an_edited_known_hosts_file_counts_from_the_next_connection(fleet: SimFleet, prober: SshProber) -> None:
    name, address, port = first(fleet)
    assert (await prober.check(address, port)).reason is Reason.OK
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().strip()
    fleet.known_hosts_file.write_text(f"# re-keyed by hand\n[{address}]:{port} {stranger}\n", encoding="utf-8")
    await fleet.restart(name)  # the kept connection drops; the next one reads the edited file
    assert (await prober.check(address, port)).reason is Reason.HOST_KEY_MISMATCH
    fleet.write_known_hosts()
    assert (await prober.check(address, port)).reason is Reason.OK


async def test_a_hashed_known_hosts_file_is_trusted_and_a_large_one_is_said_once(
    fleet: SimFleet, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().strip()
    lines = [f"{hash_known_host(f'[10.9.{i // 250}.{i % 250}]:22')} {other}" for i in range(MANY_HASHED_ENTRIES)]
    lines += fleet.known_hosts_lines(hashed=True)
    known = tmp_path / "hashed_known_hosts"
    known.write_text("\n".join(lines) + "\n", encoding="utf-8")
    name, address, port = first(fleet)
    with caplog.at_level(logging.WARNING, logger="pbxwatch.probe"):
        async with SshProber(probe_options(fleet, known_hosts=known)) as prober:
            results = await prober.check_many(fleet.targets())
            with known.open("a", encoding="utf-8") as more:  # as a remembered new key would
                more.write("10.9.9.9 " + other + "\n")
            await fleet.restart(name)
            again = await prober.check(address, port)  # a new connection re-reads the file
    assert {r.reason for r in [*results.values(), again]} == {Reason.OK}
    said = [r.getMessage() for r in caplog.records if "hashed entries" in r.getMessage()]
    assert said == [
        f"known_hosts {known} holds {MANY_HASHED_ENTRIES + 3} hashed entries: the first connection to each host "
        "tests every one of them (about 3 ms a host per 1,000 entries); keep pbxwatch's own file unhashed "
        "(ssh-keyscan without -H writes plain lines)"
    ]


async def test_a_wrong_user_is_an_authentication_failure(fleet: SimFleet) -> None:
    _, address, port = first(fleet)
    async with SshProber(probe_options(fleet, username="intruder")) as prober:
        result = await prober.check(address, port)
    assert (result.verdict, result.reason) == (Verdict.UNKNOWN, Reason.AUTH_FAILED)


async def test_password_authentication(tmp_path) -> None:
    async with SimFleet(1, state_dir=tmp_path / "pw", password="s3cret-pw", base_address=address(slot=1)) as sim:
        host = next(iter(sim.hosts.values()))
        good = probe_options(sim, key_file=None, password="s3cret-pw")
        bad = probe_options(sim, key_file=None, password="wrong")
        async with SshProber(good) as prober:
            assert (await prober.check(host.address, host.port)).reason is Reason.OK
        async with SshProber(bad) as prober:
            assert (await prober.check(host.address, host.port)).reason is Reason.AUTH_FAILED
    assert "s3cret-pw" not in repr(good)


async def test_unresolvable_host_name_is_unknown(prober: SshProber) -> None:
    result = await prober.check("no-such-pbx.invalid", 22)
    assert (result.verdict, result.reason) == (Verdict.UNKNOWN, Reason.PROBE_ERROR)


def test_bad_options_fail_at_construction_with_one_line(fleet: SimFleet, tmp_path) -> None:
    with pytest.raises(ProbeConfigError, match="asterisk command"):
        SshProber(probe_options(fleet, asterisk_command="asterisk; reboot"))
    (tmp_path / "junk_key").write_text("not a key")
    with pytest.raises(ProbeConfigError, match=r"ssh\.key_file"):
        SshProber(probe_options(fleet, key_file=tmp_path / "junk_key"))


def test_options_come_from_the_ssh_settings() -> None:
    from pbxwatch.config import Settings
    from pbxwatch.probe import ProbeOptions

    settings = Settings.model_validate(
        {
            "ssh": {
                "username": "mon",
                "key_file": "/k",
                "password": "pw",
                "known_hosts": "/kh",
                "accept_new_host_keys": True,
                "connect_timeout": 3,
                "command_timeout": 7,
                "concurrency": 50,
                "asterisk_command": "sudo -n asterisk",
            }
        }
    )
    options = ProbeOptions.from_settings(settings.ssh, concurrency=10)
    assert (options.username, str(options.key_file), options.password, str(options.known_hosts_path)) == (
        "mon",
        "/k",
        "pw",
        "/kh",
    )
    assert (options.accept_new_host_keys, options.connect_timeout, options.command_timeout) == (True, 3.0, 7.0)
    assert (options.concurrency, options.asterisk_command) == (10, "sudo -n asterisk")
    assert "pw" not in repr(options)


async def test_a_host_whose_commands_hang_is_a_command_timeout_and_the_link_is_not_kept(fleet: SimFleet) -> None:
    name, address, port = first(fleet)
    async with SshProber(probe_options(fleet, command_timeout=2.0)) as prober:
        assert (await prober.check(address, port)).reason is Reason.OK
        await fleet.set_mode(name, Mode.COMMAND_HUNG)
        result = await prober.check(address, port)
        assert (result.verdict, result.reason) == (Verdict.DOWN, Reason.COMMAND_TIMEOUT)
        assert prober.open_connections == 0
        await fleet.set_mode(name, Mode.HEALTHY)
        assert (await prober.check(address, port)).reason is Reason.OK


async def test_a_kept_connection_to_a_host_that_hangs_later_becomes_a_banner_timeout(fleet: SimFleet) -> None:
    name, address, port = first(fleet)
    async with SshProber(probe_options(fleet)) as prober:
        assert (await prober.check(address, port)).reason is Reason.OK
        await fleet.set_mode(name, Mode.SSH_HUNG)
        assert (await prober.check(address, port)).reason is Reason.BANNER_TIMEOUT
        await fleet.set_mode(name, Mode.HEALTHY)
        assert (await prober.check(address, port)).reason is Reason.OK


async def test_a_host_name_is_resolved_and_each_address_tried(tmp_path) -> None:
    async with SimFleet(1, state_dir=tmp_path / "lo", base_address="127.0.0.1") as sim:
        port = next(iter(sim.hosts.values())).port
        options = probe_options(sim, known_hosts=tmp_path / "kh", accept_new_host_keys=True)
        async with SshProber(options) as prober:
            result = await prober.check("localhost", port)
    assert result.reason is Reason.OK
    assert (tmp_path / "kh").read_text().startswith(f"[localhost]:{port} ")
