"""The timelines' comparison allows real time to pass between a test's steps, and no more."""

from datetime import UTC, datetime, timedelta

from tests.workflow.scenarios import Offset, on_plan, timeline


def test_a_row_matches_its_plan_from_the_moment_itself_to_the_slack_after_it():
    assert Offset("2:00:00") == "2:00:00"
    assert Offset("2:00:07") == "2:00:00"  # a slow machine's steps
    assert Offset("2:00:31") != "2:00:00"  # a deadline counted wrong by more than the slack
    assert Offset("1:59:58") != "2:00:00"  # never before its moment
    assert ("2:10:00", "Escalated", "") != (Offset("2:00:00"), "Escalated", "")


def test_whole_timelines_compare_row_by_row():
    start = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)

    class Event:
        def __init__(self, after: timedelta, type_: str):
            self.occurred_at, self.type, self.data = start + after, type_, {}

    rows = timeline([Event(timedelta(seconds=1), "CompensationProposed")], start)
    assert rows == [("0:00:00", "CompensationProposed", "")]
    assert rows != [("0:00:00", "CompensationDecided", "")]
    assert on_plan(start + timedelta(hours=2, seconds=3), start + timedelta(hours=2))
    assert not on_plan(start + timedelta(hours=2, minutes=1), start + timedelta(hours=2))
