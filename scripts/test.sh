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
echo "== mypy (strict)"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest
