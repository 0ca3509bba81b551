"""Import time of `pbxwatch --help`: the sum of the top-level imports `python -X importtime` reports.

    .venv/bin/python benchmarks/cli_import_time.py [--runs 7]

Prints every run's total (seconds) and the minimum, the least disturbed by other load on the machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys


def import_seconds(python: str) -> float:
    """One `python -X importtime -m pbxwatch --help`; top-level lines carry each package's cumulative time."""
    err = subprocess.run(
        [python, "-X", "importtime", "-m", "pbxwatch", "--help"], capture_output=True, text=True, check=True
    ).stderr
    total_us = 0
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if len(name) - len(name.lstrip()) == 1:  # not nested under another import
            total_us += int(cumulative)
    return total_us / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    runs = sorted(import_seconds(sys.executable) for _ in range(args.runs))
    print("runs (s):", " ".join(f"{r:.3f}" for r in runs))
    print(f"min {runs[0]:.3f} s, median {runs[len(runs) // 2]:.3f} s")


if __name__ == "__main__":
    main()
