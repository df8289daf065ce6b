"""How the time of a service-level target is counted (DOMAIN.md, "Service-level targets").

Two clocks, one protocol:

* ``CalendarTime`` counts wall-clock time. It is *not* extended by holidays or rest days:
  24 hours from Friday 17:00 is Saturday 17:00.
* ``WorkingTime`` counts only the working hours of working days in one time zone. Days
  off are the weekdays outside ``working_days`` plus the listed ``holidays``; listed
  ``extra_working_days`` (e.g. a Chinese make-up Saturday, 调休上班) are worked although
  they fall on a rest day.

Both are pure: no I/O, no "now". Inputs must be timezone-aware; results are aware UTC.
Arithmetic is done on UTC instants, so a day with a daylight-saving change counts the time
that really passed (an 09:00-18:00 day across a spring-forward change lasts 9 real hours,
because the change happens at night; a working day that contains the change lasts 8 or 10).

Invariants (tested with hypothesis in tests/unit/test_business_time.py), for every aware
``s`` and every duration ``d >= 0``, to the microsecond:

* ``counted(s, add(s, d)) == d``
* ``add(add(s, a), b) == add(s, a + b)`` and ``a <= b`` implies ``add(s, a) <= add(s, b)``
* for working time, ``add(s, d)`` is always a working moment (``is_working`` is true): a
  start outside working hours counts from the next working moment, and a deadline that
  uses up a working day exactly is the *opening of the next working day* rather than the
  closing minute of this one. Both name the same amount of counted time; this choice keeps
  ``add`` additive and means a deadline never lies outside working hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ZERO = timedelta(0)
# A calendar with this many consecutive days without work is treated as broken rather than
# searched forever (ten years: no realistic holiday list comes close).
_MAX_DAYS_WITHOUT_WORK = 3660


@runtime_checkable
class Clock(Protocol):
    """How a target's time is counted."""

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment when ``duration`` of counted time has passed since ``start``
        (aware in, aware UTC out)."""
        ...

    def counted(self, start: datetime, end: datetime) -> timedelta:
        """Counted time in ``[start, end)``; zero when ``end <= start``."""
        ...


def _utc(at: datetime, what: str = "datetime") -> datetime:
    if not isinstance(at, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {at.isoformat()}")
    # Convert before any arithmetic: Python subtracts two datetimes that share a tzinfo by
    # their wall clocks, which is wrong across a daylight-saving change.
    return at.astimezone(UTC)


def _duration(duration: timedelta) -> timedelta:
    if not isinstance(duration, timedelta):
        raise TypeError(f"duration must be a timedelta, not {type(duration).__name__}")
    if duration < ZERO:
        raise ValueError(f"duration must not be negative, got {duration}")
    return duration


class CalendarTime:
    """Wall-clock time: not extended by holidays or rest days."""

    def add(self, start: datetime, duration: timedelta) -> datetime:
        return _utc(start, "start") + _duration(duration)

    def counted(self, start: datetime, end: datetime) -> timedelta:
        elapsed = _utc(end, "end") - _utc(start, "start")
        return max(elapsed, ZERO)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CalendarTime)

    def __hash__(self) -> int:
        return hash(CalendarTime)

    def __repr__(self) -> str:
        return "CalendarTime()"


class WorkingTime:
    """Working days and hours in a time zone; weekends and holidays skipped.

    ``working_days`` uses ``date.weekday()`` numbers (0 = Monday). The working hours of a
    day are ``[start, end)`` in local time, so ``end`` itself is not a working moment.
    """

    def __init__(self, timezone: str, working_days: Iterable[int], start: time, end: time,
                 holidays: Iterable[date] = (), *,
                 extra_working_days: Iterable[date] = ()):
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
            raise ValueError(f"unknown time zone {timezone!r}: {error}") from None
        self.timezone = timezone
        self.working_days = frozenset(working_days)
        if not self.working_days:
            raise ValueError("working_days must name at least one day")
        if not self.working_days <= set(range(7)):
            raise ValueError(f"working_days must be 0 (Monday) .. 6 (Sunday), "
                             f"got {sorted(self.working_days)}")
        for name, value in (("start", start), ("end", end)):
            if not isinstance(value, time) or value.tzinfo is not None:
                raise ValueError(f"{name} must be a local time without a time zone")
        if not start < end:
            raise ValueError(f"working hours must start before they end, got "
                             f"{start.isoformat()}-{end.isoformat()}")
        self.start, self.end = start, end
        self.holidays = frozenset(holidays)
        self.extra_working_days = frozenset(extra_working_days)
        for day in self.holidays | self.extra_working_days:
            if not isinstance(day, date) or isinstance(day, datetime):
                raise ValueError(f"holidays and extra working days must be dates, got {day!r}")
        both = self.holidays & self.extra_working_days
        if both:
            raise ValueError("a day cannot be both a holiday and an extra working day: "
                             + ", ".join(sorted(d.isoformat() for d in both)))

    # -- the calendar ---------------------------------------------------------------------

    @property
    def day_length(self) -> timedelta:
        """The nominal length of one working day (``end - start``), used to turn "N
        working days" into counted time."""
        return (datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start))

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        return day.weekday() in self.working_days and day not in self.holidays

    def _hours(self, day: date) -> tuple[datetime, datetime] | None:
        """The working interval of a local date as UTC instants, or None on a day off."""
        if not self.is_working_day(day):
            return None
        opens = datetime.combine(day, self.start, tzinfo=self.zone).astimezone(UTC)
        closes = datetime.combine(day, self.end, tzinfo=self.zone).astimezone(UTC)
        return (opens, closes) if opens < closes else None

    def _intervals_from(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals in order, from the one of the local day before ``at`` on."""
        day = at.astimezone(self.zone).date() - timedelta(days=1)
        without_work = 0
        while True:
            hours = self._hours(day)
            if hours is None:
                without_work += 1
                if without_work > _MAX_DAYS_WITHOUT_WORK:
                    raise ValueError(f"no working day in {_MAX_DAYS_WITHOUT_WORK} days after "
                                     f"{day.isoformat()}: check the holiday list")
            else:
                without_work = 0
                yield hours
            day += timedelta(days=1)

    def is_working(self, at: datetime) -> bool:
        moment = _utc(at, "at")
        day = moment.astimezone(self.zone).date()
        for candidate in (day - timedelta(days=1), day):
            hours = self._hours(candidate)
            if hours is not None and hours[0] <= moment < hours[1]:
                return True
        return False

    # -- the clock ------------------------------------------------------------------------

    def add(self, start: datetime, duration: timedelta) -> datetime:
        moment = _utc(start, "start")
        remaining = _duration(duration)
        for opens, closes in self._intervals_from(moment):
            if closes <= moment:
                continue
            opens = max(opens, moment)
            available = closes - opens
            if remaining < available:
                return opens + remaining
            remaining -= available
        raise AssertionError("unreachable: _intervals_from never ends")  # pragma: no cover

    def counted(self, start: datetime, end: datetime) -> timedelta:
        begin, finish = _utc(start, "start"), _utc(end, "end")
        total = ZERO
        if finish <= begin:
            return total
        for opens, closes in self._intervals_from(begin):
            if opens >= finish:
                break
            low, high = max(opens, begin), min(closes, finish)
            if high > low:
                total += high - low
        return total

    def _key(self) -> tuple:
        return (self.timezone, self.working_days, self.start, self.end, self.holidays,
                self.extra_working_days)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WorkingTime) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"WorkingTime({self.timezone!r}, {sorted(self.working_days)}, "
                f"{self.start.isoformat()}-{self.end.isoformat()}, "
                f"{len(self.holidays)} holidays, {len(self.extra_working_days)} extra days)")
