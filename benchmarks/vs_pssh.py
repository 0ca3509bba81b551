"""Client CPU per check against real OpenSSH servers: pbxwatch's prober, a bare asyncssh loop, an OpenSSH
loop and parallel-ssh (pssh), interleaved in one run.

    .venv/bin/python benchmarks/vs_pssh.py                     # 50 hosts, 5 rounds
    .venv/bin/python benchmarks/vs_pssh.py --hosts 100 --rounds 3
    .venv/bin/python benchmarks/vs_pssh.py --remote-cost       # also: the probe's CPU on a PBX with 1,500 processes

Needs Debian's `openssh-server`, `openssh-client` and `pssh` (`apt-get install openssh-server pssh`) and root
(sshd). Real `sshd` processes (16 addresses each, OpenSSH's limit) listen on --hosts loopback addresses
(127.0.2.1 …, port 2222) and runs each command
with a fake `asterisk` first on PATH (the simulated fleet's script: a healthy chan_sip PBX). Every client runs
the same probe command (`pbxwatch.asterisk.build_probe_command`), as root with one ed25519 key:

  pbxwatch   SshProber on kept connections (steady state: the connections were opened in a warm-up sweep), on
             the monitor's event loop (uvloop)
  asyncssh   a bare asyncssh loop on kept connections: `conn.run(command)` per host, nothing else (same ciphers,
             same event loop)
  pbxwatch-stdloop  the prober on Python's standard asyncio event loop, to show what uvloop saves
  openssh    `ssh host command` per check (a new connection each time), 100 at once, from the standard loop
  pssh       `parallel-ssh -p 100` (a new connection per check), with OpenSSH's default key exchange
  pssh-x25519  the same, forced to curve25519-sha256 (the key exchange asyncssh negotiates)

Each round runs one sweep of every client in turn, so a slower moment of the machine hits them all alike.
Prints a Markdown table: median client CPU milliseconds per check (user + system of the client process and
of the `ssh` processes it ran), median sweep wall time, and each client's CPU ratio to pbxwatch's.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BASE = ipaddress.IPv4Address("127.0.2.1")
PORT = 2222
CONCURRENCY = 100
SSHD = "/usr/sbin/sshd"


def _cpu_self_and_children() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


MAX_LISTEN_SOCKS = 16  # OpenSSH's compile-time limit of ListenAddress lines per sshd


def start_sshd(root: Path, hosts: int) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    from pbxwatch.sim.fleet_scripts import asterisk_script, default_peers

    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "asterisk").write_text(asterisk_script("sip", default_peers()), encoding="utf-8")
    (bin_dir / "asterisk").chmod(0o755)
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True)
    shutil.copy(root / "client_key.pub", root / "authorized_keys")
    addresses = [str(BASE + i) for i in range(hosts)]
    public = (root / "host_key.pub").read_text().split()[:2]
    (root / "known_hosts").write_text("".join(f"[{a}]:{PORT} {' '.join(public)}\n" for a in addresses))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    chunks = [addresses[i : i + MAX_LISTEN_SOCKS] for i in range(0, hosts, MAX_LISTEN_SOCKS)]
    return [_one_sshd(root, k, chunk) for k, chunk in enumerate(chunks)], addresses


def _one_sshd(root: Path, k: int, addresses: list[str]) -> subprocess.Popen[bytes]:
    config = [
        f"Port {PORT}",
        *[f"ListenAddress {a}" for a in addresses],
        f"HostKey {root / 'host_key'}",
        f"AuthorizedKeysFile {root / 'authorized_keys'}",
        f"PidFile {root / f'sshd{k}.pid'}",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "StrictModes no",
        "LogLevel ERROR",
        "MaxStartups 1000:30:2000",
        "MaxSessions 200",
        f"SetEnv PATH={root / 'bin'}:/usr/bin:/bin PBXSIM_UPTIME=86400 PBXSIM_DISK=23",
    ]
    (root / f"sshd{k}.conf").write_text("\n".join(config) + "\n")
    log = (root / f"sshd{k}.log").open("w")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(root / f"sshd{k}.conf")], stderr=log)
    deadline = time.monotonic() + 10
    while not (root / f"sshd{k}.pid").exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            said = (root / f"sshd{k}.log").read_text().strip().splitlines()[-1:]
            raise SystemExit(f"sshd did not start (openssh-server installed? root?): {said}")
        time.sleep(0.05)
    return proc


# Each client runs in its own worker process, so the CPU it reports is its own.
def _ssh_options(root: Path) -> list[str]:
    return [
        "-i",
        str(root / "client_key"),
        "-p",
        str(PORT),
        "-o",
        f"UserKnownHostsFile={root / 'known_hosts'}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
    ]


async def _pbxwatch(root: Path, addresses: list[str], command: str, sweeps: int) -> list[dict[str, Any]]:
    from pbxwatch.probe import ProbeOptions, SshProber

    options = ProbeOptions(
        username="root",
        key_file=root / "client_key",
        known_hosts=root / "known_hosts",
        connect_timeout=10,
        command_timeout=10,
        concurrency=CONCURRENCY,
    )
    targets = [(a, PORT) for a in addresses]
    async with SshProber(options) as prober:
        await prober.check_many(targets)  # warm-up: open the kept connections
        return [await _timed(lambda: _reasons(prober.check_many(targets))) for _ in range(sweeps)]


async def _reasons(pending: Any) -> list[str]:
    return [r.reason.value for r in (await pending).values()]


async def _asyncssh(root: Path, addresses: list[str], command: str, sweeps: int) -> list[dict[str, Any]]:
    import asyncssh

    from pbxwatch.probe.ssh import PREFERRED_CIPHERS  # the same cipher, so the gap is the prober's own work

    gate = asyncio.Semaphore(CONCURRENCY)
    conns = await asyncio.gather(
        *(
            asyncssh.connect(
                a,
                PORT,
                username="root",
                client_keys=[str(root / "client_key")],
                known_hosts=str(root / "known_hosts"),
                config=None,
                encryption_algs=PREFERRED_CIPHERS,
            )
            for a in addresses
        )
    )

    async def one(conn: Any) -> str:
        async with gate:
            done = await conn.run(command, check=False)
            return "ok" if done.exit_status == 0 and "::pbxwatch:: end" in done.stdout else "failed"

    try:
        return [await _timed(lambda: asyncio.gather(*(one(c) for c in conns))) for _ in range(sweeps)]
    finally:
        for conn in conns:
            conn.close()


async def _openssh(root: Path, addresses: list[str], command: str, sweeps: int) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(address: str) -> str:
        async with gate:
            proc = await asyncio.create_subprocess_exec(
                "ssh",
                *_ssh_options(root),
                f"root@{address}",
                command,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            out, _ = await proc.communicate()
            return "ok" if proc.returncode == 0 and b"::pbxwatch:: end" in out else "failed"

    return [await _timed(lambda: asyncio.gather(*(one(a) for a in addresses))) for _ in range(sweeps)]


def _pssh_sweeps(root: Path, command: str, sweeps: int, *, kex: str | None) -> list[dict[str, Any]]:
    extra = " ".join(_ssh_options(root)[2:] + ([f"-o KexAlgorithms={kex}"] if kex else []))
    argv = [
        "parallel-ssh",
        "-h",
        str(root / "hosts"),
        "-l",
        "root",
        "-p",
        str(CONCURRENCY),
        "-t",
        "30",
        "-x",
        f"-i {root / 'client_key'} {extra}",
        command,
    ]
    results = []
    for _ in range(sweeps):
        cpu, wall = _cpu_self_and_children(), time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        results.append(
            {
                "cpu": _cpu_self_and_children() - cpu,
                "wall": time.perf_counter() - wall,
                "ok": done.stdout.count("[SUCCESS]"),
            }
        )
    return results


async def _timed(sweep: Any) -> dict[str, Any]:
    cpu, wall = _cpu_self_and_children(), time.perf_counter()
    reasons = await sweep()
    return {
        "cpu": _cpu_self_and_children() - cpu,
        "wall": time.perf_counter() - wall,
        "ok": sum(1 for r in reasons if r == "ok"),
    }


CLIENTS = ("pbxwatch", "asyncssh", "pbxwatch-stdloop", "openssh", "pssh", "pssh-x25519")


def worker(client: str, root: Path, sweeps: int) -> list[dict[str, Any]]:
    from pbxwatch.asterisk import build_probe_command

    command = build_probe_command("asterisk", 10)
    addresses = [line.rpartition(":")[0] for line in (root / "hosts").read_text().split()]
    if client == "pssh":
        return _pssh_sweeps(root, command, sweeps, kex=None)
    if client == "pssh-x25519":
        return _pssh_sweeps(root, command, sweeps, kex="curve25519-sha256")
    from pbxwatch.cli.common import fast_loop

    run = {"pbxwatch": _pbxwatch, "pbxwatch-stdloop": _pbxwatch, "asyncssh": _asyncssh, "openssh": _openssh}[client]
    loop = None if client in ("pbxwatch-stdloop", "openssh") else fast_loop()  # the monitor's loop: uvloop
    with asyncio.Runner(loop_factory=loop) as runner:
        return runner.run(run(root, addresses, command, sweeps))


def remote_cost(root: Path, processes: int, checks: int) -> float:
    """CPU ms per check of the probe command under /bin/sh with the fake asterisk, beside N other processes."""
    from pbxwatch.asterisk import build_probe_command

    sleepers = [subprocess.Popen(["sleep", "600"]) for _ in range(processes)]
    try:
        env = {"PATH": f"{root / 'bin'}:/usr/bin:/bin", "PBXSIM_UPTIME": "86400", "PBXSIM_DISK": "23"}
        command = build_probe_command("asterisk", 10)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for _ in range(checks):
            subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000 / checks
    finally:
        for proc in sleepers:
            proc.kill()
            proc.wait()


def run_worker(client: str, root: Path, sweeps: int) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", client, "--root", str(root), "--sweeps", str(sweeps)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {client} client failed: {done.stderr.strip().splitlines()[-1:]}")
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def main(args: argparse.Namespace) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    root = Path(tempfile.mkdtemp(prefix="pbxwatch-vs-pssh-"))
    daemons, addresses = start_sshd(root, args.hosts)
    try:
        (root / "hosts").write_text("".join(f"{a}:{PORT}\n" for a in addresses))
        sweeps: dict[str, list[dict[str, Any]]] = {c: [] for c in CLIENTS}
        for _ in range(args.rounds):
            for client in CLIENTS:
                sweeps[client] += run_worker(client, root, args.sweeps)
        print(
            f"<!-- {args.hosts} hosts, {args.rounds} rounds x {args.sweeps} sweeps per client, {len(daemons)} sshd -->"
        )
        print("| client | CPU ms per check (median) | sweep wall s (median) | checks ok | CPU vs pbxwatch |")
        print("|---|---:|---:|---:|---:|")
        per_check = {c: statistics.median(s["cpu"] for s in sweeps[c]) * 1000 / args.hosts for c in CLIENTS}
        for client in CLIENTS:
            wall = statistics.median(s["wall"] for s in sweeps[client])
            ok = sum(s["ok"] for s in sweeps[client])
            total = len(sweeps[client]) * args.hosts
            print(
                f"| {client} | {per_check[client]:.2f} | {wall:.2f} | {ok}/{total} "
                f"| {per_check[client] / per_check['pbxwatch']:.1f}x |"
            )
        if args.remote_cost:
            cost = remote_cost(root, args.processes, args.checks)
            print(
                f"\nPBX side: {cost:.2f} CPU ms per check (the probe command under /bin/sh with the fake "
                f"asterisk, {args.processes} other processes running, mean of {args.checks} checks)"
            )
    finally:
        for sshd in daemons:
            sshd.terminate()
            sshd.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sweeps", type=int, default=2, help="sweeps of each client per round")
    parser.add_argument("--remote-cost", action="store_true")
    parser.add_argument("--processes", type=int, default=1500, help="other processes on the PBX (--remote-cost)")
    parser.add_argument("--checks", type=int, default=50, help="checks measured (--remote-cost)")
    parser.add_argument("--worker", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.worker:
        print(json.dumps(worker(arguments.worker, Path(arguments.root), arguments.sweeps)))
    else:
        main(arguments)
