"""The soft restart over real SSH: the prober runs the command on its kept connection, and the simulated
fleet's fake `sudo -n systemctl restart asterisk` brings a dead Asterisk back, or fails as systemd does."""

from __future__ import annotations

from pbxwatch.domain.vocabulary import Reason
from pbxwatch.probe import SshProber
from pbxwatch.sim.fleet import Mode, SimFleet

RESTART = "sudo -n systemctl restart asterisk"


async def test_a_dead_asterisk_comes_back_when_restarted_over_ssh(fleet: SimFleet, prober: SshProber) -> None:
    host = fleet.host("pbx001")
    await fleet.set_mode("pbx001", Mode.ASTERISK_NOT_RUNNING)
    assert (await prober.check(host.address, host.port)).reason is Reason.ASTERISK_NOT_RUNNING
    run = await prober.run_restart(host.address, host.port, RESTART)
    assert (run.ok, run.exit_status) == (True, 0)
    after = await prober.check(host.address, host.port)
    assert after.reason is Reason.OK
    assert after.uptime_seconds is not None and after.uptime_seconds < 60  # Asterisk started afresh
    assert host.restarts == 1 and prober.open_connections == 1  # the same kept connection


async def test_a_hung_cli_is_restarted_too(fleet: SimFleet, prober: SshProber) -> None:
    host = fleet.host("pbx002")
    await fleet.set_mode("pbx002", Mode.CLI_HUNG)
    assert (await prober.run_restart(host.address, host.port, RESTART)).ok
    assert (await prober.check(host.address, host.port)).reason is Reason.OK


async def test_a_restart_that_fails_says_what_systemd_said(fleet: SimFleet, prober: SshProber) -> None:
    host = fleet.host("pbx003")
    await fleet.set_mode("pbx003", Mode.ASTERISK_NOT_RUNNING, restart_cures=False)
    run = await prober.run_restart(host.address, host.port, RESTART)
    assert (run.ok, run.exit_status) == (False, 1)
    assert "Job for asterisk.service failed" in run.output
    assert (await prober.check(host.address, host.port)).reason is Reason.ASTERISK_NOT_RUNNING
    assert host.restarts == 0


async def test_a_host_whose_ssh_is_down_reports_no_exit_status(fleet: SimFleet, prober: SshProber) -> None:
    host = fleet.host("pbx001")
    await fleet.set_mode("pbx001", Mode.UNREACHABLE)
    run = await prober.run_restart(host.address, host.port, RESTART)
    assert run.exit_status is None and not run.ok
    assert "connect_refused" in run.output
