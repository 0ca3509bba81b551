"""Maintenance windows: planned work that must never be "fixed" by a power-cut.

A window covers one unit (`unit_number`) or the whole fleet (`unit_number` None). It is either one-off
(`starts_at` .. `ends_at`, UTC) or weekly (`weekly`, e.g. "sun 02:00-04:00", read in the configured time
zone). An operator can end a window early (`ended_at`). Pure: no clock, no I/O; the time zone is a
parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK = timedelta(days=7)
LONGEST = timedelta(days=366)  # a window longer than a year is a typo, not planned work
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$", re.IGNORECASE)
_WEEKLY = re.compile(r"^\s*([a-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$", re.IGNORECASE)


class WindowError(ValueError):
    """A window the operator described cannot be understood (one line saying why)."""


@dataclass(frozen=True)
class Weekly:
    """Every week on `weekday` (0 = Monday) from `start` to `end` local time; an end before the start
    runs past midnight into the next day."""

    weekday: int
    start: time
    end: time

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.start:%H:%M}-{self.end:%H:%M}"

    def occurrence(self, now: datetime, zone: tzinfo) -> tuple[datetime, datetime] | None:
        """The occurrence that contains `now` (start, end in UTC), or None."""
        local = now.astimezone(zone)
        for weeks_back in (0, 1):
            day = local.date() - timedelta(days=(local.weekday() - self.weekday) % 7 + 7 * weeks_back)
            start = datetime.combine(day, self.start, zone)
            end = datetime.combine(day, self.end, zone)
            if end <= start:
                end += timedelta(days=1)
            if start <= local < end:
                return start.astimezone(now.tzinfo), end.astimezone(now.tzinfo)
        return None


@dataclass(frozen=True)
class Window:
    """One maintenance window as stored (`pbxwatch_maintenance`)."""

    id: int
    unit_number: str | None  # None: every unit
    reason: str
    set_by: str
    starts_at: datetime | None = None  # one-off
    ends_at: datetime | None = None  # one-off
    weekly: Weekly | None = None
    ended_at: datetime | None = None  # ended early by an operator

    @property
    def scope(self) -> str:
        return self.unit_number or "all units"

    def occurrence(self, now: datetime, zone: tzinfo) -> tuple[datetime, datetime] | None:
        """(start, end) of the occurrence running at `now`, or None when the window is not active."""
        if self.ended_at is not None and self.ended_at <= now:
            return None
        if self.weekly is not None:
            return self.weekly.occurrence(now, zone)
        if self.starts_at is not None and self.ends_at is not None and self.starts_at <= now < self.ends_at:
            return self.starts_at, self.ends_at
        return None

    def is_over(self, now: datetime) -> bool:
        """A one-off window that has ended, or any window ended by an operator: `list` hides it by default."""
        ended = self.ended_at is not None and self.ended_at <= now
        return ended or (self.weekly is None and self.ends_at is not None and self.ends_at <= now)

    def describe(self) -> str:
        when = f"weekly {self.weekly}" if self.weekly else f"{_iso(self.starts_at)} .. {_iso(self.ends_at)}"
        return f"{self.scope}: {when} ({self.reason}, set by {self.set_by})"


@dataclass(frozen=True)
class Occurrence:
    """A window running now for one unit: the window and the UTC span of this occurrence."""

    window: Window
    start: datetime
    end: datetime


def active_for(unit_number: str, windows: Iterable[Window], now: datetime, zone: tzinfo) -> Occurrence | None:
    """The window covering this unit at `now` (the one that started first when several overlap)."""
    found: list[Occurrence] = []
    for window in windows:
        if window.unit_number not in (None, unit_number):
            continue
        span = window.occurrence(now, zone)
        if span is not None:
            found.append(Occurrence(window, *span))
    return min(found, key=lambda o: (o.start, o.window.id)) if found else None


def active_map(units: Iterable[str], windows: Iterable[Window], now: datetime, zone: tzinfo) -> Mapping[str, Window]:
    """{unit number: the window covering it now} for the units in a window."""
    listed = list(windows)
    out: dict[str, Window] = {}
    for number in units:
        occurrence = active_for(number, listed, now, zone)
        if occurrence is not None:
            out[number] = occurrence.window
    return out


def parse_duration(text: str) -> timedelta:
    """`2h`, `90m`, `1d12h`, `1h30m` -> a positive timedelta."""
    match = _DURATION.match(text)
    if not text.strip() or match is None or not any(match.groups()):
        raise WindowError(f"cannot read the duration {text!r}: use e.g. 2h, 90m, 1d, 1h30m")
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    if days * 1440 + hours * 60 + minutes > LONGEST.total_seconds() / 60:
        raise WindowError(f"the duration {text!r} is longer than {LONGEST.days} days")
    span = timedelta(days=days, hours=hours, minutes=minutes)
    if span <= timedelta(0):
        raise WindowError(f"the duration {text!r} must be longer than zero")
    return span


def parse_weekly(text: str) -> Weekly:
    """`sun 02:00-04:00` (day name, then a local time span; an end before the start crosses midnight)."""
    match = _WEEKLY.match(text)
    if match is None:
        raise WindowError(f'cannot read the weekly window {text!r}: use e.g. "sun 02:00-04:00"')
    day, start_h, start_m, end_h, end_m = match.groups()
    if day.lower() not in WEEKDAYS:
        raise WindowError(f"unknown day {day!r} in {text!r} (one of {', '.join(WEEKDAYS)})")
    try:
        start, end = time(int(start_h), int(start_m)), time(int(end_h), int(end_m))
    except ValueError:
        raise WindowError(f"the times in {text!r} must be between 00:00 and 23:59") from None
    if start == end:
        raise WindowError(f"the weekly window {text!r} is empty (start equals end)")
    return Weekly(WEEKDAYS.index(day.lower()), start, end)


def _iso(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "?"
