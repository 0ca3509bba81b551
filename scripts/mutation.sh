#!/usr/bin/env bash
# The mutation check of the pure modules (domain/, asterisk/) against their fast table tests.
#   scripts/mutation.sh            install mutmut into .venv if needed, run every mutant, print the survivors
#   scripts/mutation.sh --fresh    the same from scratch (after changing tests: mutmut keeps earlier results)
#   scripts/mutation.sh show NAME  the diff of one mutant (names as printed in the survivor list)
# Configuration: [tool.mutmut] in pyproject.toml. mutmut works in a copy of the tree under mutants/
# (ignored by git); its results there are reused by the next run when the sources did not change.
# Score and the survivors with their reasons: docs/benchmarks.md, "Mutation check".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --dev
if ! .venv/bin/python -c 'import mutmut' 2>/dev/null; then
    echo "mutation: installing mutmut into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,mutation]'
fi
if [[ "${1:-}" == "show" ]]; then
    exec .venv/bin/mutmut show "$2"
fi
if [[ "${1:-}" == "--fresh" ]]; then
    rm -rf mutants
fi
# mutmut runs the tests with the interpreter of .venv; its forked workers need no database.
PATH="$PWD/.venv/bin:$PATH" .venv/bin/mutmut run --max-children "${MUTMUT_CHILDREN:-2}"
.venv/bin/mutmut results --all true > mutants/results.txt || true
killed=$(grep -c ': killed$' mutants/results.txt || true)
total=$(grep -c ': ' mutants/results.txt || true)
echo "mutation: $killed of $total mutants killed; survivors:"
grep -v ': killed$' mutants/results.txt || echo "  (none)"
