"""Sweep benchmark of the SSH prober against a simulated fleet running in separate processes.

    .venv/bin/python benchmarks/sweep.py                       # 100 and 1,000 hosts, 5 % SSH-hung, 5 s timeout
    .venv/bin/python benchmarks/sweep.py --hosts 100 --sweeps 3

For each fleet size it starts `pbxwatch sim fleet` in --fleet-procs processes (distinct 127.x addresses,
port 2222, the last 5 % of each process's hosts `ssh_hung`), then runs the prober in its own worker
process (so its CPU seconds and peak RSS are the prober's alone) in two strategies:
  kept  - one SshProber: the first sweep connects, the following sweeps reuse the kept connections;
  fresh - a new SshProber (so a new SSH connection per check) for every sweep.
Prints a Markdown table (paste it into docs/benchmarks.md). Raises the open-file limit to the hard limit.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

PBXWATCH = Path(sys.executable).with_name("pbxwatch")
BASE = ipaddress.IPv4Address("127.0.1.1")
SSH_PORT = 2222


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _fleet_cpu(pids: list[int]) -> float:
    """CPU seconds of the fleet processes and their reaped children (the shells they ran)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


async def _sweep(prober: Any, targets: list[tuple[str, int]], pids: list[int]) -> dict[str, Any]:
    cpu, fleet_cpu, wall = _cpu(), _fleet_cpu(pids), time.perf_counter()
    results = await prober.check_many(targets)
    elapsed = time.perf_counter() - wall
    reasons = Counter(result.reason.value for result in results.values())
    return {"wall": elapsed, "cpu": _cpu() - cpu, "fleet_cpu": _fleet_cpu(pids) - fleet_cpu, "reasons": dict(reasons)}


async def worker(args: argparse.Namespace) -> dict[str, Any]:
    from pbxwatch.probe import ProbeOptions, SshProber

    targets = [(line.split()[1], int(line.split()[2])) for line in args.target_lines]
    options = ProbeOptions(
        username="pbxwatch",
        key_file=Path(args.key),
        known_hosts=Path(args.known_hosts),
        connect_timeout=args.timeout,
        command_timeout=args.timeout,
        concurrency=args.concurrency,
    )
    sweeps = []
    if args.strategy == "kept":
        async with SshProber(options) as prober:
            for _ in range(args.sweeps):
                sweeps.append(await _sweep(prober, targets, args.fleet_pid))
    else:
        for _ in range(args.sweeps):
            async with SshProber(options) as prober:
                sweeps.append(await _sweep(prober, targets, args.fleet_pid))
    return {"sweeps": sweeps, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


Fleet = list[subprocess.Popen[str]]


def start_fleet(total: int, procs: int, hung_percent: float, root: Path) -> tuple[Fleet, list[str]]:
    from asyncssh import generate_private_key

    key = generate_private_key("ssh-ed25519")
    fleets, lines = [], []
    per = -(-total // procs)
    for k in range(procs):
        count = min(per, total - k * per)
        state = root / f"fleet{k}"
        state.mkdir(parents=True)
        key.write_private_key(str(state / "client_key"))
        total_hung = int(total * hung_percent / 100 + 0.5)
        hung = total_hung * (k * per + count) // total - total_hung * (k * per) // total
        cmd = [
            str(PBXWATCH),
            "sim",
            "fleet",
            "--hosts",
            str(count),
            "--base-address",
            str(BASE + k * per),
            "--port",
            str(SSH_PORT),
            "--state-dir",
            str(state),
            "--name-prefix",
            f"f{k}-",
            "--ssh-hung",
            str(hung),
            "--boot-delay",
            "0",
        ]
        fleets.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
    for proc, k in zip(fleets, range(procs), strict=True):
        count = min(per, total - k * per)
        assert proc.stdout is not None
        lines += [proc.stdout.readline().strip() for _ in range(count)]
    key.write_private_key(str(root / "client_key"))
    known = "".join((root / f"fleet{k}" / "known_hosts").read_text() for k in range(procs))
    (root / "known_hosts").write_text(known)
    return fleets, lines


def stop_fleet(fleets: list[subprocess.Popen[str]]) -> None:
    for proc in fleets:
        proc.terminate()
    for proc in fleets:
        proc.wait(timeout=60)


def run_worker(root: Path, strategy: str, args: argparse.Namespace, fleets: Fleet) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        "--strategy",
        strategy,
        "--targets",
        str(root / "targets"),
        "--key",
        str(root / "client_key"),
        "--known-hosts",
        str(root / "known_hosts"),
        "--timeout",
        str(args.timeout),
        "--sweeps",
        str(args.sweeps),
        "--concurrency",
        str(args.concurrency),
    ]
    cmd += [arg for proc in fleets for arg in ("--fleet-pid", str(proc.pid))]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def row(hosts: int, strategy: str, label: str, sweeps: list[dict[str, Any]], rss: float) -> str:
    wall = statistics.median(s["wall"] for s in sweeps)
    cpu = statistics.median(s["cpu"] for s in sweeps)
    fleet_cpu = statistics.median(s["fleet_cpu"] for s in sweeps)
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(sweeps[-1]["reasons"].items()))
    return f"| {hosts} | {strategy} | {label} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {fleet_cpu:.1f} | {reasons} |"


def main(args: argparse.Namespace) -> None:
    limit = raise_nofile()
    print(f"<!-- open-file limit {limit}; {args.fleet_procs} fleet processes; timeout {args.timeout} s -->")
    print(
        "| hosts | strategy | sweep | wall s | prober CPU s | prober peak RSS MB | fleet CPU s | reasons (last sweep) |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---|")
    for hosts in args.hosts:
        root = Path(tempfile.mkdtemp(prefix="pbxwatch-bench-"))
        fleets, lines = start_fleet(hosts, args.fleet_procs, args.hung_percent, root)
        try:
            (root / "targets").write_text("\n".join(lines) + "\n")
            kept = run_worker(root, "kept", args, fleets)
            first, steady = kept["sweeps"][:1], kept["sweeps"][1:]
            print(row(hosts, "kept", "first (connecting)", first, kept["peak_rss_mb"]), flush=True)
            print(row(hosts, "kept", f"steady (median of {len(steady)})", steady, kept["peak_rss_mb"]), flush=True)
            fresh = run_worker(root, "fresh", args, fleets)
            print(
                row(
                    hosts,
                    "fresh",
                    f"new connection per check (median of {len(fresh['sweeps'])})",
                    fresh["sweeps"],
                    fresh["peak_rss_mb"],
                ),
                flush=True,
            )
        finally:
            stop_fleet(fleets)
            shutil.rmtree(root, ignore_errors=True)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=lambda s: [int(x) for x in s.split(",")], default=[100, 1000])
    parser.add_argument("--hung-percent", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=5.0, help="connect and command timeout, seconds")
    parser.add_argument("--sweeps", type=int, default=4, help="sweeps per strategy (kept: 1 connecting + rest)")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--fleet-procs", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", choices=["kept", "fresh"], default="kept", help=argparse.SUPPRESS)
    parser.add_argument("--targets", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--known-hosts", help=argparse.SUPPRESS)
    parser.add_argument("--fleet-pid", type=int, action="append", default=[], help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.worker:
        raise_nofile()
        arguments.target_lines = Path(arguments.targets).read_text().splitlines()
        print(json.dumps(asyncio.run(worker(arguments))))
    else:
        main(arguments)
