"""Statutory holidays and make-up working days, from kept libraries rather than typed-in lists.

Mainland China (`CN`) comes from `chinese-calendar`, which carries the State Council's yearly
schedule: the days off and the weekend days worked in their place. A year it does not know yet
(the schedule is published late in the year before) and any other country come from `holidays`,
which knows the statutory holidays (and their observed days) but not China's make-up days: an
organisation adds those to its policy file when they are announced."""

import functools
import logging
from collections.abc import Iterable
from datetime import date, timedelta

import chinese_calendar
import holidays

log = logging.getLogger(__name__)


def statutory_days(country: str, years: Iterable[int]) -> tuple[frozenset[date], frozenset[date]]:
    """(weekdays off, weekend days worked) in `years`. The libraries' data does not change
    while a process runs, so each (country, years) is worked out once: a policy is loaded for
    every complaint that starts."""
    return _statutory_days(country, tuple(years))


@functools.lru_cache(maxsize=32)
def _statutory_days(country: str, years: tuple[int, ...]) -> tuple[frozenset[date], frozenset[date]]:
    off: set[date] = set()
    worked: set[date] = set()
    for year in years:
        if country == "CN" and _chinese_calendar_knows(year):
            day = date(year, 1, 1)
            while day.year == year:
                weekend = day.weekday() >= 5
                if not weekend and not chinese_calendar.is_workday(day):
                    off.add(day)
                elif weekend and chinese_calendar.is_workday(day):
                    worked.add(day)
                day += timedelta(days=1)
        else:
            if country == "CN":
                log.warning("no make-up working days known for this year; add them to the policy", extra={"year": year})
            off.update(d for d in holidays.country_holidays(country, years=year) if d.weekday() < 5)
    return frozenset(off), frozenset(worked)


def _chinese_calendar_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True
