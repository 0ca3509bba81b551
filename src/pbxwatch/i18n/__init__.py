"""The message catalog: every operator-facing text pbxwatch sends, in Russian and English.

One place for all languages: `CATALOG[key] = {"ru": ..., "en": ...}`, placeholders in `str.format`
style. Both languages of a key must use the same placeholders (a test checks it), so a message says the
same facts whatever the operator's language. The texts live in `messages` (notifications) and `dashboard`.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from pbxwatch.i18n.dashboard import DASHBOARD
from pbxwatch.i18n.messages import MESSAGES

Language = Literal["ru", "en"]
LANGUAGES: tuple[Language, ...] = ("ru", "en")
DEFAULT_LANGUAGE: Language = "ru"

CATALOG: dict[str, dict[str, str]] = {**MESSAGES, **DASHBOARD}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def text(key: str, language: Language = DEFAULT_LANGUAGE, /, **facts: Any) -> str:
    """The catalog text of `key` in `language` with `facts` filled in (a missing fact shows as `?`)."""
    template = CATALOG[key].get(language) or CATALOG[key]["en"]
    return template.format_map(_Facts(facts))


class _Facts(dict[str, Any]):
    def __init__(self, facts: Mapping[str, Any]) -> None:
        super().__init__(facts)

    def __missing__(self, key: str) -> str:
        return "?"


def duration(seconds: float, language: Language = DEFAULT_LANGUAGE) -> str:
    """`2 h 5 min` / `2 ч 5 мин`: the two largest units."""
    left = max(int(seconds), 0)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(text(f"dur.{unit}", language, n=left // size))
            left %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def short_age(delta: timedelta | None, language: Language = "en") -> str:
    """'3 d', '2 h 5 min', '4 min', '12 s' (in the language's abbreviations); '—' for no age."""
    if delta is None:
        return "—"
    seconds = max(int(delta.total_seconds()), 0)
    if seconds >= 86400:
        return text("dur.d", language, n=seconds // 86400)
    if seconds >= 3600:
        return f"{text('dur.h', language, n=seconds // 3600)} {text('dur.m', language, n=seconds % 3600 // 60)}"
    if seconds >= 60:
        return text("dur.m", language, n=seconds // 60)
    return text("dur.s", language, n=seconds)
