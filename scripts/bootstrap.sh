#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv with pbxwatch in it.
#   scripts/bootstrap.sh               pbxwatch and its run-time dependencies only (production)
#   scripts/bootstrap.sh --dev         also the test and lint tools (pytest, ruff, mypy, ...): what `make test` uses
#   scripts/bootstrap.sh --fresh ...   delete .venv first (what CI does)
# The install is skipped when pyproject.toml and the chosen set have not changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
extras=""
for arg in "$@"; do
    case "$arg" in
        --fresh) rm -rf .venv ;;
        --dev) extras="[dev]" ;;
        *)
            echo "usage: scripts/bootstrap.sh [--dev] [--fresh]" >&2
            exit 2
            ;;
    esac
done
if [[ ! -x .venv/bin/python ]]; then
    echo "bootstrap: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.pbxwatch-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1) ${extras:-[run]}"
have="$(cat "$stamp" 2>/dev/null || true)"
# A dev environment already holds everything a production one needs.
if [[ "$have" != "$want" && "$have" != "${want% *} [dev]" ]]; then
    echo "bootstrap: installing pbxwatch${extras:+ and its test tools} into .venv (a minute or two the first time)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
    echo "$want" > "$stamp"
fi
