"""Reading units from CSV: every row is validated before anything is imported.

The header names columns of `enterprises` (it must include `number`). Empty cells mean NULL for
nullable columns and the default for the others. Booleans: true/false, yes/no, 1/0, t/f, on/off.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pbxwatch.domain.units import UNIT_DEFAULTS, UNIT_FIELDS, UnitValueError, validate_changes

_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}


@dataclass
class ImportReport:
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _to_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise UnitValueError(f"{text!r} is not true/false")


def _to_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise UnitValueError(f"{text!r} is not a whole number") from None


_CONVERT: dict[str, Callable[[str], Any]] = {
    "ssh_port": _to_int,
    "ewelink_outlet": _to_int,
    "parameter_option_2": _to_bool,
    "active": _to_bool,
}


def _convert(column: str, text: str) -> Any:
    if text.strip() == "":
        return UNIT_DEFAULTS.get(column)
    try:
        return _CONVERT.get(column, str.strip)(text)
    except UnitValueError as err:
        raise UnitValueError(f"{column}: {err}") from None


def read_units_csv(text: str) -> ImportReport:
    """Parse and validate; `report.errors` holds one line per problem, with its line number."""
    report = ImportReport()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None:
        report.errors.append("line 1: the file is empty (a header naming enterprises columns is required)")
        return report
    columns = [h.strip() for h in header]
    unknown = [c for c in columns if c not in UNIT_FIELDS]
    if unknown or "number" not in columns or len(set(columns)) != len(columns):
        problem = (
            f"unknown column(s) {', '.join(unknown)}"
            if unknown
            else "duplicate column names"
            if "number" in columns
            else "the `number` column is required"
        )
        report.errors.append(f"line 1: {problem}; columns are: {', '.join(UNIT_FIELDS)}")
        return report
    seen: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(columns):
            report.errors.append(f"line {line}: {len(cells)} cells, the header has {len(columns)}")
            continue
        try:
            row = {c: _convert(c, v) for c, v in zip(columns, cells, strict=True)}
            if not row["number"]:
                raise UnitValueError("number: is empty")
            validate_changes(row)
        except UnitValueError as err:
            report.errors.append(f"line {line}: {err}")
            continue
        if row["number"] in seen:
            report.errors.append(f"line {line}: number {row['number']} already appears on line {seen[row['number']]}")
            continue
        seen[row["number"]] = line
        report.rows.append(row)
    if not report.rows and not report.errors:
        report.errors.append("the file has a header but no rows")
    return report
