"""`pbxwatch units import` of a large CSV into a fresh PostgreSQL database, timed as the operator runs it.

    .venv/bin/python benchmarks/import_units.py                 # 20,000 units, twice (insert, then update)
    .venv/bin/python benchmarks/import_units.py --units 5000

Creates a throwaway database on the test server (PBXWATCH_TEST_PG_ADMIN, default the local one), runs
`pbxwatch db upgrade`, then imports the same file twice: the first run adds every unit, the second updates
them all. Prints wall and CPU seconds of each `pbxwatch` process (its start-up included) as a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PBXWATCH = Path(sys.executable).with_name("pbxwatch")
ADMIN = os.environ.get("PBXWATCH_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def write_csv(path: Path, units: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        rows = csv.writer(out)
        rows.writerow(
            ["number", "name", "host", "ssh_port", "parameter_option_2", "ewelink_device_id", "ewelink_outlet"]
        )
        for i in range(units):
            rows.writerow(
                [
                    f"{i:05d}",
                    f"Enterprise {i}",
                    f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
                    22,
                    "true",
                    f"1000{i:06x}",
                    0,
                ]
            )


def psql(sql: str) -> None:
    subprocess.run(["psql", "-q", ADMIN, "-c", sql], check=True, capture_output=True)


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([str(PBXWATCH), *args], env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout.strip().splitlines()[-1].rpartition(": ")[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=20_000)
    options = parser.parse_args()
    name = f"pbxwatch_bench_{uuid.uuid4().hex[:8]}"
    psql(f'CREATE DATABASE "{name}"')
    try:
        env = dict(os.environ, PBXWATCH_DATABASE_URL=f"{ADMIN.rpartition('/')[0]}/{name}")
        with tempfile.TemporaryDirectory() as tmp:
            file = Path(tmp) / "units.csv"
            write_csv(file, options.units)
            subprocess.run([str(PBXWATCH), "db", "upgrade"], env=env, check=True, capture_output=True, cwd=tmp)
            print("| run | units | wall s | CPU s (pbxwatch) | said |")
            print("|---|---:|---:|---:|---|")
            for run in ("insert", "update"):
                wall, cpu, said = timed(["units", "import", str(file)], env)
                print(f"| {run} | {options.units:,} | {wall:.2f} | {cpu:.2f} | {said} |")
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
