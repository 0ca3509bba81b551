"""What an operator asks for when adding a window (CLI flags or the API body), validated in one place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from pbxwatch.domain.maintenance import LONGEST, Weekly, WindowError, parse_duration, parse_weekly

UNTIL_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%H:%M")


@dataclass(frozen=True)
class WindowRequest:
    """Exactly one of `duration` (`--for 2h`), `until` (`--until "2026-12-02 18:00"`) or `weekly`."""

    duration: timedelta | None = None
    until: datetime | None = None
    weekly: Weekly | None = None

    @classmethod
    def parse(
        cls, *, for_: str | None, until: str | None, weekly: str | None, now: datetime, zone: tzinfo
    ) -> WindowRequest:
        given = [x for x in (for_, until, weekly) if x]
        if len(given) != 1:
            raise WindowError(
                'give exactly one of --for (e.g. 2h), --until (e.g. "2026-12-02 18:00") or '
                '--weekly (e.g. "sun 02:00-04:00")'
            )
        if for_:
            return cls(duration=parse_duration(for_))
        if until:
            return cls(until=_within_a_year(parse_until(until, now, zone), now, until))
        assert weekly is not None
        return cls(weekly=parse_weekly(weekly))


def parse_until(text: str, now: datetime, zone: tzinfo) -> datetime:
    """A local time in `zone` (`2026-12-02 18:00`, or `18:00` = the next time it is 18:00), or ISO with offset."""
    text = text.strip()
    try:
        aware = datetime.fromisoformat(text)
    except ValueError:
        aware = None
    if aware is not None and aware.tzinfo is not None:
        return aware
    for form in UNTIL_FORMATS:
        try:
            parsed = datetime.strptime(text, form)  # naive: the zone is attached just below
        except ValueError:
            continue
        if form == "%H:%M":
            local_now = now.astimezone(zone)
            moment = datetime.combine(local_now.date(), parsed.time(), zone)
            return moment if moment > local_now else moment + timedelta(days=1)
        return parsed.replace(tzinfo=zone)
    raise WindowError(f'cannot read the time {text!r}: use e.g. "2026-12-02 18:00" (time zone of monitor.time_zone)')


def _within_a_year(moment: datetime, now: datetime, text: str) -> datetime:
    """A window ends within `LONGEST` from now (and the arithmetic stays inside datetime's range)."""
    try:
        too_far = moment - now > LONGEST
    except OverflowError:
        too_far = True
    if too_far:
        raise WindowError(f"the time {text!r} is more than {LONGEST.days} days away")
    return moment
