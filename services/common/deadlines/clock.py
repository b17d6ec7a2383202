"""Deadline arithmetic on a business calendar, or around the clock. Pure and deterministic:
every input and output is an aware datetime, nothing reads the machine's clock or time zone,
so the workflow can call it and the property tests can pin it down.

Working spans are wall-clock times in the calendar's zone (09:00-18:00 stays 09:00-18:00
across a daylight-saving change); all arithmetic happens in UTC.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from services.common.deadlines.policy import CalendarSpec

_SEARCH_DAYS = 3 * 366  # a calendar with no working time in three years is a broken calendar
ZERO = timedelta(0)


class Clock(Protocol):
    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of this clock's time after `start`."""

    def between(self, start: datetime, end: datetime) -> timedelta:
        """How much of this clock's time passes from `start` to `end` (zero if end <= start)."""


class AroundTheClock:
    def add(self, start: datetime, duration: timedelta) -> datetime:
        return start + duration

    def between(self, start: datetime, end: datetime) -> timedelta:
        return max(end - start, ZERO)


class BusinessCalendar:
    def __init__(self, spec: CalendarSpec):
        self.spec = spec
        self.zone = ZoneInfo(spec.timezone)
        self.holidays = frozenset(spec.holidays)
        self.make_up_days = frozenset(spec.make_up_days)
        self._weekday_spans = [spec.spans_on(weekday) for weekday in range(7)]
        self._by_day: dict[date, list[tuple[datetime, datetime]]] = {}

    def spans_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working spans of one local day, in UTC (make-up days work Monday's hours)."""
        if day not in self._by_day:
            if day in self.holidays:
                spans = []
            else:
                weekday = 0 if day in self.make_up_days else day.weekday()
                spans = [
                    (
                        datetime.combine(day, s, tzinfo=self.zone).astimezone(UTC),
                        datetime.combine(day, e, tzinfo=self.zone).astimezone(UTC),
                    )
                    for s, e in self._weekday_spans[weekday]
                ]
            self._by_day[day] = spans
        return self._by_day[day]

    def _days_from(self, moment: datetime):
        day = moment.astimezone(self.zone).date() - timedelta(days=1)  # a span may cross UTC midnight
        for offset in range(_SEARCH_DAYS):
            yield day + timedelta(days=offset)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        _aware(start)
        remaining = duration
        for day in self._days_from(start):
            for span_start, span_end in self.spans_on(day):
                if span_end <= start:
                    continue
                begin = max(span_start, start)
                if remaining <= span_end - begin:
                    return begin + remaining
                remaining -= span_end - begin
        raise ValueError(f"the calendar has no working time within {_SEARCH_DAYS} days of {start}")

    def between(self, start: datetime, end: datetime) -> timedelta:
        _aware(start)
        _aware(end)
        total = ZERO
        if end <= start:
            return total
        for day in self._days_from(start):
            for span_start, span_end in self.spans_on(day):
                if span_start >= end:
                    return total
                overlap = min(span_end, end) - max(span_start, start)
                if overlap > ZERO:
                    total += overlap
        return total

    def is_working_time(self, moment: datetime) -> bool:
        day = moment.astimezone(self.zone).date()
        return any(s <= moment < e for d in (day - timedelta(days=1), day) for s, e in self.spans_on(d))

    def next_working_moment(self, moment: datetime) -> datetime:
        """`moment` itself during working time, else the start of the next working span."""
        return self.add(moment, ZERO)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)


def _aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("deadline arithmetic needs aware datetimes")


AROUND_THE_CLOCK = AroundTheClock()


def clock_for(kind: str, calendar: Callable[[], BusinessCalendar]) -> Clock:
    """`calendar` is asked for only by a business clock (building one is not free)."""
    return calendar() if kind == "business" else AROUND_THE_CLOCK
