#!/usr/bin/env bash
# Set everything up and run the demo on the embedded defaults (SQLite and logs in a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
if .venv/bin/pbxwatch demo --help >/dev/null 2>&1; then
    exec .venv/bin/pbxwatch demo "$@"
fi
# Until `pbxwatch demo` lands: the foundation on the SQLite default in a scratch directory.
work=$(mktemp -d)
cd "$work"
"$OLDPWD/.venv/bin/pbxwatch" db upgrade
"$OLDPWD/.venv/bin/pbxwatch" units list
echo "database and logs are in $work"
