"""Whole SLA timelines on the time-skipping test server: each tier, on and off business hours,
with pauses, re-tiering and a policy change mid-flight; the exact events and alerts with
their times (H:MM:SS after receipt). Real event store, real policy files."""

import asyncio
import re
import shutil
from datetime import datetime, time, timedelta

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.converter import PayloadConverter
from temporalio.service import RPCError

from services.common.deadlines.policy import POLICY_DIR
from services.workflow import inbox
from services.workflow import search_attributes as sa
from services.workflow.contract import (
    ActionRefused,
    ApplyPolicyAction,
    CompensationAction,
    ComplaintClosed,
    CustomerReply,
    DecisionAction,
    DeclineTransferAction,
    FollowUpAction,
    PlanAction,
    ProgressAction,
    ReachedAction,
    RequestInfoAction,
    ResolveAction,
    RetierAction,
    StaffAction,
    TransferAction,
)
from services.workflow.workflows import RE_AIM_AFTER
from tests.workflow import scenarios
from tests.workflow.scenarios import MONEY, ROUTINE, URGENT, a_complaint, drive, skip_to, timeline, wait_for_event

MONDAY, WEDNESDAY, FRIDAY = 0, 2, 4
RECEIVED = [("0:00:00", "ComplaintReceived", ""), ("0:00:00", "TierAssigned", ""), ("0:00:00", "Assigned", "")]


@pytest.fixture
async def env():
    # A test server per test: its clock is shared by every workflow on it, and one test's
    # leftovers must not hold the next test's time skips.
    async with await scenarios.start_time_skipping_env() as env:
        yield env


@pytest.fixture
def policy_dir(tmp_path):
    for name in ("default", "preset-001"):
        shutil.copy(POLICY_DIR / f"{name}.toml", tmp_path / f"{name}.toml")
    return tmp_path


@pytest.fixture
async def alerts(env, store, policy_dir):
    async with scenarios.complaint_worker(env.client, store, policy_dir, staff_on_duty=False) as recorded:
        yield recorded
        for workflow_id in {f"complaint-{n.complaint_id}" for n in await recorded.sent()} | STARTED:
            await finish(env.client.get_workflow_handle(workflow_id))
        STARTED.clear()


STARTED: set[str] = set()


async def start(client, complaint):
    handle = await scenarios.start(client, complaint)
    STARTED.add(handle.id)
    return handle


async def events_of(store, handle):
    return await store.read_stream(handle.id.removeprefix("complaint-"))


async def advance(env, handle, duration: timedelta, last_event: str | None = None):
    await env.sleep(duration)
    if last_event:
        await wait_for_event(handle, last_event)


async def test_tier_1_untouched_warns_breaches_and_climbs_around_the_clock(env, store, alerts):
    received = await skip_to(env, WEDNESDAY, time(23, 0))  # at night: tier 1 does not wait for 09:00
    handle = await start(env.client, a_complaint(received, URGENT))
    await wait_for_event(handle, "Assigned")
    await advance(env, handle, timedelta(hours=3, minutes=15))
    await scenarios.wait_for(
        handle,
        lambda v: (
            v.history[-1].type == "Escalated"
            and v.escalation_level == 3
            and sum(h.type == "Escalated" for h in v.history) == 9
        ),
        "all climbs recorded",
    )

    assert timeline(await events_of(store, handle), received) == RECEIVED + [
        ("0:07:30", "SlaWarning", "first_response 0.5"),
        ("0:12:00", "SlaWarning", "first_response 0.8"),
        ("0:15:00", "SlaBreached", "first_response"),
        ("0:15:00", "Escalated", "first_response L1 group_lead"),
        ("0:45:00", "Escalated", "first_response L2 department_head"),
        ("1:00:00", "SlaWarning", "assignment 0.5"),
        ("1:00:00", "SlaWarning", "solution_plan 0.5"),
        ("1:15:00", "Escalated", "first_response L3 manager"),
        ("1:36:00", "SlaWarning", "assignment 0.8"),
        ("1:36:00", "SlaWarning", "solution_plan 0.8"),
        ("2:00:00", "SlaBreached", "assignment"),
        ("2:00:00", "Escalated", "assignment L1 group_lead"),
        ("2:00:00", "SlaBreached", "solution_plan"),
        ("2:00:00", "Escalated", "solution_plan L1 group_lead"),
        ("2:30:00", "Escalated", "assignment L2 department_head"),
        ("2:30:00", "Escalated", "solution_plan L2 department_head"),
        ("3:00:00", "Escalated", "assignment L3 manager"),
        ("3:00:00", "Escalated", "solution_plan L3 manager"),
    ]
    sent = [
        (n.template, n.recipient_address, n.variables.get("level") or n.variables.get("fraction"))
        for n in await alerts.of(handle.id.removeprefix("complaint-"))
        if n.template != "received"
    ]
    assert sent[:5] == [
        ("sla_warning", "role:queue@special-team", 0.5),
        ("sla_warning", "role:queue@special-team", 0.8),
        ("sla_escalation", "role:group_lead@special-team", 1),
        ("sla_escalation", "role:department_head@special-team", 2),
        ("sla_warning", "role:queue@special-team", 0.5),
    ]
    all_sent = await alerts.sent()
    assert len(sent) == 15 and len({n.idempotency_key for n in all_sent}) == len(all_sent)

    # Deadlines fire without a visibility write: for the Temporal UI the complaint is overdue
    # by its next deadline, the first one it missed, until people act on it.
    described = await _search_attributes(handle, sa.BREACHED, sa.ESCALATION_LEVEL, sa.TIER, sa.STATUS, sa.NEXT_DEADLINE)
    overdue_since = datetime.fromisoformat(described.pop("ComplaintNextDeadline"))
    assert described == {
        "ComplaintBreached": False,
        "ComplaintEscalationLevel": 0,
        "ComplaintTier": 1,
        "ComplaintStatus": "assigned",
    }
    assert overdue_since == received + timedelta(minutes=15)

    # Acknowledged late: the owner now owes a progress update every 2 h; the owner is reminded
    # 30 min before, and the missed deadline itself is the breach, escalated at once.
    await drive(handle).acknowledge(StaffAction(staff_id="agent-1"))
    described = await _search_attributes(handle, sa.BREACHED, sa.ESCALATION_LEVEL, sa.STATUS)
    assert described == {"ComplaintBreached": True, "ComplaintEscalationLevel": 3, "ComplaintStatus": "acknowledged"}
    await advance(env, handle, timedelta(hours=2, minutes=1), "SlaBreached")
    tail = timeline(await events_of(store, handle), received)[len(RECEIVED) + 18 :]
    assert [row[1:] for row in tail] == [
        ("Acknowledged", ""),
        ("ProgressReminder", "progress"),
        ("SlaBreached", "progress"),
        ("Escalated", "progress L1 group_lead"),
    ]
    ack_at = tail[0][0]
    assert _minutes(tail[1][0]) - _minutes(ack_at) == 90 and _minutes(tail[2][0]) - _minutes(ack_at) == 120
    all_sent = await alerts.sent()
    assert all_sent[-2].recipient_address == "staff:agent-1" and all_sent[-2].template == "progress_reminder"
    await finish(handle)


async def _describe(handle):
    return await handle._client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=handle._client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
        )
    )


async def settle(handle) -> None:
    """Until no activity or workflow task is in flight. The test server holds its clock for
    them; one that a stopped worker never completes would hang every later time skip."""
    for _ in range(200):
        described = await _describe(handle)
        if not described.pending_activities and not described.HasField("pending_workflow_task"):
            return
        await asyncio.sleep(0.05)


async def finish(handle) -> None:
    await settle(handle)
    try:
        await handle.terminate("test over")
    except RPCError:
        pass  # closed already


async def _search_attributes(handle, *keys) -> dict:
    # Decoded one by one: the Java test server stores Datetime attributes in a shape the
    # SDK's describe() cannot parse, and the dev server is not needed for this check.
    fields = (await _describe(handle)).workflow_execution_info.search_attributes.indexed_fields
    return {k.name: PayloadConverter.default.from_payload(fields[k.name]) for k in keys}


def _minutes(hms: str) -> int:
    seconds = scenarios.seconds_of(hms)
    return seconds // 60 + round(seconds % 60 / 60)


async def test_the_wait_set_by_the_receipts_task_is_set_again_by_a_later_one(env, store, alerts):
    """A timer counts from when its workflow task completes. The receipt's task, run while a burst
    of complaints arrives, can complete seconds after `workflow.now()`, and a deadline timer set
    there fires seconds late. So that task waits at most RE_AIM_AFTER, and the timer that fires
    at the first deadline is set by a later task (one that has nothing else to do)."""
    received = await skip_to(env, WEDNESDAY, time(23, 0))
    handle = await start(env.client, a_complaint(received, URGENT))
    await wait_for_event(handle, "Assigned")
    await advance(env, handle, timedelta(minutes=8), "SlaWarning")

    history = (await handle.fetch_history()).events
    receipt_task = next(  # the task that ran the receipt's local activities
        e.marker_recorded_event_attributes.workflow_task_completed_event_id
        for e in history
        if e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    )
    started = {
        e.event_id: e.timer_started_event_attributes for e in history if e.HasField("timer_started_event_attributes")
    }
    set_by_receipt = [t for t in started.values() if t.workflow_task_completed_event_id == receipt_task]
    assert [t.start_to_fire_timeout.ToTimedelta() for t in set_by_receipt] == [RE_AIM_AFTER]
    fired = [
        started[e.timer_fired_event_attributes.started_event_id]
        for e in history
        if e.HasField("timer_fired_event_attributes")
    ]
    assert fired[0] == set_by_receipt[0] and fired[1].workflow_task_completed_event_id > receipt_task
    assert timeline(await events_of(store, handle), received)[3] == ("0:07:30", "SlaWarning", "first_response 0.5")


async def test_tier_2_resolution_runs_around_the_clock_and_progress_is_due_by_17_00_the_same_day(env, store, alerts):
    """Source 003: each day's progress by 17:00. Acknowledged on Monday morning (before the
    policy's 15:00 cut-off), the first update is due that Monday at 17:00, not a day later."""
    received = await skip_to(env, MONDAY, time(10, 0))
    handle = await start(env.client, a_complaint(received, MONEY))
    await wait_for_event(handle, "Assigned")
    await advance(env, handle, timedelta(minutes=10))
    acknowledged = await drive(handle).acknowledge(StaffAction(staff_id="agent-2"))
    assert acknowledged.deadlines["progress"] == received + timedelta(hours=7)  # Monday 17:00 local
    await advance(env, handle, timedelta(hours=36, minutes=20))
    await scenarios.wait_for(handle, lambda v: sum(h.type == "Escalated" for h in v.history) == 6, "six escalations")
    await drive(handle).post_progress(
        ProgressAction(staff_id="agent-2", message="Refund approved, money back tomorrow")
    )

    assert timeline(await events_of(store, handle), received) == RECEIVED + [
        ("0:10:00", "Acknowledged", ""),
        ("6:00:00", "ProgressReminder", "progress"),  # an hour before the deadline
        ("7:00:00", "SlaBreached", "progress"),  # Monday 17:00 local: missed
        ("7:00:00", "Escalated", "progress L1 group_lead"),
        ("9:00:00", "Escalated", "progress L2 department_head"),
        ("11:00:00", "Escalated", "progress L3 manager"),
        ("12:00:00", "SlaWarning", "resolution 0.5"),
        ("19:12:00", "SlaWarning", "resolution 0.8"),
        ("24:00:00", "SlaBreached", "resolution"),
        ("24:00:00", "Escalated", "resolution L1 group_lead"),
        ("26:00:00", "Escalated", "resolution L2 department_head"),
        ("28:00:00", "Escalated", "resolution L3 manager"),
        ("36:30:00", "ProgressPosted", ""),
    ]
    view = await drive(handle).status()
    wednesday_17 = received + timedelta(days=2, hours=7)
    assert view.deadlines["progress"] == wednesday_17  # the cadence restarts from the update
    assert [n.template for n in await alerts.of(handle.id.removeprefix("complaint-"))][-1] == "progress_update"


async def test_tier_3_owes_one_update_before_completion_due_halfway_through_resolution(env, store, alerts):
    """Source 003, low urgency: "one update before completion". The default policy (v3) wants
    it within 24 h of acknowledgement, halfway through the 48 h resolution window: reminded an
    hour before, breached and escalated when missed; once sent, no further update is owed."""
    received = await skip_to(env, MONDAY, time(10, 0))
    silent = await start(env.client, a_complaint(received, ROUTINE))
    prompt = await start(env.client, a_complaint(received, ROUTINE))
    for handle in (silent, prompt):
        await wait_for_event(handle, "Assigned")
    await advance(env, silent, timedelta(minutes=20))
    acknowledged = await drive(silent).acknowledge(StaffAction(staff_id="agent-3"))
    await drive(prompt).acknowledge(StaffAction(staff_id="agent-3"))
    assert scenarios.on_plan(acknowledged.deadlines["progress"], received + timedelta(hours=24, minutes=20))
    await advance(env, silent, timedelta(hours=2))
    told = await drive(prompt).post_progress(ProgressAction(staff_id="agent-3", message="Passed to the product team"))
    assert "progress" not in told.deadlines  # the one update is sent: none is owed any more
    await advance(env, silent, timedelta(hours=23), "Escalated")
    late = await drive(silent).post_progress(ProgressAction(staff_id="agent-3", message="Still looking into it"))
    assert "progress" not in late.deadlines

    assert timeline(await events_of(store, silent), received) == RECEIVED + [
        ("0:20:00", "Acknowledged", ""),
        ("23:20:00", "ProgressReminder", "progress"),
        ("24:20:00", "SlaBreached", "progress"),
        ("24:20:00", "Escalated", "progress L1 group_lead"),
        ("25:20:00", "ProgressPosted", ""),
    ]
    assert [r[1] for r in timeline(await events_of(store, prompt), received)][len(RECEIVED) :] == [
        "Acknowledged",
        "ProgressPosted",
    ]


async def test_tier_3_after_hours_gets_an_auto_reply_and_every_clock_waits_for_monday(env, store, alerts):
    """Source 000: an after-hours complaint is "recorded, handled first thing by 09:00" the next
    working day, so its targets count from then: the resolution clock does not run out over the
    weekend before the first response is even due (policy: after_hours_start)."""
    received = await skip_to(env, FRIDAY, time(20, 0))
    handle = await start(env.client, a_complaint(received, ROUTINE))
    await wait_for_event(handle, "AutoReplySent")
    auto_reply = (await alerts.of(handle.id.removeprefix("complaint-")))[0]
    assert auto_reply.template == "after_hours" and auto_reply.channel == "email"  # the receipt, after hours
    assert auto_reply.variables["handling_starts"].endswith("T09:00:00+08:00")  # Monday morning, local time
    monday_9 = received + timedelta(hours=61)
    deadlines = (await drive(handle).status()).deadlines
    assert deadlines["first_response"] == monday_9 + timedelta(hours=1)  # business time
    assert datetime.fromisoformat(auto_reply.variables["first_response_by"]) == deadlines["first_response"]
    customer_told = [
        n.template for n in await alerts.of(handle.id.removeprefix("complaint-")) if n.channel != "internal"
    ]
    assert customer_told == ["after_hours"]  # one receipt, not two
    assert deadlines["resolution"] == monday_9 + timedelta(hours=48)  # around the clock, from Monday 09:00

    # Saturday and Sunday pass: nothing is due, so nothing fires.
    await advance(env, handle, timedelta(hours=61, minutes=10))
    await drive(handle).acknowledge(StaffAction(staff_id="agent-3"))  # Mon 09:10
    await drive(handle).resolve(ResolveAction(staff_id="agent-3", resolution=scenarios.RESOLUTION))
    rows = timeline(await events_of(store, handle), received)
    assert rows[: len(RECEIVED) + 3] == RECEIVED + [
        ("0:00:00", "AutoReplySent", ""),
        ("61:10:00", "Acknowledged", ""),
        ("61:10:00", "Resolved", ""),
    ]
    await finish(handle)


async def test_waiting_on_the_customer_pauses_the_clock_and_shifts_the_deadline(env, store, alerts):
    received = await skip_to(env, WEDNESDAY, time(10, 0))
    handle = await start(env.client, a_complaint(received, URGENT))
    await wait_for_event(handle, "Assigned")
    await advance(env, handle, timedelta(minutes=5))
    await drive(handle).acknowledge(StaffAction(staff_id="agent-1"))
    await advance(env, handle, timedelta(minutes=25))
    paused = await drive(handle).request_info(RequestInfoAction(staff_id="agent-1", question="Which store was it?"))
    assert paused.stage == "waiting_on_customer" and not {"resolution", "solution_plan"} & set(paused.deadlines)
    await advance(env, handle, timedelta(hours=2))
    resumed = await drive(handle).customer_reply(CustomerReply(message="南京西路店"))
    assert scenarios.on_plan(resumed.deadlines["solution_plan"], received + timedelta(hours=4))  # 2 h + the 2 h paused
    assert scenarios.on_plan(resumed.deadlines["resolution"], received + timedelta(hours=26))
    await advance(env, handle, timedelta(minutes=80), "SlaWarning")
    planned = await drive(handle).give_plan(PlanAction(staff_id="agent-1", plan="A new heater is delivered today"))
    assert "solution_plan" not in planned.deadlines and planned.solution_plan == "A new heater is delivered today"
    await drive(handle).resolve(ResolveAction(staff_id="agent-1", resolution=scenarios.RESOLUTION))
    await wait_for_event(handle, "FeedbackSent")

    rows = timeline(await events_of(store, handle), received)
    assert rows[: len(RECEIVED) + 10] == RECEIVED + [
        ("0:05:00", "Acknowledged", ""),
        ("0:30:00", "InfoRequested", ""),
        ("0:30:00", "ClockPaused", ""),
        ("2:30:00", "CustomerReplied", ""),
        ("2:30:00", "ClockResumed", ""),
        ("3:00:00", "SlaWarning", "solution_plan 0.5"),
        ("3:36:00", "SlaWarning", "solution_plan 0.8"),
        ("3:50:00", "SolutionPlanGiven", ""),
        ("3:50:00", "Resolved", ""),
        ("3:50:00", "FeedbackSent", ""),
    ]
    resumed_event = next(e for e in await events_of(store, handle) if e.type == "ClockResumed")
    assert scenarios.on_plan(timedelta(seconds=resumed_event.data["paused_seconds"]), timedelta(hours=2))
    told = [n for n in await alerts.of(handle.id.removeprefix("complaint-")) if n.channel != "internal"]
    assert [n.template for n in told][:4] == ["received", "acknowledged", "info_request", "solution_plan"]
    assert told[3].variables["plan"] == "A new heater is delivered today"
    await finish(handle)


async def test_a_question_the_customer_never_received_does_not_keep_the_clock_paused(env, store, alerts):
    received = await skip_to(env, WEDNESDAY, time(10, 0))
    handle = await start(env.client, a_complaint(received, URGENT))
    await wait_for_event(handle, "Assigned")
    await drive(handle).acknowledge(StaffAction(staff_id="agent-1"))
    await drive(handle).request_info(RequestInfoAction(staff_id="agent-1", question="Which store was it?"))
    await advance(env, handle, timedelta(minutes=30))
    failure = scenarios.undelivered(handle, "info_request", received + timedelta(minutes=30))
    resumed = await drive(handle).customer_not_reached(failure)
    assert resumed.stage == "acknowledged" and resumed.not_reached == [failure]
    assert scenarios.on_plan(resumed.deadlines["solution_plan"], received + timedelta(hours=2, minutes=30))
    again = await drive(handle).customer_not_reached(failure)  # the same report again: told once
    assert again.not_reached == [failure]

    rows = timeline(await events_of(store, handle), received)
    assert rows[len(RECEIVED) :] == [
        ("0:00:00", "Acknowledged", ""),
        ("0:00:00", "InfoRequested", ""),
        ("0:00:00", "ClockPaused", ""),
        ("0:30:00", "CustomerNotReached", ""),
        ("0:30:00", "ClockResumed", ""),
    ]
    told = [n for n in await alerts.of(handle.id.removeprefix("complaint-")) if n.template == "customer_not_reached"]
    assert [(n.recipient_address, n.variables["message"]) for n in told] == [("staff:agent-1", "info_request")]
    row = await inbox.row_of(store.pool, handle.id.removeprefix("complaint-"))
    assert row is not None and row["customer_not_reached"]  # My work marks it
    await finish(handle)


async def test_a_written_result_the_customer_never_received_is_the_owners_to_deliver(env, store, alerts):
    """Feedback given up on every address: the complaint goes on to its survey, its owner is told
    (twice when an operator's retry failed again), and the clock is not touched."""
    received = await skip_to(env, WEDNESDAY, time(10, 0))
    handle = await start(env.client, a_complaint(received, URGENT))
    await wait_for_event(handle, "Assigned")
    await drive(handle).acknowledge(StaffAction(staff_id="agent-1"))
    await drive(handle).resolve(ResolveAction(staff_id="agent-1", resolution=scenarios.RESOLUTION))
    await wait_for_event(handle, "SurveyRequested")
    first = scenarios.undelivered(handle, "feedback", received)
    after_a_retry = first.model_copy(update={"attempts_logged": 4})
    await drive(handle).customer_not_reached(first)
    view = await drive(handle).customer_not_reached(after_a_retry)
    assert view.stage == "awaiting_survey" and view.not_reached == [first, after_a_retry]
    types = [e.type for e in await events_of(store, handle)]
    assert types.count("CustomerNotReached") == 2 and "ClockResumed" not in types
    told = [n for n in await alerts.of(handle.id.removeprefix("complaint-")) if n.template == "customer_not_reached"]
    assert [n.recipient_address for n in told] == ["staff:agent-1", "staff:agent-1"]

    called = ReachedAction(staff_id="agent-1", how="phone", note="read them the result; they are content")
    reached = await drive(handle).customer_reached(called)
    assert reached.not_reached == [] and reached.stage == "awaiting_survey"
    (event,) = [e for e in await events_of(store, handle) if e.type == "CustomerReached"]
    assert event.data["messages"] == ["feedback", "feedback"] and event.data["staff_id"] == "agent-1"
    row = await inbox.row_of(store.pool, handle.id.removeprefix("complaint-"))
    assert row is not None and not row["customer_not_reached"]  # no longer marked on My work
    with pytest.raises(ActionRefused) as again:  # nothing left to reach them about
        await drive(handle).customer_reached(called)
    assert again.value.reason is not None and again.value.reason.code == "customer_not_unreached"
    await handle.terminate("test over")
    with pytest.raises(ComplaintClosed):
        await drive(handle).customer_not_reached(scenarios.undelivered(handle, "survey_request", received))


async def test_retiering_recomputes_the_running_deadlines(env, store, alerts):
    received = await skip_to(env, WEDNESDAY, time(10, 0))
    handle = await start(env.client, a_complaint(received, ROUTINE))
    await wait_for_event(handle, "Assigned")
    assert (await drive(handle).status()).deadlines["first_response"] == received + timedelta(hours=1)
    # (exact: deadlines count from the receipt time, not from when the workflow ran)
    await advance(env, handle, timedelta(minutes=5))
    view = await drive(handle).retier(RetierAction(staff_id="lead-1", tier=1, reason="customer reports smoke"))
    assert view.deadlines["first_response"] == received + timedelta(minutes=15)  # from receipt, exact
    await advance(env, handle, timedelta(minutes=15), "Escalated")
    await drive(handle).acknowledge(StaffAction(staff_id="agent-1"))

    assert timeline(await events_of(store, handle), received) == RECEIVED + [
        ("0:05:00", "Retiered", ""),
        ("0:07:30", "SlaWarning", "first_response 0.5"),
        ("0:12:00", "SlaWarning", "first_response 0.8"),
        ("0:15:00", "SlaBreached", "first_response"),
        ("0:15:00", "Escalated", "first_response L1 group_lead"),
        ("0:20:00", "Acknowledged", ""),
    ]
    with pytest.raises(ActionRefused) as refused:
        await drive(handle).retier(RetierAction(staff_id="lead-1", tier=1, reason="again"))
    assert "tier 1 already" in refused.value.message
    await finish(handle)


async def test_a_transfer_not_accepted_in_time_escalates_in_the_receiving_department(env, store, alerts):
    """Domain §5 (sources 000, 003): the receiving department accepts a transfer within 2 h. Not
    in time: warnings to its queue, then its department head and on up its chain. Accepted: it
    works the complaint, the first responder keeps ownership, and the customer hears who handles
    it now."""
    received = await skip_to(env, MONDAY, time(10, 0))
    handle = await start(env.client, a_complaint(received, MONEY))  # tier 2: business hours
    await wait_for_event(handle, "Assigned")
    await drive(handle).acknowledge(StaffAction(staff_id="agent-2"))
    sender_group = (await drive(handle).status()).group
    await advance(env, handle, timedelta(minutes=10))
    sent = await drive(handle).transfer(
        TransferAction(staff_id="agent-2", to_group="liaison-operations", reason="the refund needs finance")
    )
    assert sent.transfer.to_group == "liaison-operations" and sent.group == sender_group
    assert scenarios.on_plan(sent.deadlines["transfer_acceptance"], received + timedelta(hours=2, minutes=10))
    with pytest.raises(ActionRefused, match="waiting to be accepted"):
        await drive(handle).transfer(TransferAction(staff_id="agent-2", to_group="liaison-product", reason="x"))
    await advance(env, handle, timedelta(hours=2, minutes=5), "Escalated")
    accepted = await drive(handle).accept_transfer(StaffAction(staff_id="ma.jun"))
    assert (accepted.group, accepted.assignee, accepted.owner) == ("liaison-operations", "ma.jun", "agent-2")
    assert accepted.transfer is None and "transfer_acceptance" not in accepted.deadlines
    # The receiving department was late, not the complaint: escalated to its head, but the
    # customer's targets all still stand, so the complaint is not breached.
    assert (accepted.breached, accepted.late_between_departments, accepted.escalation_level) == (
        False,
        ["transfer_acceptance"],
        1,
    )

    rows = timeline(await events_of(store, handle), received)
    assert rows[len(RECEIVED) + 1 :] == [
        ("0:10:00", "TransferRequested", ""),
        ("1:10:00", "SlaWarning", "transfer_acceptance 0.5"),
        ("1:46:00", "SlaWarning", "transfer_acceptance 0.8"),
        ("2:10:00", "SlaBreached", "transfer_acceptance"),
        ("2:10:00", "Escalated", "transfer_acceptance L1 department_head"),  # 003: the department's head
        ("2:15:00", "TransferAccepted", ""),
    ]
    taken = next(e for e in await events_of(store, handle) if e.type == "TransferAccepted")
    waited = timedelta(seconds=taken.data["waited_seconds"])
    assert scenarios.on_plan(waited, timedelta(hours=2, minutes=5))  # time to accept, for the reports
    told = [(n.template, n.recipient_address) for n in await alerts.of(handle.id.removeprefix("complaint-"))]
    assert ("transfer_request", "role:queue@liaison-operations") in told
    assert ("sla_warning", "role:queue@liaison-operations") in told  # the receiving queue, not the sender
    assert ("sla_escalation", "role:department_head@liaison-operations") in told
    assert told[-1][0] == "transfer_accepted"  # to the customer
    await finish(handle)


async def test_a_declined_transfer_goes_back_to_the_sender_and_up_to_the_common_superior(env, store, alerts):
    received = await skip_to(env, WEDNESDAY, time(10, 0))
    handle = await start(env.client, a_complaint(received, MONEY))
    await wait_for_event(handle, "Assigned")
    await drive(handle).acknowledge(StaffAction(staff_id="agent-2"))
    group = (await drive(handle).status()).group
    with pytest.raises(ActionRefused, match="already"):
        await drive(handle).transfer(TransferAction(staff_id="agent-2", to_group=group, reason="x"))
    await drive(handle).transfer(TransferAction(staff_id="agent-2", to_group="liaison-product", reason="a defect?"))
    await advance(env, handle, timedelta(minutes=30))
    back = await drive(handle).decline_transfer(
        DeclineTransferAction(staff_id="zheng.li", reason="no defect: a billing question")
    )
    assert (back.group, back.transfer) == (group, None) and "transfer_acceptance" not in back.deadlines
    with pytest.raises(ActionRefused, match="no transfer"):
        await drive(handle).accept_transfer(StaffAction(staff_id="zheng.li"))
    declined = next(e for e in await events_of(store, handle) if e.type == "TransferDeclined")
    assert declined.data["reason"] == "no defect: a billing question"
    assert scenarios.on_plan(timedelta(seconds=declined.data["waited_seconds"]), timedelta(minutes=30))
    told = await alerts.of(handle.id.removeprefix("complaint-"))
    sender = [n for n in told if n.template == "transfer_declined"]
    assert [n.recipient_address for n in sender] == ["staff:agent-2"]
    # The disagreement goes up to whom both groups answer to, who decides (source 001).
    disputed = [n for n in told if n.template == "transfer_disputed"]
    assert [n.recipient_address for n in disputed] == [f"superior:{group}|liaison-product"]
    assert (disputed[0].variables["requested_by"], disputed[0].variables["declined_by"]) == ("agent-2", "zheng.li")
    await finish(handle)


@pytest.mark.parametrize(
    "language, cited",
    [
        (None, ("en", "gift of 30 yuan; refund of 3,000 yuan")),  # the complaint was written in English
        ("zh-CN", ("zh-CN", "赠品 30 元；退款 3,000 元")),  # the customer asked for Chinese
    ],
)
async def test_a_compensation_beyond_authority_waits_for_its_approver_and_escalates_above_them(
    env, store, alerts, language, cited
):
    """Source 002: within the proposer's limit a compensation is granted at once; above it the
    approver has the policy's 2 h (business time for tier 2), then the roles above them are
    told. The written result cites what was granted, in the customer's language."""
    received = await skip_to(env, MONDAY, time(10, 0))
    complaint = a_complaint(received, MONEY)
    complaint.customer.language = language
    handle = await start(env.client, complaint)
    await wait_for_event(handle, "Assigned")
    await drive(handle).acknowledge(StaffAction(staff_id="agent-2"))
    coupon = await drive(handle).propose_compensation(
        CompensationAction(staff_id="agent-2", kind="gift", amount=30, reason="a coupon for the trouble")
    )
    assert coupon.compensations[0].status == "granted" and "compensation_approval" not in coupon.deadlines
    refund = await drive(handle).propose_compensation(
        CompensationAction(
            staff_id="agent-2", kind="refund", amount=3000, reason="charged twice", approver_role="department_head"
        )
    )
    assert refund.compensations[1].status == "pending"
    assert scenarios.on_plan(refund.deadlines["compensation_approval"], received + timedelta(hours=2))
    with pytest.raises(ActionRefused, match="waiting for approval"):
        await drive(handle).resolve(ResolveAction(staff_id="agent-2", resolution=scenarios.RESOLUTION))
    await advance(env, handle, timedelta(hours=2, minutes=5), "Escalated")
    decided = await drive(handle).decide_compensation(DecisionAction(staff_id="chen.jie", approve=True, note="ok"))
    assert (decided.compensations[1].status, decided.compensations[1].decided_by) == ("approved", "chen.jie")
    # The approver was late to the handler, not the complaint to its customer (approvals-internal-v1):
    # escalated above the approver, the customer's targets still stand.
    assert (decided.breached, decided.late_between_staff, decided.escalation_level) == (
        False,
        ["compensation_approval"],
        1,
    )
    assert decided.late_between_departments == []
    resolved = await drive(handle).resolve(
        ResolveAction(staff_id="agent-2", resolution=scenarios.RESOLUTION.model_copy(update={"compensation": None}))
    )
    assert resolved.resolution.compensation == cited[1]

    rows = [
        r
        for r in timeline(await events_of(store, handle), received)
        if r[1] in ("CompensationProposed", "CompensationDecided") or "compensation_approval" in r[2]
    ]
    assert rows == [
        ("0:00:00", "CompensationProposed", ""),
        ("0:00:00", "CompensationProposed", ""),
        ("1:00:00", "SlaWarning", "compensation_approval 0.5"),
        ("1:36:00", "SlaWarning", "compensation_approval 0.8"),
        ("2:00:00", "SlaBreached", "compensation_approval"),
        ("2:00:00", "Escalated", "compensation_approval L1 manager"),  # above the department head
        ("2:05:00", "CompensationDecided", ""),
    ]
    told = [(n.template, n.recipient_address) for n in await alerts.of(handle.id.removeprefix("complaint-"))]
    assert ("compensation_approval", f"role:department_head@{resolved.group}") in told
    assert ("compensation_decided", "staff:agent-2") in told
    await finish(handle)
    complaint_id = handle.id.removeprefix("complaint-")
    (feedback,) = [n for n in await alerts.of(complaint_id) if n.template == "feedback"]
    assert (feedback.language, feedback.variables["resolution"]["compensation"]) == cited


async def test_running_complaints_keep_their_policy_unless_an_operator_moves_them(env, store, alerts, policy_dir):
    received = await skip_to(env, WEDNESDAY, time(10, 0))
    moved = await start(env.client, a_complaint(received, URGENT))
    kept = await start(env.client, a_complaint(received, URGENT))
    for handle in (moved, kept):
        await wait_for_event(handle, "Assigned")
        await drive(handle).acknowledge(StaffAction(staff_id="agent-1"))

    # The operator publishes the next version of the default policy: tier 1 gets 4 h for its solution plan.
    v1 = (policy_dir / "default.toml").read_text(encoding="utf-8")
    old = int(re.search(r"^version = (\d+)", v1, re.MULTILINE)[1])
    was, now = f"default@v{old}", f"default@v{old + 1}"
    v2 = v1.replace(f"version = {old}", f"version = {old + 1}").replace('solution_plan = "2h"', 'solution_plan = "4h"')
    (policy_dir / "default.toml").write_text(v2, encoding="utf-8")
    view = await drive(moved).apply_policy(ApplyPolicyAction(staff_id="ops-1", policy="default"))
    assert view.policy == now and view.deadlines["solution_plan"] == received + timedelta(hours=4)

    # A broken policy file is refused and changes nothing.
    (policy_dir / "broken.toml").write_text(
        v1.replace('name = "default"', 'name = "broken"').replace('timezone = "Asia/Shanghai"', 'timezone = "Atlantis"')
    )
    with pytest.raises(ActionRefused) as refused:
        await drive(moved).apply_policy(ApplyPolicyAction(staff_id="ops-1", policy="broken"))
    assert "unknown time zone" in refused.value.message
    assert (await drive(moved).status()).policy == now

    await advance(env, kept, timedelta(hours=2, minutes=1), "SlaBreached")
    kept_rows = [r[1:] for r in timeline(await events_of(store, kept), received)]
    moved_rows = [r[1:] for r in timeline(await events_of(store, moved), received)]
    assert ("SlaBreached", "solution_plan") in kept_rows
    assert ("SlaBreached", "solution_plan") not in moved_rows and ("PolicyApplied", "") in moved_rows
    assert (await drive(kept).status()).policy == was
    applied = next(e for e in await events_of(store, moved) if e.type == "PolicyApplied")
    assert (applied.data["from"], applied.data["to"]) == (was, now)
    for handle in (moved, kept):
        await finish(handle)


async def test_a_dissatisfied_customer_gets_a_second_follow_up_that_escalates_when_late(env, store, alerts):
    received = await skip_to(env, MONDAY, time(10, 0))
    handle = await start(env.client, a_complaint(received, MONEY))
    await scenarios.acknowledge_and_resolve(handle)
    await scenarios.answer(handle, 2, 4)
    await wait_for_event(handle, "FollowUpRequested")
    *_, needed, promised = await alerts.sent()
    assert needed.template == "follow_up_needed" and needed.recipient_address == "staff:agent-7"
    assert promised.template == "follow_up_promised" and promised.recipient_address == "wang.fang@example.com"
    assert (
        promised.variables["follow_up_by"] == (await drive(handle).status()).deadlines["second_follow_up"].isoformat()
    )

    await advance(env, handle, timedelta(hours=48, minutes=1), "Escalated")
    await drive(handle).record_follow_up(
        FollowUpAction(staff_id="agent-7", outcome="called, refunded twice the fee", extra_compensation="50 yuan")
    )
    outcome = await handle.result()
    # What the follow-up did, in writing to the customer, as the first result was.
    done = [m for m in await alerts.sent() if m.template == "follow_up_done"]
    assert [(m.recipient_address, m.variables["outcome"], m.variables["extra_compensation"]) for m in done] == [
        ("wang.fang@example.com", "called, refunded twice the fee", "50 yuan")
    ]
    assert outcome.breached and outcome.escalation_level == 1
    rows = timeline(await events_of(store, handle), received)
    answered = next(i for i, r in enumerate(rows) if r[1] == "SurveyAnswered")
    start_hms = rows[answered][0]
    assert [(_minutes(r[0]) - _minutes(start_hms), *r[1:]) for r in rows[answered:]] == [
        (0, "SurveyAnswered", ""),
        (0, "FollowUpRequested", ""),
        (24 * 60, "SlaWarning", "second_follow_up 0.5"),
        (round(38.4 * 60), "SlaWarning", "second_follow_up 0.8"),
        (48 * 60, "SlaBreached", "second_follow_up"),
        (48 * 60, "Escalated", "second_follow_up L1 group_lead"),
        (48 * 60 + 1, "FollowedUp", ""),
        (7 * 24 * 60, "Closed", ""),  # not settled: open to reopening until 7 days after the result
    ]


async def test_no_alert_twice_across_a_worker_restart(env, store, policy_dir):
    """The first worker sees the first breach; a fresh one carries on. Neither keeps workflows
    cached, so every step replays the whole history. Every event and every alert exists once."""
    received = await skip_to(env, WEDNESDAY, time(10, 0))
    handle = None
    no_cache = dict(max_cached_workflows=0)
    async with scenarios.complaint_worker(env.client, store, policy_dir, staff_on_duty=False, **no_cache) as outbox:
        handle = await start(env.client, a_complaint(received, URGENT))
        await wait_for_event(handle, "Assigned")
        await advance(env, handle, timedelta(minutes=16), "Escalated")
        await settle(handle)
    # The test server cannot move its clock while a task waits for a worker: the second
    # worker starts at once.
    async with scenarios.complaint_worker(env.client, store, policy_dir, staff_on_duty=False, **no_cache) as outbox:
        await advance(env, handle, timedelta(minutes=45), "SlaWarning")
        await scenarios.wait_for(
            handle, lambda v: sum(h.type == "SlaWarning" for h in v.history) == 4, "all warnings recorded"
        )
        events = await events_of(store, handle)
        assert [e.version for e in events] == list(range(1, len(events) + 1))
        rows = timeline(events, received)
        assert len(rows) == len(set(rows))
        assert [r[1:] for r in rows].count(("Escalated", "first_response L2 department_head")) == 1
        keys = [n.idempotency_key for n in await outbox.sent()]
        assert len(keys) == len(set(keys)) == 7  # the receipt, 2 warnings, 2 escalations, 2 warnings at 1:00
        await finish(handle)
