"""The SLA state machine on its own: what fires when, exactly once."""

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from services.common.deadlines.policy import load_policy
from services.common.deadlines.sla import SlaState

POLICY = load_policy("default")
SHANGHAI = timezone(timedelta(hours=8))
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)  # a working Monday
M = timedelta(minutes=1)


def fired(sla: SlaState, at: datetime) -> list[tuple]:
    return [(d.kind, d.target, d.fraction or d.level, d.to) for d in sla.due(at)]


def test_tier_1_first_response_warns_breaches_and_climbs_the_chain_once_each():
    sla = SlaState(policy=POLICY, tier=1)
    sla.start("first_response", MONDAY_10)
    assert sla.next_wakeup(MONDAY_10) == MONDAY_10 + 7.5 * M
    assert fired(sla, MONDAY_10 + 7 * M) == []
    assert fired(sla, MONDAY_10 + 7.5 * M) == [("warn", "first_response", 0.5, "owner")]
    assert fired(sla, MONDAY_10 + 7.5 * M) == []  # never twice
    assert sla.next_wakeup(MONDAY_10 + 8 * M) == MONDAY_10 + 12 * M
    assert fired(sla, MONDAY_10 + 12 * M) == [("warn", "first_response", 0.8, "owner")]
    assert fired(sla, MONDAY_10 + 15 * M) == [("breach", "first_response", 1, "group_lead")]
    assert sla.breached and sla.escalation_level == 1
    assert sla.next_wakeup(MONDAY_10 + 15 * M) == MONDAY_10 + 45 * M
    assert fired(sla, MONDAY_10 + 45 * M) == [("climb", "first_response", 2, "department_head")]
    assert fired(sla, MONDAY_10 + 75 * M) == [("climb", "first_response", 3, "manager")]
    assert sla.next_wakeup(MONDAY_10 + 75 * M) is None  # the chain ends with the manager
    assert fired(sla, MONDAY_10 + 500 * M) == []


def test_a_worker_back_after_an_outage_fires_what_is_due_in_order_without_stale_warnings():
    sla = SlaState(policy=POLICY, tier=1)
    sla.start("first_response", MONDAY_10)
    assert fired(sla, MONDAY_10 + 50 * M) == [
        ("breach", "first_response", 1, "group_lead"),
        ("climb", "first_response", 2, "department_head"),
    ]


def test_meeting_a_target_in_time_stops_it():
    sla = SlaState(policy=POLICY, tier=1)
    sla.start("first_response", MONDAY_10)
    sla.meet("first_response", MONDAY_10 + 10 * M)
    assert fired(sla, MONDAY_10 + 60 * M) == [] and sla.next_wakeup(MONDAY_10 + 10 * M) is None


def test_business_clock_runs_only_in_working_hours():
    sla = SlaState(policy=POLICY, tier=3)
    friday_17_30 = datetime(2026, 11, 27, 17, 30, tzinfo=SHANGHAI)
    target = sla.start("first_response", friday_17_30)
    assert sla.deadline(target, friday_17_30) == datetime(2026, 11, 30, 9, 30, tzinfo=SHANGHAI)
    assert fired(sla, datetime(2026, 11, 29, 23, 0, tzinfo=SHANGHAI)) == []  # weekend: nothing
    assert fired(sla, datetime(2026, 11, 30, 9, 18, tzinfo=SHANGHAI)) == [("warn", "first_response", 0.8, "owner")]
    assert fired(sla, datetime(2026, 11, 30, 9, 30, tzinfo=SHANGHAI)) == [("breach", "first_response", 1, "group_lead")]


def test_pausing_moves_the_deadline_by_the_paused_time_and_stops_timers_meanwhile():
    sla = SlaState(policy=POLICY, tier=1)
    target = sla.start("solution_plan", MONDAY_10)
    assert sla.deadline(target, MONDAY_10) == MONDAY_10 + 120 * M
    sla.pause(MONDAY_10 + 30 * M)
    assert sla.deadline(target, MONDAY_10 + 40 * M) is None
    assert fired(sla, MONDAY_10 + 200 * M) == []  # 30 of 120 minutes used: no warning yet
    assert sla.next_wakeup(MONDAY_10 + 200 * M) is None
    sla.resume(MONDAY_10 + 200 * M, progress_running=False)
    assert sla.deadline(target, MONDAY_10 + 200 * M) == MONDAY_10 + (120 + 170) * M
    assert sla.consumed(target, MONDAY_10 + 210 * M) == 40 * M
    assert fired(sla, MONDAY_10 + 230 * M) == [("warn", "solution_plan", 0.5, "owner")]


def test_an_asked_departments_answer_by_runs_on_while_the_complaint_waits_on_the_customer():
    """Another department's answer (source 001: within 24 h) does not wait on the customer."""
    sla = SlaState(policy=POLICY, tier=2)
    plan = sla.start("resolution", MONDAY_10)
    asked = sla.start("consultation_answer", MONDAY_10)
    assert sla.deadline(asked, MONDAY_10) == MONDAY_10 + 24 * 60 * M
    sla.pause(MONDAY_10 + 60 * M)
    assert sla.deadline(plan, MONDAY_10 + 90 * M) is None  # the complaint's own clock stops
    assert sla.deadline(asked, MONDAY_10 + 90 * M) == MONDAY_10 + 24 * 60 * M
    again = sla.start("consultation_answer", MONDAY_10 + 120 * M)  # asked while waiting
    assert sla.deadline(again, MONDAY_10 + 120 * M) == MONDAY_10 + (24 * 60 + 120) * M
    assert fired(sla, MONDAY_10 + (12 * 60 + 120) * M) == [("warn", "consultation_answer", 0.5, "owner")]


def test_a_missed_progress_update_reminds_then_escalates():
    sla = SlaState(policy=POLICY, tier=1)
    sla.start("progress", MONDAY_10)
    assert fired(sla, MONDAY_10 + 120 * M) == [("remind", "progress", 0, "owner")]
    assert fired(sla, MONDAY_10 + 149 * M) == []
    assert fired(sla, MONDAY_10 + 150 * M) == [("breach", "progress", 1, "group_lead")]


def test_tier_2_progress_after_an_update_is_due_by_17_00_on_the_next_working_day():
    sla = SlaState(policy=POLICY, tier=2)
    friday = datetime(2026, 11, 27, 11, 0, tzinfo=SHANGHAI)
    sla.start("progress", friday - timedelta(hours=1))
    sla.meet("progress", friday)  # the day's update went out
    target = sla.start("progress", friday)
    assert sla.deadline(target, friday) == datetime(2026, 11, 30, 17, 0, tzinfo=SHANGHAI)


def test_tier_3_owes_one_update_within_24_h_and_none_after_it():
    sla = SlaState(policy=POLICY, tier=3)
    friday = datetime(2026, 11, 27, 11, 0, tzinfo=SHANGHAI)
    target = sla.start("progress", friday)
    assert target is not None and sla.deadline(target, friday) == friday + timedelta(hours=24)  # over the weekend
    sla.meet("progress", friday + timedelta(hours=3))
    assert sla.start("progress", friday + timedelta(hours=3)) is None and "progress" not in sla.targets


def test_retiering_takes_the_new_budgets_from_the_original_start():
    sla = SlaState(policy=POLICY, tier=3)
    target = sla.start("resolution", MONDAY_10)
    assert sla.deadline(target, MONDAY_10) == MONDAY_10 + timedelta(hours=48)
    sla.move_to(POLICY, 1, MONDAY_10 + 30 * M)
    assert sla.deadline(target, MONDAY_10 + 30 * M) == MONDAY_10 + timedelta(hours=24)
    # Tier 1 owes a solution plan (source 000), counted from receipt like resolution.
    plan = sla.targets["solution_plan"]
    assert sla.deadline(plan, MONDAY_10 + 30 * M) == MONDAY_10 + timedelta(hours=2)
    preset = load_policy("preset-001")  # asks for no separate plan
    sla.move_to(preset, 1, MONDAY_10 + 31 * M)
    assert sla.deadline(target, MONDAY_10 + 31 * M) == MONDAY_10 + timedelta(hours=24)
    assert "solution_plan" not in sla.targets


@given(st.integers(1, 3), st.lists(st.integers(0, 6000), min_size=1, max_size=30))
def test_nothing_fires_twice_however_often_the_timer_wakes(tier, minutes):
    sla = SlaState(policy=POLICY, tier=tier)
    for name in ("first_response", "assignment", "resolution", "progress"):
        sla.start(name, MONDAY_10)
    seen = []
    for minute in sorted(minutes):
        seen += [(d.kind, d.target, d.fraction, d.level) for d in sla.due(MONDAY_10 + minute * M)]
    assert len(seen) == len(set(seen))
    levels = [d[3] for d in seen if d[0] in ("breach", "climb")]
    assert all(level < len(POLICY.tier(tier).escalation_chain) for level in levels)


def test_tier_2_first_progress_is_due_the_same_day_before_the_cut_off_and_the_next_working_day_after():
    """Source 003: each day's progress by 17:00; the default policy's cut-off is 15:00."""

    def first_progress(acknowledged: datetime) -> datetime | None:
        return SlaState(policy=POLICY, tier=2).start("progress", acknowledged).fixed_deadline

    wednesday = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
    assert first_progress(wednesday) == wednesday.replace(hour=17)
    assert first_progress(wednesday.replace(hour=15, minute=30)) == datetime(2026, 11, 26, 17, 0, tzinfo=SHANGHAI)
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)
    assert first_progress(saturday) == datetime(2026, 11, 30, 17, 0, tzinfo=SHANGHAI)


def test_a_missed_progress_update_is_reminded_before_and_breached_at_its_deadline():
    """Complaints since timeliness-v1: the reminder is a warning before the deadline, and the
    deadline itself is the breach (tier 1: every 2 h, reminded 30 min before)."""
    sla = SlaState(policy=POLICY, tier=1, remind_before_deadline=True)
    sla.start("progress", MONDAY_10)
    assert fired(sla, MONDAY_10 + 89 * M) == []
    assert fired(sla, MONDAY_10 + 90 * M) == [("remind", "progress", 0, "owner")]
    assert fired(sla, MONDAY_10 + 119 * M) == []
    assert fired(sla, MONDAY_10 + 120 * M) == [("breach", "progress", 1, "group_lead")]


def test_only_a_target_the_customer_is_owed_breaches_the_complaint():
    """A department late to another, or an approver late to the handler, is late between staff:
    it escalates, but the complaint is breached by the customer's own targets only."""
    from services.common.deadlines.policy import BETWEEN_DEPARTMENTS

    sla = SlaState(policy=POLICY, tier=2)
    sla.start("compensation_approval", MONDAY_10)
    sla.due(MONDAY_10 + 3 * 60 * M)  # past its 2 working hours
    assert sla.targets["compensation_approval"].breached_at is not None
    assert (sla.breached, sla.breached_for_customer, sla.late_between_staff) == (True, False, ["compensation_approval"])
    assert sla.breached_apart_from(BETWEEN_DEPARTMENTS)  # complaints of customer-breaches-v1 counted it
    sla.start("transfer_acceptance", MONDAY_10)
    sla.due(MONDAY_10 + 5 * 60 * M)
    assert sla.late_between_staff == ["compensation_approval", "transfer_acceptance"]
    assert sla.late_between_departments == ["transfer_acceptance"] and not sla.breached_for_customer
