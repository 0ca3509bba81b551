#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv with pbxwatch and its test tools.
#   scripts/bootstrap.sh          reuse .venv when pyproject.toml has not changed since the last install
#   scripts/bootstrap.sh --fresh  delete .venv first (what CI does)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [[ "${1:-}" == "--fresh" ]]; then
    rm -rf .venv
fi
if [[ ! -x .venv/bin/python ]]; then
    echo "bootstrap: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.pbxwatch-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
    echo "bootstrap: installing pbxwatch and its test tools into .venv (a minute or two the first time)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
    echo "$want" > "$stamp"
fi
