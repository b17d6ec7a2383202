"""Mainland China's statutory holidays and make-up working days come from a kept library into
the default policy's business calendar (source 000's after-hours rule and every business-clock
deadline depend on them)."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.common.deadlines.clock import BusinessCalendar
from services.common.deadlines.policy import POLICY_DIR, PolicyError, load_policy_file, with_statutory_days

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Loaded as a complaint's activity loads it, for the years around 2026 and 2027.
POLICY = with_statutory_days(load_policy_file(POLICY_DIR / "default.toml"), years=(2026, 2027))
CALENDAR = BusinessCalendar(POLICY.calendar)


def working(day: date) -> bool:
    return CALENDAR.is_working_time(datetime.combine(day, time(10, 0), SHANGHAI))


@pytest.mark.parametrize("day", ["2026-02-16", "2026-02-17", "2026-02-20", "2026-02-23"])
def test_spring_festival_2026_is_off(day):
    assert not working(date.fromisoformat(day))


@pytest.mark.parametrize("saturday", ["2026-02-14", "2026-02-28"])
def test_spring_festival_2026_make_up_saturdays_are_worked(saturday):
    assert date.fromisoformat(saturday).weekday() == 5 and working(date.fromisoformat(saturday))


def test_qingming_and_national_day_2026_with_their_make_up_days():
    assert not working(date(2026, 4, 6))  # Qingming, observed on the Monday
    assert not any(working(date(2026, 10, d)) for d in (1, 2, 5, 6, 7))
    assert working(date(2026, 9, 20)) and working(date(2026, 10, 10))  # Sunday and Saturday worked
    assert working(date(2026, 10, 8))


def test_2027_statutory_holidays_are_off():
    # The State Council's 2027 schedule is not in chinese-calendar yet: the holidays come from
    # `holidays`; make-up Saturdays are added to the policy file once announced.
    assert not working(date(2027, 2, 8))  # Spring Festival (a Monday)
    assert not working(date(2027, 4, 5))  # Qingming
    assert not working(date(2027, 10, 1))  # National Day


def test_2027_make_up_saturdays_come_from_the_policy_file_until_a_library_has_them():
    """No library here knows 2027's make-up working days yet (chinese-calendar 1.11 stops at
    2026, `holidays` has no working days for CN): the operator adds them to the policy once the
    State Council publishes them, and they are worked like the library's."""
    saturday = date(2027, 1, 30)
    assert saturday.weekday() == 5 and not working(saturday)
    announced = POLICY.calendar.model_copy(update={"make_up_days": [saturday]})
    calendar = BusinessCalendar(
        with_statutory_days(POLICY.model_copy(update={"calendar": announced}), years=(2027,)).calendar
    )
    assert calendar.is_working_time(datetime.combine(saturday, time(10, 0), SHANGHAI))
    assert not calendar.is_working_time(datetime.combine(date(2027, 2, 8), time(10, 0), SHANGHAI))


def test_a_complaint_before_national_day_is_due_after_the_golden_week():
    evening = datetime(2026, 9, 30, 18, 30, tzinfo=SHANGHAI)
    first_response = CALENDAR.add(evening, timedelta(hours=1))
    assert first_response == datetime(2026, 10, 8, 10, 0, tzinfo=SHANGHAI)


def test_the_organisations_own_days_are_kept_and_an_unknown_country_is_refused():
    own = POLICY.calendar.model_copy(update={"holidays": [date(2026, 3, 2)], "statutory": "CN"})
    policy = with_statutory_days(POLICY.model_copy(update={"calendar": own}), years=(2026,))
    assert date(2026, 3, 2) in policy.calendar.holidays and date(2026, 2, 16) in policy.calendar.holidays
    nowhere = POLICY.calendar.model_copy(update={"statutory": "ZZ"})
    with pytest.raises(PolicyError, match="statutory"):
        with_statutory_days(POLICY.model_copy(update={"calendar": nowhere}), years=(2026,))
