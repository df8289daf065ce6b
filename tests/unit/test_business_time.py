"""The business-time calculator: properties (hypothesis) and worked examples."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from services.intake.business_time import CalendarTime, Clock, WorkingTime
from services.intake.sla_policy import load_policy

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
US_EAST = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)
CALENDAR = CalendarTime()
CHINA = load_policy().working_time  # the shipped calendar: Shanghai, Mon-Fri 9-18, 2026 days off


def office(**changes: Any) -> WorkingTime:
    settings_: dict[str, Any] = dict(timezone="Asia/Shanghai", working_days={0, 1, 2, 3, 4},
                                     start=time(9), end=time(18), holidays=set())
    settings_.update(changes)
    return WorkingTime(**settings_)


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts).replace(tzinfo=zone)  # type: ignore[arg-type]


# -- strategies -----------------------------------------------------------------------------

zones = st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"])
days = st.dates(min_value=date(2025, 12, 1), max_value=date(2027, 1, 31))


@st.composite
def working_times(draw) -> WorkingTime:
    # Hours start at 04:00 or later so that no DST gap (01:00-03:00 in these zones) falls on
    # an opening or closing time; DST inside the hours is covered by an example below.
    start = time(draw(st.integers(4, 12)), draw(st.sampled_from([0, 15, 30, 45])))
    end = time(draw(st.integers(13, 23)), draw(st.sampled_from([0, 30, 59])))
    holidays = draw(st.sets(days, max_size=40))
    extra = draw(st.sets(days, max_size=5)) - holidays
    return WorkingTime(draw(zones), draw(st.sets(st.integers(0, 6), min_size=1)), start, end,
                       holidays, extra_working_days=extra)


calendars = st.one_of(st.just(CHINA), working_times())
clocks = st.one_of(st.just(CALENDAR), calendars)
moments = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2026, 12, 31),
                       timezones=st.sampled_from([UTC, SHANGHAI, BERLIN, US_EAST]))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=12))
positive = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=12))


def works_at(calendar: WorkingTime, at: datetime) -> bool:
    """An independent reading of the calendar: local day and local time of day."""
    here = at.astimezone(ZoneInfo(calendar.timezone))
    day = here.date()
    working_day = day in calendar.extra_working_days or (
        day.weekday() in calendar.working_days and day not in calendar.holidays)
    return working_day and calendar.start <= here.time().replace(tzinfo=None) < calendar.end


# -- properties -----------------------------------------------------------------------------


@given(calendars, moments, positive)
def test_a_working_time_deadline_is_never_on_a_day_off_or_outside_the_hours(calendar, start,
                                                                           duration):
    deadline = calendar.add(start, duration)
    assert works_at(calendar, deadline)
    assert calendar.is_working(deadline)


@given(clocks, moments, durations, durations)
def test_adding_is_monotonic(clock: Clock, start, first, second):
    shorter, longer = sorted((first, second))
    assert clock.add(start, shorter) <= clock.add(start, longer)


@given(clocks, moments, durations, durations)
def test_adding_is_additive(clock: Clock, start, first, second):
    assert clock.add(clock.add(start, first), second) == clock.add(start, first + second)


@given(clocks, moments, durations)
def test_counted_time_undoes_adding_to_the_microsecond(clock: Clock, start, duration):
    deadline = clock.add(start, duration)
    assert deadline.tzinfo is UTC
    assert deadline >= start
    assert clock.counted(start, deadline) == duration


@given(clocks, moments, st.lists(durations, min_size=3, max_size=3))
def test_counted_time_splits_at_any_point_and_is_zero_backwards(clock: Clock, start, steps):
    a = start
    b = a + steps[0]
    c = b + steps[1]
    assert clock.counted(a, c) == clock.counted(a, b) + clock.counted(b, c)
    assert clock.counted(c, a) == timedelta(0)
    assert clock.counted(a, a) == timedelta(0)


@given(clocks, moments, durations, durations)
def test_pausing_for_d_shifts_the_deadline_by_exactly_d_of_counted_time(clock: Clock, start,
                                                                       duration, pause):
    deadline = clock.add(start, duration)
    paused_deadline = clock.add(start, duration + pause)
    assert clock.counted(deadline, paused_deadline) == pause


@given(clocks, moments, durations, st.data())
def test_a_real_pause_does_not_count_towards_the_target(clock: Clock, start, duration, data):
    # (paused_at, resumed_at) begins after the start and before the target ran out; the
    # paused deadline leaves exactly `duration` of counted time outside the pause.
    paused_at = start + data.draw(durations, label="pause begins after")
    assume(clock.counted(start, paused_at) < duration)
    resumed_at = paused_at + data.draw(durations, label="pause lasts")
    deadline = clock.add(start, duration + clock.counted(paused_at, resumed_at))
    assert resumed_at <= deadline
    active = clock.counted(start, paused_at) + clock.counted(resumed_at, deadline)
    assert active == duration


@given(working_times(), moments, durations)
def test_calendar_time_ignores_holidays_and_rest_days(calendar, start, duration):
    deadline = CALENDAR.add(start, duration)
    assert deadline == start.astimezone(UTC) + duration
    # the same calendar target computed in a week full of holidays is unchanged
    assert CALENDAR.counted(start, deadline) == duration


@given(calendars, moments)
def test_zero_working_time_starts_at_the_next_working_moment(calendar, start):
    begins = calendar.add(start, timedelta(0))
    assert calendar.is_working(begins)
    assert calendar.counted(start, begins) == timedelta(0)
    if calendar.is_working(start):
        assert begins == start.astimezone(UTC)  # == across zones is False for a DST-gap time
    else:  # nothing in between is working time
        assert begins > start


@settings(max_examples=50)
@given(calendars, moments)
def test_is_working_agrees_with_the_local_calendar(calendar, at):
    assert calendar.is_working(at) == works_at(calendar, at)


# -- examples: working time ------------------------------------------------------------------


def test_friday_1730_plus_one_working_hour_is_monday_0930():
    friday = local(SHANGHAI, 2026, 3, 13, 17, 30)
    assert friday.weekday() == 4
    deadline = CHINA.add(friday, HOUR)
    assert deadline == local(SHANGHAI, 2026, 3, 16, 9, 30)
    assert deadline.tzinfo is UTC and deadline == datetime(2026, 3, 16, 1, 30, tzinfo=UTC)


def test_using_up_a_working_day_exactly_ends_at_the_next_opening():
    deadline = CHINA.add(local(SHANGHAI, 2026, 3, 13, 17, 0), HOUR)
    assert deadline == local(SHANGHAI, 2026, 3, 16, 9, 0)  # not Friday 18:00: not working
    assert CHINA.counted(local(SHANGHAI, 2026, 3, 13, 17, 0), deadline) == HOUR


def test_a_holiday_is_skipped():
    eve = local(SHANGHAI, 2026, 9, 30, 17, 0)  # Wednesday before National Day
    assert CHINA.add(eve, 2 * HOUR) == local(SHANGHAI, 2026, 10, 8, 10, 0)
    assert CHINA.counted(eve, local(SHANGHAI, 2026, 10, 8, 10, 0)) == 2 * HOUR
    assert not CHINA.is_working(local(SHANGHAI, 2026, 10, 5, 10, 0))  # a Monday off


def test_a_make_up_working_day_on_a_weekend_is_worked():
    friday = local(SHANGHAI, 2026, 2, 13, 17, 30)  # before the Spring Festival
    assert CHINA.add(friday, HOUR) == local(SHANGHAI, 2026, 2, 14, 9, 30)  # Saturday, worked
    assert CHINA.is_working(local(SHANGHAI, 2026, 10, 10, 11, 0))  # Saturday, worked
    # then nine days off: 2026-02-15 .. 02-23
    assert CHINA.add(local(SHANGHAI, 2026, 2, 14, 17, 0), 2 * HOUR) == \
        local(SHANGHAI, 2026, 2, 24, 10, 0)


def test_three_working_days_over_the_spring_festival():
    received = local(SHANGHAI, 2026, 2, 13, 17, 30)  # Friday
    # 0.5 h Friday + 9 h Saturday 14th (make-up day) + 9 h Tuesday 24th + 8.5 h Wednesday
    assert CHINA.add(received, 27 * HOUR) == local(SHANGHAI, 2026, 2, 25, 17, 30)


def test_a_utc_input_is_read_in_the_calendars_time_zone():
    monday_0830_in_shanghai = datetime(2026, 3, 16, 0, 30, tzinfo=UTC)
    deadline = CHINA.add(monday_0830_in_shanghai, HOUR)
    assert deadline == datetime(2026, 3, 16, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    assert deadline.tzinfo is UTC
    # Sunday 23:00 UTC is already Monday 07:00 in Shanghai
    assert CHINA.add(datetime(2026, 3, 15, 23, 0, tzinfo=UTC), HOUR) == \
        datetime(2026, 3, 16, 2, 0, tzinfo=UTC)
    # the same instant given in another zone gives the same answer
    assert CHINA.add(local(US_EAST, 2026, 3, 15, 19, 0), HOUR) == \
        CHINA.add(datetime(2026, 3, 15, 23, 0, tzinfo=UTC), HOUR)


def test_a_zone_without_dst_has_nine_hour_days_all_year():
    calendar = office(working_days=set(range(7)))
    for month in range(1, 13):
        day = local(SHANGHAI, 2026, month, 1, 0, 0)
        assert calendar.counted(day, day + timedelta(days=1)) == 9 * HOUR


def test_working_hours_across_a_dst_change_count_real_time():
    # Berlin moves from 02:00 to 03:00 on Sunday 2026-03-29 and back on 2026-10-25.
    night = office(timezone="Europe/Berlin", working_days=set(range(7)),
                   start=time(1), end=time(5))
    spring = local(BERLIN, 2026, 3, 29, 0, 0)
    autumn = local(BERLIN, 2026, 10, 25, 0, 0)
    assert night.counted(spring, spring + timedelta(days=1)) == 3 * HOUR
    assert night.counted(autumn, autumn + timedelta(days=1)) == 5 * HOUR
    # the usual 09-18 day is 9 hours either side of the change
    day = office(timezone="Europe/Berlin")
    friday, monday = local(BERLIN, 2026, 3, 27, 17, 30), local(BERLIN, 2026, 3, 30, 9, 30)
    assert day.add(friday, HOUR) == monday
    assert monday.utcoffset() - friday.utcoffset() == HOUR


def test_is_working_at_the_edges():
    assert CHINA.is_working(local(SHANGHAI, 2026, 3, 16, 9, 0))
    assert not CHINA.is_working(local(SHANGHAI, 2026, 3, 16, 8, 59, 59, 999999))
    assert CHINA.is_working(local(SHANGHAI, 2026, 3, 16, 17, 59, 59, 999999))
    assert not CHINA.is_working(local(SHANGHAI, 2026, 3, 16, 18, 0))
    assert not CHINA.is_working(local(SHANGHAI, 2026, 3, 14, 10, 0))  # Saturday


def test_zero_duration():
    saturday = local(SHANGHAI, 2026, 3, 14, 10, 0)
    assert CALENDAR.add(saturday, timedelta(0)) == saturday
    assert CHINA.add(saturday, timedelta(0)) == local(SHANGHAI, 2026, 3, 16, 9, 0)
    tuesday = local(SHANGHAI, 2026, 3, 17, 10, 0)
    assert CHINA.add(tuesday, timedelta(0)) == tuesday


# -- examples: calendar time -----------------------------------------------------------------


def test_calendar_time_runs_through_holidays_and_weekends():
    eve = local(SHANGHAI, 2026, 9, 30, 17, 0)
    assert CALENDAR.add(eve, timedelta(hours=24)) == local(SHANGHAI, 2026, 10, 1, 17, 0)
    assert CALENDAR.counted(eve, local(SHANGHAI, 2026, 10, 8, 17, 0)) == timedelta(days=8)


def test_calendar_time_counts_real_hours_across_dst():
    saturday_noon = local(BERLIN, 2026, 3, 28, 12, 0)
    assert CALENDAR.add(saturday_noon, timedelta(hours=24)) == local(BERLIN, 2026, 3, 29, 13, 0)
    # same tzinfo on both ends: still real time, not the wall-clock difference
    assert CALENDAR.counted(saturday_noon, local(BERLIN, 2026, 3, 29, 12, 0)) == 23 * HOUR


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("clock", [CALENDAR, CHINA], ids=["calendar", "working"])
def test_naive_datetimes_and_negative_durations_are_refused(clock):
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.add(datetime(2026, 3, 16, 9), HOUR)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.counted(datetime(2026, 3, 16, 9, tzinfo=UTC), datetime(2026, 3, 17))
    with pytest.raises(ValueError, match="negative"):
        clock.add(datetime(2026, 3, 16, 9, tzinfo=UTC), -HOUR)
    with pytest.raises(TypeError):
        clock.add(datetime(2026, 3, 16, 9, tzinfo=UTC), 3600)


@pytest.mark.parametrize("changes, message", [
    ({"timezone": "Mars/Olympus_Mons"}, "unknown time zone"),
    ({"working_days": set()}, "at least one day"),
    ({"working_days": {7}}, "0 \\(Monday\\)"),
    ({"start": time(18), "end": time(9)}, "start before"),
    ({"start": time(9, tzinfo=UTC)}, "without a time zone"),
    ({"holidays": {date(2026, 1, 4)}, "extra_working_days": {date(2026, 1, 4)}},
     "both a holiday"),
])
def test_a_bad_working_calendar_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        office(**changes)


def test_both_clocks_satisfy_the_protocol():
    assert isinstance(CALENDAR, Clock) and isinstance(CHINA, Clock)
    assert CHINA.day_length == 9 * HOUR
