"""The monitor at fleet scale: CPU per check (monitor and PostgreSQL), RSS, flush lag, sweep time, SIGTERM.

    .venv/bin/python benchmarks/fleet_scale.py                          # 1,000 / 5,000 / 20,000 units, poll 60 s
    .venv/bin/python benchmarks/fleet_scale.py --units 1000,5000 --poll 20 --sweeps 3

For each fleet size: a throwaway PostgreSQL database (created and dropped; PBXWATCH_BENCH_ADMIN_URL, default
postgresql://postgres@127.0.0.1:5432/postgres) with N active units, a canned SSH fleet (benchmarks/canned_fleet.py:
asyncssh servers, at most 5,000 hosts per process, answering every check at once with the Asterisk fixtures,
so the fleet is not the bottleneck) and the real `pbxwatch monitor` as a subprocess, so its CPU and RSS can be
read from /proc. After the first sweep (every unit checked up once) and `--settle` more poll intervals, the
measured window lasts `--sweeps` poll intervals; then SIGTERM, and the time until the monitor has exited.

- monitor / PostgreSQL CPU per check: CPU seconds in the window (the monitor's /proc/<pid>/stat; the
  backends serving the monitor's connections, their pids from pg_stat_activity) / checks the fleet answered;
- flush lag: time from a check to the moment this script saw its live row (`last_checked_at`) in the database,
  sampled every `--sample` seconds, so it over-states the real lag by up to one sampling period;
- longest gap: the longest time between two checks of one unit in the window (at most the poll interval plus
  the check when every sweep ends in time);
- RSS of the monitor at the end of the window, and that divided by the kept SSH connections (one per unit).
Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import asyncssh

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from canned_fleet import address  # noqa: E402 -- after the path to benchmarks/

from pbxwatch.db.migrate import upgrade_url  # noqa: E402

ADMIN = os.environ.get("PBXWATCH_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PBXWATCH = Path(sys.executable).with_name("pbxwatch")
HOSTS_PER_FLEET = 1000  # spreads the first sweep's key exchanges over processes (a listener and a connection each)
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except OSError:
        return 0.0


@dataclass
class Sample:
    """What the sampler has seen: CPU per process, each unit's last check, lags and gaps in the window."""

    pg_cpu: dict[int, float] = field(default_factory=dict)  # backend pid -> last CPU seconds read
    seen: dict[str, float] = field(default_factory=dict)  # unit -> last_checked_at (epoch seconds)
    lags: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    measuring: bool = False


@dataclass
class Result:
    units: int
    poll: float
    first_sweep: float = 0.0
    first_sweep_up: int | None = None  # units checked up when the first sweep was given up on
    window: float = 0.0
    checks: int = 0
    monitor_cpu: float = 0.0
    pg_cpu: float = 0.0
    rss: float = 0.0
    lags: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    stop_s: float = 0.0
    flushed: str = ""


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fill(url: str, units: int, port: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table(
            "enterprises",
            columns=["number", "name", "host", "ssh_port", "active", "parameter_option_2"],
            records=[(f"{100000 + i}", f"Customer {i}", address(i), port, True, False) for i in range(units)],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def make_keys(state: Path, units: int, port: int) -> None:
    host_key, client_key = asyncssh.generate_private_key("ssh-ed25519"), asyncssh.generate_private_key("ssh-ed25519")
    host_key.write_private_key(str(state / "host_key"))
    client_key.write_private_key(str(state / "client_key"))
    client_key.write_public_key(str(state / "client_key.pub"))
    public = host_key.export_public_key().decode().strip()
    lines = (f"[{address(i)}]:{port} {public}\n" for i in range(units))
    (state / "known_hosts").write_text("".join(lines), encoding="utf-8")


def start_fleet(state: Path, units: int, port: int) -> list[subprocess.Popen[str]]:
    fleets = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "canned_fleet.py"),
                "--first",
                str(first),
                "--count",
                str(min(HOSTS_PER_FLEET, units - first)),
                "--port",
                str(port),
                "--state",
                str(state),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for first in range(0, units, HOSTS_PER_FLEET)
    ]
    for fleet in fleets:
        if fleet.stdout is None or fleet.stdout.readline().strip() != "ready":
            raise SystemExit("the canned fleet did not start")
    return fleets


def served(state: Path) -> int:
    return sum(int(p.read_text() or 0) for p in state.glob("served-*"))


def start_monitor(state: Path, url: str, poll: float, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBXWATCH_")}
    env.update(
        {
            "PBXWATCH_SYSTEM_CONFIG": str(state / "no-system-config.toml"),
            "PBXWATCH_CONFIG": str(state / "pbxwatch.toml"),
            "PBXWATCH_DATABASE_URL": url,
            "PBXWATCH_LOG_DIR": str(state / "logs"),
            "PBXWATCH_RUN_DIR": str(state / "run"),
            "PBXWATCH_SSH_USERNAME": "pbxwatch",
            "PBXWATCH_SSH_KEY_FILE": str(state / "client_key"),
            "PBXWATCH_SSH_KNOWN_HOSTS": str(state / "known_hosts"),
            "PBXWATCH_SSH_CONCURRENCY": str(args.concurrency),
            "PBXWATCH_SSH_CONNECT_TIMEOUT": str(args.connect_timeout),
            "PBXWATCH_POLL_INTERVAL": str(poll),
            "PBXWATCH_METRICS": "false",
            "PBXWATCH_RELAY_URL": "http://127.0.0.1:9",  # every unit is up: the relay service is never asked
        }
    )
    (state / "pbxwatch.toml").write_text("# every setting from the environment\n", encoding="utf-8")
    log = (state / "monitor.out").open("wb")
    return subprocess.Popen(
        [str(PBXWATCH), "monitor"], env=env, cwd=state, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )


async def sample(conn: asyncpg.Connection, monitor_pid: int, seen: Sample) -> None:
    """One look: the monitor's PostgreSQL backends and their CPU, and the live rows written lately."""
    pids = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    for row in pids:
        cpu = cpu_seconds(row["pid"])
        if cpu is not None:
            seen.pg_cpu[row["pid"]] = cpu
    now = time.time()
    rows = await conn.fetch(
        "SELECT enterprise_number, last_checked_at FROM unit_live_status "
        "WHERE last_checked_at > now() - interval '40 seconds'"
    )
    for row in rows:
        at = row["last_checked_at"].timestamp()
        before = seen.seen.get(row["enterprise_number"])
        if before is not None and at <= before:
            continue
        seen.seen[row["enterprise_number"]] = at
        if seen.measuring:
            seen.lags.append(max(0.0, now - at))
            if before is not None:
                seen.gaps.append(at - before)


async def units_up(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM unit_live_status WHERE last_status = 'online'"))


async def watch(conn: asyncpg.Connection, monitor_pid: int, seen: Sample, seconds: float, every: float) -> None:
    """Sample every `every` seconds for `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        await asyncio.sleep(every)
        await sample(conn, monitor_pid, seen)


async def measure(
    url: str, state: Path, monitor: subprocess.Popen[bytes], result: Result, args: argparse.Namespace
) -> None:
    conn = await asyncpg.connect(url)
    seen, started = Sample(), time.monotonic()
    try:
        while (up := await units_up(conn)) < result.units:
            if monitor.poll() is not None:
                raise SystemExit(f"{result.units} units: the monitor exited; see {state / 'monitor.out'}")
            if time.monotonic() - started > args.first_sweep_limit:  # measure it anyway: it is not keeping up
                result.first_sweep_up = up
                break
            await sample(conn, monitor.pid, seen)
            await asyncio.sleep(args.sample)
        result.first_sweep = time.monotonic() - started
        await watch(conn, monitor.pid, seen, result.poll * args.settle, args.sample)  # the first sweep's backlog
        await sample(conn, monitor.pid, seen)
        cpu0, pg0, checks0, t0 = cpu_seconds(monitor.pid) or 0.0, dict(seen.pg_cpu), served(state), time.monotonic()
        seen.measuring = True
        await watch(conn, monitor.pid, seen, result.poll * args.sweeps, args.sample)
        result.window, result.checks = time.monotonic() - t0, served(state) - checks0
        result.monitor_cpu = (cpu_seconds(monitor.pid) or 0.0) - cpu0
        result.pg_cpu = sum(cpu - pg0.get(pid, 0.0) for pid, cpu in seen.pg_cpu.items())
        result.rss, result.lags, result.gaps = rss_mb(monitor.pid), seen.lags, seen.gaps
    finally:
        await conn.close()


def stop_monitor(monitor: subprocess.Popen[bytes], state: Path, result: Result) -> None:
    started = time.monotonic()
    monitor.send_signal(signal.SIGTERM)
    try:
        monitor.wait(timeout=120)
    except subprocess.TimeoutExpired:
        monitor.kill()
        monitor.wait()
    result.stop_s = time.monotonic() - started
    log = (state / "monitor.out").read_text(encoding="utf-8", errors="replace")
    if "not written" in log:
        result.flushed = "no: rows not written"
    elif "monitor stopped" in log:
        result.flushed = "yes"
    else:
        result.flushed = f"no: exit status {monitor.returncode}"


def run_size(units: int, poll: float, args: argparse.Namespace) -> Result:
    name, result = f"pbxwatch_bench_{uuid.uuid4().hex[:8]}", Result(units, poll)
    url = ADMIN.rpartition("/")[0] + "/" + name
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(upgrade_url(url))
        asyncio.run(fill(url, units, args.port))
        with tempfile.TemporaryDirectory(prefix="fleet-scale-") as tmp:
            run_monitor_on(Path(tmp), url, result, args)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return result


def run_monitor_on(state: Path, url: str, result: Result, args: argparse.Namespace) -> None:
    make_keys(state, result.units, args.port)
    fleets = start_fleet(state, result.units, args.port)
    try:
        monitor = start_monitor(state, url, result.poll, args)
        try:
            asyncio.run(measure(url, state, monitor, result, args))
        finally:
            stop_monitor(monitor, state, result)
            if args.keep_log:
                args.keep_log.mkdir(parents=True, exist_ok=True)
                (args.keep_log / f"monitor-{result.units}.log").write_bytes((state / "monitor.out").read_bytes())
    finally:
        for fleet in fleets:
            fleet.terminate()
            fleet.wait()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def table(results: list[Result]) -> str:
    head = (
        "| units | poll s | first sweep s | checks/s (wanted) | monitor CPU ms/check | PostgreSQL CPU ms/check "
        "| both, % of 2 cores | monitor RSS MB (KB/conn) | flush lag p95 / max s | longest gap s "
        "| SIGTERM→exit s | flushed |"
    )
    lines = [head, "|" + "---:|" * 11 + "---|"]
    for r in results:
        per = (r.monitor_cpu + r.pg_cpu) / r.window / 2 * 100 if r.window else 0.0
        sweep = f"{r.first_sweep:.0f}"
        if r.first_sweep_up is not None:
            sweep = f"> {sweep} ({r.first_sweep_up:,} up)"
        lines.append(
            f"| {r.units:,} | {r.poll:g} | {sweep} | {r.checks / r.window:.0f} ({r.units / r.poll:.0f}) "
            f"| {r.monitor_cpu / max(r.checks, 1) * 1000:.2f} | {r.pg_cpu / max(r.checks, 1) * 1000:.2f} "
            f"| {per:.0f} | {r.rss:.0f} ({r.rss * 1024 / r.units:.0f}) | {pct(r.lags, 0.95):.1f} / "
            f"{max(r.lags, default=float('nan')):.1f} | {max(r.gaps, default=float('nan')):.1f} "
            f"| {r.stop_s:.1f} | {r.flushed} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", default="1000,5000,20000", help="fleet sizes, comma-separated")
    parser.add_argument("--poll", default="60", help="poll interval(s) in seconds: one, or one per fleet size")
    parser.add_argument("--sweeps", type=float, default=2, help="measured window, in poll intervals")
    parser.add_argument(
        "--settle",
        type=float,
        default=1,
        help="poll intervals between the first sweep and the window (units checked late in the connecting "
        "sweep come due with the early ones)",
    )
    parser.add_argument("--sample", type=float, default=2.0, help="seconds between looks at the database")
    parser.add_argument("--concurrency", type=int, default=200, help="ssh.concurrency of the monitor")
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=20,
        help="ssh.connect_timeout of the monitor (the first sweep's key exchanges share 2 cores)",
    )
    parser.add_argument("--port", type=int, default=2299, help="SSH port of every canned host (127.77.x.y)")
    parser.add_argument(
        "--first-sweep-limit",
        type=float,
        default=600,
        help="start the window after this many seconds even if not every unit was checked yet",
    )
    parser.add_argument("--keep-log", type=Path, help="copy each run's monitor log into this directory")
    args = parser.parse_args()
    sizes = [int(u) for u in args.units.split(",")]
    polls = [float(p) for p in args.poll.split(",")]
    polls = polls * len(sizes) if len(polls) == 1 else polls
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the monitor and the fleet
    results = []
    for units, poll in zip(sizes, polls, strict=True):
        results.append(run_size(units, poll, args))
        print(table(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
