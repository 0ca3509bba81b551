"""The watchdog's decisions (docs/design.md §3 table, §4): pure functions of (stored state, verdict, now, policy).

`decide` handles one check. When it asks for `CheckRelay`, the monitor reads the relay's `online`
flag and calls `relay_checked`; when that asks for `PowerCycle`, the monitor claims the cycle and
calls the relay service, then reports back with `cycle_started`, `cycle_claimed_elsewhere` or
`cycle_failed`. No function here reads a clock or performs I/O.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from pbxwatch.domain import flap
from pbxwatch.domain.evidence import counts_as_down
from pbxwatch.domain.maintenance import Occurrence
from pbxwatch.domain.policy import DAY, FleetView, Policy, sweep_done_at, within
from pbxwatch.domain.state import (
    Action,
    AwaitSweep,
    BlipEnded,
    CheckRelay,
    CycleFailed,
    Decision,
    GraceEnded,
    Hold,
    LiveWrite,
    MaintenanceEnded,
    MaintenanceStarted,
    Metrics,
    OutageConfirmed,
    PowerCycle,
    Recovered,
    SoftRestart,
    UnitState,
    WatchedUnit,
)
from pbxwatch.domain.verdicts import CheckResult
from pbxwatch.domain.vocabulary import ActionType, HoldKind, LiveStatus, Reason, Verdict

Step = tuple[UnitState, tuple[Action, ...]]


def decide(
    unit: WatchedUnit, state: UnitState, check: CheckResult, *, now: datetime, policy: Policy, fleet: FleetView
) -> Decision:
    """Apply one check result to a unit's state. Only evidence from the PBX counts as down (`evidence`)."""
    state, flapped = _count_for_flap(state, check, now, policy, fleet)
    decision = _decide(unit, state, check, now=now, policy=policy, fleet=fleet)
    return replace(decision, actions=(*flapped, *decision.actions)) if flapped else decision


def _decide(
    unit: WatchedUnit, state: UnitState, check: CheckResult, *, now: datetime, policy: Policy, fleet: FleetView
) -> Decision:
    if check.verdict is Verdict.UP:
        return _on_up(state, check, now, policy)
    down = counts_as_down(check.reason) and check.verdict is Verdict.DOWN
    if down and state.maintenance is not None:
        return _on_down_in_maintenance(state, check, now)
    if down and fleet.mass_outage:
        return _on_mass_outage(state, check, now)
    if down and in_boot_grace(state, now, policy):
        return _on_down_in_grace(state, check, now)
    if down:
        return _on_down(unit, state, check, now=now, policy=policy, fleet=fleet)
    return Decision(state, _unchanged_status(now, check.error_message()))


def relay_checked(unit: WatchedUnit, state: UnitState, online: bool, now: datetime, policy: Policy) -> Decision:
    """The relay service answered `GET /devices/{id}`: cycle, or hold while the relay is offline."""
    if unit.device_id is None or state.action_done or not state.confirmed or _paused(state):
        return Decision(state)  # the answer arrived after the situation changed
    if not online:
        reason = f"relay {unit.device_id} is offline: the site has probably lost power or internet"
        held, actions = _hold(replace(state, relay_offline_at=now), ActionType.SKIPPED_RELAY_OFFLINE, reason)
        return Decision(held, actions=actions)
    state = replace(state, relay_offline_at=None)
    if policy.dry_run:
        held, actions = _hold(state, ActionType.DRY_RUN, f"dry run: would power-cycle relay {unit.device_id}")
        return Decision(held, actions=actions)
    cycle = PowerCycle(unit.device_id, unit.outlet, idempotency_key(unit, state, now))
    return Decision(state, actions=(cycle,))


def cycle_started(state: UnitState, now: datetime) -> UnitState:
    """The claim succeeded and the relay service accepted the cycle (202 or 409 = already cycling)."""
    return replace(
        state,
        action_done=True,
        cycle_at=now,
        cycles=(*within(state.cycles, now, DAY), now),
        retry_cycle_at=None,
    )


def cycle_claimed_elsewhere(state: UnitState) -> UnitState:
    """The conditional claim touched no row: another monitor (or an earlier run) owns this outage's cycle."""
    return replace(state, action_done=True)


def relay_went_offline(unit: WatchedUnit, state: UnitState, now: datetime, policy: Policy) -> Decision:
    """The relay service re-read the relay before switching and found it offline (docs/design.md §5): the
    claim was released, so the unit is held as for a relay seen offline, and re-checked after the back-off."""
    return relay_checked(unit, replace(state, action_done=False), False, now, policy)


def cycle_failed(
    unit: WatchedUnit, state: UnitState, now: datetime, policy: Policy, *, reason: str, audit: bool
) -> Decision:
    """The cycle was not started; the claim is released and retried after a back-off.

    `audit` is true when nobody else recorded the failure (the relay service was unreachable):
    then one `fail` row per outage.
    """
    retry = replace(state, action_done=False, retry_cycle_at=now + policy.relay_recheck_interval)
    if not audit or state.cycle_failure_audited or unit.device_id is None:
        return Decision(retry)
    failed = CycleFailed(unit.device_id, reason)
    return Decision(replace(retry, cycle_failure_audited=True), actions=(failed,))


def maintenance_began(state: UnitState, occurrence: Occurrence) -> Decision:
    """The unit entered a window: checks go on, nothing is confirmed into an action until it ends."""
    return Decision(replace(state, maintenance=occurrence), actions=(MaintenanceStarted(occurrence),))


def maintenance_ended(state: UnitState, now: datetime) -> Decision:
    """The window is over. A unit still down is a new outage from now on: counting starts afresh."""
    occurrence = state.maintenance
    if occurrence is None:
        return Decision(state)
    down = state.last_status is LiveStatus.OFFLINE
    if not down:
        return Decision(replace(state, maintenance=None), actions=(MaintenanceEnded(occurrence, still_down=False),))
    fresh = replace(
        state,
        maintenance=None,
        failure_counter=0,
        confirmed=False,
        outage_since=None,
        holds=frozenset(),
        action_done=False,
        retry_cycle_at=None,
        relay_offline_at=None,
        cycle_failure_audited=False,
        soft_restart_at=None,
        sweep_awaited=False,
    )
    live = LiveWrite(
        now, None, 0, "maintenance window ended: still down, counted as a new outage", None, reset_action_done=True
    )
    return Decision(fresh, live, (MaintenanceEnded(occurrence, still_down=True),))


def soft_restarted(state: UnitState, ok: bool, now: datetime, policy: Policy) -> UnitState:
    """The restart command ran. One that failed skips the grace: the next failed check goes to the relay."""
    if ok or state.soft_restart_at is None:
        return state
    return replace(state, soft_restart_at=now - policy.restart_grace)


def operator_rearmed(state: UnitState) -> UnitState:
    """`pbxwatch units rearm` cleared `ewelink_action_done`: the next down may cycle again, without back-off."""
    return replace(state, action_done=False, retry_cycle_at=None)


def flap_restored(state: UnitState, memory: flap.FlapMemory) -> UnitState:
    """After a monitor (re)start: the flap memory rebuilt from the database replaces the empty one."""
    return replace(state, flap=memory)


def soft_restart_restored(state: UnitState, at: datetime) -> UnitState:
    """After a monitor (re)start: this outage already had its soft restart at `at`; it gets no second one."""
    return replace(state, soft_restart_at=at)


def flap_rearmed(state: UnitState, now: datetime) -> UnitState:
    """An operator ran `pbxwatch units rearm`: the flap hold is over, counting starts afresh."""
    return replace(state, flap=flap.released(state.flap, now))


def in_boot_grace(state: UnitState, now: datetime, policy: Policy) -> bool:
    return state.cycle_at is not None and now - state.cycle_at < policy.boot_grace


def idempotency_key(unit: WatchedUnit, state: UnitState, now: datetime) -> str:
    """One key per (unit, outage): a retried request for the same outage returns the same cycle."""
    since = state.outage_since or now
    return f"auto-{unit.number}-{since.strftime('%Y%m%dT%H%M%S')}"


def _on_up(state: UnitState, check: CheckResult, now: datetime, policy: Policy) -> Decision:
    actions: list[Action] = []
    cycle_at = state.cycle_at
    if cycle_at is not None and _fresh_uptime(check, cycle_at, now) and in_boot_grace(state, now, policy):
        actions.append(GraceEnded(check.uptime_seconds or 0))
        cycle_at = None
    if state.confirmed:
        actions.append(Recovered())
    elif state.failure_counter > 0:
        actions.append(BlipEnded(state.failure_counter))
    new = UnitState(
        last_status=LiveStatus.ONLINE,
        cycle_at=cycle_at,
        cycles=state.cycles,
        flap=state.flap,
        maintenance=state.maintenance,
    )
    metrics = Metrics(check.disk_usage_percent, check.line_stats, check.sip_peers)
    live = LiveWrite(now, LiveStatus.ONLINE, 0, None, metrics, reset_action_done=True)
    return Decision(new, live, tuple(actions))


def _on_mass_outage(state: UnitState, check: CheckResult, now: datetime) -> Decision:
    message = f"{Reason.MASS_OUTAGE.value}: {check.error_message()}"
    reason = f"mass outage: too many units down at once, {check.error_message()} counted as unknown"
    opened = replace(state, outage_since=state.outage_since or now)
    held, actions = _hold(opened, ActionType.SKIPPED_MASS_OUTAGE, reason)
    return Decision(held, _unchanged_status(now, message), actions)


def _on_down_in_maintenance(state: UnitState, check: CheckResult, now: datetime) -> Decision:
    """Planned work: the status is recorded as usual, the counter waits for the window to end."""
    live = LiveWrite(now, LiveStatus.OFFLINE, None, f"{check.error_message()} (maintenance)", None)
    return Decision(replace(state, last_status=LiveStatus.OFFLINE), live)


def _on_down_in_grace(state: UnitState, check: CheckResult, now: datetime) -> Decision:
    live = LiveWrite(now, LiveStatus.OFFLINE, None, f"{check.error_message()} (boot grace)", None)
    return Decision(replace(state, last_status=LiveStatus.OFFLINE), live)


def _on_down(
    unit: WatchedUnit, state: UnitState, check: CheckResult, *, now: datetime, policy: Policy, fleet: FleetView
) -> Decision:
    counter = state.failure_counter + 1
    state = replace(
        state, last_status=LiveStatus.OFFLINE, failure_counter=counter, outage_since=state.outage_since or now
    )
    live = LiveWrite(now, LiveStatus.OFFLINE, counter, check.error_message(), None)
    actions: tuple[Action, ...] = ()
    if not state.confirmed and counter >= policy.failure_threshold:
        state = replace(state, confirmed=True, flap=flap.outage_confirmed(state.flap, now, policy.flap))
        actions = (OutageConfirmed(counter, check.error_message()),)
        state, held = _assess_flap(state, now, policy)
        actions = (*actions, *held)
    if state.confirmed:
        state, more = _consider_cycle(unit, state, now, policy, fleet, check=check)
        actions = (*actions, *more)
    return Decision(state, live, actions)


def _consider_cycle(
    unit: WatchedUnit, state: UnitState, now: datetime, policy: Policy, fleet: FleetView, *, check: CheckResult
) -> Step:
    """A confirmed outage with no cycle yet: walk the safety rails of docs/design.md §4 in order."""
    if not unit.auto_cycle or state.action_done or _paused(state) or _waiting(state, now, policy):
        return state, ()
    soft = _soft_rung(unit, state, check, now, policy)
    if soft is not None:
        return soft
    if unit.device_id is None:
        return _hold(state, ActionType.SKIPPED_NO_RELAY, "no relay configured (ewelink_device_id is empty)")
    cap = _cap_reached(state, now, policy, fleet)
    if cap is not None:
        return _hold(state, ActionType.SKIPPED_DAILY_CAP, cap)
    return _power_rung(unit.device_id, state, now, policy, fleet)


def _power_rung(device_id: str, state: UnitState, now: datetime, policy: Policy, fleet: FleetView) -> Step:
    """Ask the relay, unless a dry run already said it would, or the mass-outage guard cannot judge yet: it
    needs one full sweep since the outage began (docs/design.md §4.2), else a fleet-wide drop looks like a few
    units down and the first ones to fail get cycled."""
    if policy.dry_run and ActionType.DRY_RUN in state.holds:
        return state, ()
    until = sweep_done_at(state.outage_since, now, policy, fleet)
    if now < until:
        return _await_sweep(state, until)
    return state, (CheckRelay(device_id),)


def _await_sweep(state: UnitState, until: datetime) -> Step:
    """The guard has not seen the whole fleet since this outage began: no cycle yet, one log line."""
    if state.sweep_awaited:
        return state, ()
    return replace(state, sweep_awaited=True), (AwaitSweep(until),)


def _paused(state: UnitState) -> bool:
    """In a maintenance window, or on flap hold: nothing automatic happens to the unit."""
    return state.maintenance is not None or state.flap.held


def _soft_rung(unit: WatchedUnit, state: UnitState, check: CheckResult, now: datetime, policy: Policy) -> Step | None:
    """SSH works but Asterisk is dead or its CLI hangs: restart it first (once per outage), then give it
    `restart_grace` to come back before the power rung. None: go on to the relay."""
    asterisk_dead = check.reason in (Reason.ASTERISK_NOT_RUNNING, Reason.CLI_HUNG)
    if unit.restart_command is not None and asterisk_dead and state.soft_restart_at is None:
        return replace(state, soft_restart_at=now), (SoftRestart(unit.restart_command),)
    if state.soft_restart_at is not None and now - state.soft_restart_at < policy.restart_grace:
        return state, ()  # Asterisk may still be starting
    return None


def _count_for_flap(state: UnitState, check: CheckResult, now: datetime, policy: Policy, fleet: FleetView) -> Step:
    """Feed the flap rule one check: planned work, a boot and a mass outage are not the unit flapping."""
    failed = check.verdict is Verdict.DOWN and counts_as_down(check.reason)
    counted = check.verdict is Verdict.UP or (
        failed and not fleet.mass_outage and not in_boot_grace(state, now, policy)
    )
    if not policy.flap.enabled:
        return state, ()
    if state.maintenance is not None or not counted:
        return _assess_flap(state, now, policy) if state.flap.held else (state, ())
    memory = flap.checked(state.flap, failed, now, policy.flap, sampled=not (failed and state.confirmed))
    return _assess_flap(replace(state, flap=memory), now, policy)


def _assess_flap(state: UnitState, now: datetime, policy: Policy) -> Step:
    memory, event = flap.assess(state.flap, state.cycles, now, policy.flap)
    return replace(state, flap=memory), (() if event is None else (event,))


def _waiting(state: UnitState, now: datetime, policy: Policy) -> bool:
    """A back-off is running: the relay service failed us, or the relay was offline at the last look."""
    if state.retry_cycle_at is not None and now < state.retry_cycle_at:
        return True
    offline_at = state.relay_offline_at
    return offline_at is not None and now - offline_at < policy.relay_recheck_interval


def _cap_reached(state: UnitState, now: datetime, policy: Policy, fleet: FleetView) -> str | None:
    """Why a cap forbids another automatic cycle now, or None (the fleet's hourly cap shares the row kind)."""
    today = len(within(state.cycles, now, DAY))
    if today >= policy.max_cycles_per_unit_per_day:
        cap = policy.max_cycles_per_unit_per_day
        return f"{today} automatic cycles in 24 h (max_cycles_per_unit_per_day={cap})"
    if fleet.auto_cycles_last_hour >= policy.max_auto_cycles_per_hour:
        return (
            f"fleet cap: {fleet.auto_cycles_last_hour} automatic cycles in the last hour "
            f"(max_auto_cycles_per_hour={policy.max_auto_cycles_per_hour})"
        )
    return None


def _hold(state: UnitState, kind: HoldKind, reason: str) -> Step:
    """Audit a hold once per (unit, outage, kind)."""
    if kind in state.holds:
        return state, ()
    return replace(state, holds=state.holds | {kind}), (Hold(kind, reason),)


def _unchanged_status(now: datetime, message: str) -> LiveWrite:
    """`unknown` (docs/design.md §3): status and counter unchanged, the reason recorded."""
    return LiveWrite(now, None, None, message, None)


def _fresh_uptime(check: CheckResult, cycle_at: datetime, now: datetime) -> bool:
    """The PBX booted after the cycle was requested: its uptime is younger than the cycle."""
    return check.uptime_seconds is not None and check.uptime_seconds <= (now - cycle_at).total_seconds()
