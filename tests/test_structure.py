"""The code stays in pieces a reader can hold: no module over 400 lines, no function over 50.

A failure lists every offender (``pytest -m structure`` runs these alone). A function counts from its
``def`` line to its last line; nested functions and methods count on their own, by qualified name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "pbxwatch"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50

# A module or function that must stay over the limit for a while is named here, with its reason; an entry
# that is no longer over the limit fails the last test below, so the lists only ever shrink.
ALLOWED_LONG_MODULES: frozenset[str] = frozenset()
# (module, qualified function) pairs, same rule.
ALLOWED_LONG_FUNCTIONS: frozenset[tuple[str, str]] = frozenset()

pytestmark = pytest.mark.structure


def _modules() -> list[tuple[str, str]]:
    return [
        (path.relative_to(PACKAGE).as_posix(), path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def _functions(node: ast.AST, prefix: str = "") -> list[tuple[str, int]]:
    found = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            assert child.end_lineno is not None
            found.append((prefix + child.name, child.end_lineno - child.lineno + 1))
            found += _functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            found += _functions(child, f"{prefix}{child.name}.")
        else:
            found += _functions(child, prefix)
    return found


def long_modules() -> dict[str, int]:
    return {name: len(text.splitlines()) for name, text in _modules() if len(text.splitlines()) > MAX_MODULE_LINES}


def long_functions() -> dict[tuple[str, str], int]:
    return {
        (name, function): length
        for name, text in _modules()
        for function, length in _functions(ast.parse(text, filename=name))
        if length > MAX_FUNCTION_LINES
    }


def test_no_module_is_over_400_lines() -> None:
    over = {name: n for name, n in long_modules().items() if name not in ALLOWED_LONG_MODULES}
    assert over == {}, "modules over 400 lines:\n" + "\n".join(f"  {k}: {v}" for k, v in sorted(over.items()))


def test_no_function_is_over_50_lines() -> None:
    over = {key: n for key, n in long_functions().items() if key not in ALLOWED_LONG_FUNCTIONS}
    assert over == {}, "functions over 50 lines:\n" + "\n".join(
        f"  {module} {function}: {n}" for (module, function), n in sorted(over.items())
    )


def test_the_allow_lists_name_only_what_is_still_too_long() -> None:
    stale_modules = ALLOWED_LONG_MODULES - long_modules().keys()
    stale_functions = ALLOWED_LONG_FUNCTIONS - long_functions().keys()
    assert (stale_modules, stale_functions) == (set(), set()), "shrink the allow-lists in tests/test_structure.py"


def test_a_long_function_is_found_with_its_class() -> None:
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    tree = ast.parse(f"class Box:\n    def fill(self) -> None:\n{body}\n")
    assert _functions(tree) == [("Box.fill", MAX_FUNCTION_LINES + 1)]
