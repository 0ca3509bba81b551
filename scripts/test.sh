#!/usr/bin/env bash
# The test suite: lint, type-check and every test against real PostgreSQL, SSH and HTTP servers on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --dev "$@"
scripts/ensure-postgres.sh
# The simulated fleets open many sockets at once.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true
echo "== ruff"
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
echo "== mypy (strict)"
.venv/bin/mypy
# Several workers although the machine has 2 cores: most tests wait on subprocesses, sockets and
# timeouts, not the CPU. loadgroup keeps the tests on one expensive module environment together;
# tests/loopback.py gives each worker its own simulated-host addresses. PBXWATCH_TEST_WORKERS=0 runs serially.
workers="${PBXWATCH_TEST_WORKERS:-3}"
echo "== pytest ($workers workers)"
if [[ "$workers" == 0 ]]; then
    .venv/bin/pytest
else
    .venv/bin/pytest -n "$workers" --dist loadgroup
fi
