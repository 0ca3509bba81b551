"""A cheap SSH fleet for `fleet_scale.py`: one asyncssh server process listening on many loopback addresses.

    python benchmarks/canned_fleet.py --first 0 --count 5000 --port 2299 --state DIR

Every exec request, whatever its command, is answered at once with one canned probe output assembled from
the Asterisk fixtures in tests/fixtures/asterisk (a healthy chan_sip PBX: uptime, `sip show peers`, no
PJSIP endpoints, `df -P /`), without a shell or any process on the "PBX": the fleet must not be the bottleneck of a
benchmark of the monitor. Host `i` is 127.77.(i // 250).(i % 250 + 1); all share one host key
(DIR/host_key) and accept DIR/client_key.pub. The number of execs served is written to DIR/served-<first>
every second (the benchmark's count of checks). Prints "ready" when every address listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import signal
import sys
from pathlib import Path
from typing import Any

import asyncssh

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "asterisk"
sys.path.insert(0, str(ROOT / "src"))

from pbxwatch.asterisk import MARKER  # noqa: E402 -- after the path to src/

SECTIONS = (
    ("uptime", "core_show_uptime_seconds_ast20.txt"),
    ("sip", "sip_show_peers_ast20_all_states.txt"),
    ("pjsip", "pjsip_show_endpoints_ast20_no_objects.txt"),
    ("df", "df_P_root.txt"),
)


def address(index: int) -> str:
    return f"127.77.{index // 250}.{index % 250 + 1}"


def canned_output() -> str:
    lines: list[str] = []
    for name, fixture in SECTIONS:
        lines += [f"{MARKER} {name}", (FIXTURES / fixture).read_text(encoding="utf-8").rstrip("\n"), f"{MARKER} rc=0"]
    return "\n".join([*lines, f"{MARKER} end"]) + "\n"


class Fleet:
    def __init__(self) -> None:
        self.served = 0
        self.text = canned_output()

    def answer(self, process: asyncssh.SSHServerProcess[str]) -> None:
        self.served += 1
        process.stdout.write(self.text)
        process.exit(0)


def keys(state: Path) -> tuple[Any, Any]:
    """The shared host key and the authorized client key, made by the first process to start (the benchmark)."""
    host_key = asyncssh.read_private_key(str(state / "host_key"))
    client = asyncssh.import_authorized_keys((state / "client_key.pub").read_text(encoding="utf-8"))
    return host_key, client


async def serve(first: int, count: int, port: int, state: Path) -> None:
    fleet, (host_key, client) = Fleet(), keys(state)
    servers = []
    for start in range(first, first + count, 500):
        hosts = [address(i) for i in range(start, min(start + 500, first + count))]
        servers.append(
            await asyncssh.listen(
                hosts,
                port,
                server_host_keys=[host_key],
                authorized_client_keys=client,
                process_factory=fleet.answer,
                encoding="utf-8",
                keepalive_interval=0,
                reuse_address=True,
            )
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    counter = state / f"served-{first}"
    while not stop.is_set():
        counter.write_text(str(fleet.served), encoding="utf-8")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a listener and a connection per host
    asyncio.run(serve(args.first, args.count, args.port, args.state))


if __name__ == "__main__":
    main()
