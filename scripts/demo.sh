#!/usr/bin/env bash
# Set everything up and run the demo on the embedded defaults (SQLite and logs in a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/pbxwatch demo "$@"
