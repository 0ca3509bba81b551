"""Host-key lookup per connection in a large known_hosts file, plain against hashed (`HashKnownHosts yes`).

    .venv/bin/python benchmarks/known_hosts_match.py                  # 1,000 / 5,000 / 20,000 entries
    .venv/bin/python benchmarks/known_hosts_match.py --entries 20000 --lookups 100

For each size, a throwaway file with one entry per host ([127.77.x.y]:2299, one ed25519 key), written once plain
and once hashed. The prober's `KnownHosts.match` (what asyncssh calls on each new connection) is timed in CPU
microseconds: the first lookup of a host after the file was read, and a repeated one (a reconnect). No network.
Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pbxwatch.probe.known_hosts import KnownHosts
from pbxwatch.sim.fleet import hash_known_host

PORT = 2299


def host(i: int) -> str:
    return f"127.77.{i // 250}.{i % 250 + 1}"


def lookups(path: Path, picks: list[int]) -> tuple[float, float]:
    """CPU µs per lookup: first ones after the file was read, then the same hosts again."""
    store = KnownHosts(path)
    store.current()  # parse outside the timing
    timings = []
    for _ in range(2):
        started = time.process_time()
        for i in picks:
            assert store.match(host(i), host(i), PORT)[0], "the host's key must be found"
        timings.append((time.process_time() - started) / len(picks) * 1e6)
    return timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", default="1000,5000,20000", help="file sizes, comma-separated")
    parser.add_argument("--lookups", type=int, default=50, help="hosts looked up per size, spread over the file")
    args = parser.parse_args()
    logging.getLogger("pbxwatch.probe").setLevel(logging.ERROR)  # the hashed files' warning is the point, not output
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().strip()
    print("| entries | file | first lookup of a host, CPU µs | repeated lookup, CPU µs |")
    print("|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="pbxwatch-known-hosts-") as tmp:
        for size in (int(n) for n in args.entries.split(",")):
            picks = list(range(0, size, max(1, size // args.lookups)))
            for kind, spell in (("plain", lambda p: p), ("hashed", hash_known_host)):
                path = Path(tmp) / f"{kind}-{size}"
                path.write_text("".join(f"{spell(f'[{host(i)}]:{PORT}')} {key}\n" for i in range(size)))
                first, again = lookups(path, picks)
                print(f"| {size:,} | {kind} | {first:,.0f} | {again:,.1f} |", flush=True)


if __name__ == "__main__":
    main()
