"""The repository stands alone: nothing in it reads documents or fixtures from outside the clone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"\.\./shared|parents\[\d\]\s*/\s*['\"]shared['\"]")


def test_no_file_reads_the_shared_folder_beside_the_clone() -> None:
    offenders = []
    for folder in ("src", "tests", "scripts", "benchmarks", ".ci"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".sh", ""} and path != Path(__file__):
                text = path.read_text(encoding="utf-8", errors="replace")
                offenders += [
                    f"{path.relative_to(ROOT)}:{n}"
                    for n, line in enumerate(text.splitlines(), 1)
                    if OUTSIDE.search(line)
                ]
    assert offenders == []


def test_the_asterisk_fixtures_live_in_the_repository() -> None:
    fixtures = ROOT / "tests" / "fixtures" / "asterisk"
    assert (fixtures / "SOURCES.md").is_file()
    assert len(list(fixtures.glob("*.txt"))) >= 30


def test_code_cites_only_documents_in_the_repository() -> None:
    outside = re.compile("|".join(("SPEC" + " §", "notes" + " §", "STYLE" + " habit")))
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("src", "tests")
        for path in (ROOT / folder).rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if outside.search(line)
    ]
    assert offenders == []
