"""Deadline arithmetic: properties that must hold for any moment and any duration."""

import os
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.deadlines.clock import AroundTheClock, BusinessCalendar
from services.common.deadlines.policy import CalendarSpec, load_policy

SHANGHAI = BusinessCalendar(load_policy("default").calendar)
# A daylight-saving zone, a lunch break, a holiday and a make-up Saturday.
BERLIN = BusinessCalendar(
    CalendarSpec(
        timezone="Europe/Berlin",
        working_hours={
            "mon": ["08:00-12:00", "13:00-17:00"],
            "tue": ["08:00-12:00", "13:00-17:00"],
            "wed": ["08:00-12:00", "13:00-17:00"],
            "thu": ["08:00-12:00", "13:00-17:00"],
            "fri": ["08:00-14:00"],
            "sat": [],
            "sun": [],
        },
        holidays=[date(2026, 12, 25), date(2027, 4, 5)],
        make_up_days=[date(2026, 12, 19)],
    )
)
CALENDARS = st.sampled_from([SHANGHAI, BERLIN])
moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10))


@given(CALENDARS, moments, durations, durations)
def test_a_deadline_never_moves_earlier_when_time_is_added(calendar, start, duration, more):
    assert start <= calendar.add(start, duration) <= calendar.add(start, duration + more)


@given(CALENDARS, moments, durations)
def test_adding_then_measuring_gives_back_the_duration(calendar, start, duration):
    assert calendar.between(start, calendar.add(start, duration)) == duration


@given(CALENDARS, moments, durations.filter(lambda d: d > timedelta(0)))
def test_a_deadline_falls_in_working_time(calendar, start, duration):
    deadline = calendar.add(start, duration)
    just_before = deadline - timedelta(microseconds=1)
    assert calendar.is_working_time(just_before)
    assert calendar.spans_on(calendar.local(just_before).date())


@given(
    CALENDARS,
    moments,
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=5)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    durations,
)
def test_pausing_shifts_the_deadline_by_exactly_the_paused_business_time(
    calendar, start, before_pause, pause_length, target
):
    """The SLA clock stops while paused: the deadline becomes `start + target` of working time
    counted outside the pause. It moves by the business time inside the pause, no more."""
    original = calendar.add(start, target)
    pause_from = start + before_pause
    pause_to = pause_from + pause_length
    if pause_from >= original:
        return  # a pause after the deadline does not move it
    paused = calendar.between(pause_from, pause_to)
    shifted = calendar.add(start, target + paused)
    assert calendar.between(original, shifted) == paused
    assert calendar.between(start, shifted) - calendar.between(pause_from, min(pause_to, shifted)) == target


@given(moments, durations)
def test_around_the_clock_is_plain_addition(start, duration):
    clock = AroundTheClock()
    assert clock.add(start, duration) == start + duration
    assert clock.between(start, start + duration) == duration


def test_weekends_and_holidays_are_skipped():
    friday_evening = datetime(2026, 11, 27, 17, 30, tzinfo=SHANGHAI.zone)
    assert SHANGHAI.add(friday_evening, timedelta(hours=1)) == datetime(2026, 11, 30, 9, 30, tzinfo=SHANGHAI.zone)
    # The State Council's 2026 schedule: October 1-7 off, work resumes on Thursday the 8th.
    national_day_eve = datetime(2026, 9, 30, 20, 0, tzinfo=SHANGHAI.zone)
    assert SHANGHAI.next_working_moment(national_day_eve) == datetime(2026, 10, 8, 9, 0, tzinfo=SHANGHAI.zone)
    assert SHANGHAI.between(national_day_eve, datetime(2026, 10, 8, 9, 0, tzinfo=SHANGHAI.zone)) == timedelta(0)
    # A make-up Saturday is worked, with Monday's hours.
    assert BERLIN.spans_on(date(2026, 12, 19)) and not BERLIN.spans_on(date(2026, 12, 20))
    assert not BERLIN.spans_on(date(2026, 12, 25))


@pytest.mark.parametrize("day", [date(2027, 3, 28), date(2026, 10, 25)])  # Sundays of DST changes
def test_daylight_saving_changes_keep_wall_clock_working_hours(day):
    monday = day + timedelta(days=1)
    start = datetime.combine(day, datetime.min.time(), tzinfo=BERLIN.zone)
    first_working = BERLIN.next_working_moment(start)
    assert BERLIN.local(first_working).hour == 8 and BERLIN.local(first_working).date() == monday
    # A full Monday is 8 working hours whatever the UTC offset did overnight.
    assert BERLIN.between(start, start + timedelta(days=2)) == timedelta(hours=8)
    assert BERLIN.local(BERLIN.add(start, timedelta(hours=8))).hour == 17


@given(CALENDARS, moments, durations)
@settings(max_examples=25)
def test_results_do_not_depend_on_the_machines_time_zone(calendar, start, duration):
    results = []
    original = os.environ.get("TZ")
    try:
        for zone in ("UTC", "America/Los_Angeles", "Asia/Kolkata"):
            os.environ["TZ"] = zone
            time.tzset()
            results.append((calendar.add(start, duration), calendar.between(start, start + duration)))
    finally:
        if original is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = original
        time.tzset()
    assert len(set(results)) == 1


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        SHANGHAI.add(datetime(2026, 11, 23, 9, 0), timedelta(hours=1))
